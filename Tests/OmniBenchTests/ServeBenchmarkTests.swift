import Foundation
import Testing
@testable import OmniBench
#if canImport(Glibc)
import Glibc
#endif

/// The serve client against a tiny local HTTP server that streams a fixed number of SSE token
/// events per request, the way an OpenAI-compatible server does.
@Suite struct ServeBenchmarkTests {
    @Test func sseEventsSplitAcrossChunksAreReassembled() {
        var buffer = Data("data: {\"a\":1}\n\ndata: [DO".utf8)
        #expect(SSEParser.takeEvents(from: &buffer) == ["{\"a\":1}"])
        buffer.append(Data("NE]\r\n\r\n: ping\n\ndata:x\n".utf8))
        #expect(SSEParser.takeEvents(from: &buffer) == ["[DONE]"])
        #expect(String(decoding: buffer, as: UTF8.self) == "data:x\n")
        buffer.append(Data("\n".utf8))
        #expect(SSEParser.takeEvents(from: &buffer) == ["x"])
    }

    @Test func clientCountsTokensLatenciesAndSendsIgnoreEOS() async throws {
        let server = try TinySSEServer(tokensPerRequest: 5)
        defer { server.stop() }
        let bench = ServeBenchmark(baseURL: URL(string: "http://127.0.0.1:\(server.port)")!, numPrompts: 3, requestRate: 50,
                                   maxConcurrency: 2, inputLength: 7, outputLength: 5, tokenIdUpperBound: 100, seed: 1)
        let result = try await bench.run()
        #expect(result.model == "tiny-model")   // from GET /v1/models
        #expect(result.completed == 3 && result.failed == 0, "\(result.errors)")
        #expect(result.totalInputTokens == 21)
        #expect(result.totalOutputTokens == 15)   // usage.completion_tokens
        #expect(result.ttft.count == 3 && result.tpot.count == 3 && result.e2el.count == 3)
        #expect(result.itl.count == 3 * 4)        // gaps between 5 token events
        #expect(result.e2el.median >= result.ttft.median)
        let bodies = server.bodies()
        #expect(bodies.count == 3)
        for body in bodies {
            #expect(body["ignore_eos"] as? Bool == true)
            #expect(body["stream"] as? Bool == true)
            #expect(body["max_tokens"] as? Int == 5)
            #expect((body["prompt"] as? [Int])?.count == 7)
            #expect(body["model"] as? String == "tiny-model")
        }
        let record = try #require(result.records.first)
        #expect(record.benchmark == "serve" && record.unit == "tok/s")
        #expect(record.details["p99_ttft_ms"] != nil)
    }

    @Test func aServerErrorIsReportedPerRequest() async throws {
        let server = try TinySSEServer(tokensPerRequest: 5, failCompletions: true)
        defer { server.stop() }
        let bench = ServeBenchmark(baseURL: URL(string: "http://127.0.0.1:\(server.port)")!, model: "m", numPrompts: 2,
                                   inputLength: 3, outputLength: 5)
        let result = try await bench.run()
        #expect(result.completed == 0 && result.failed == 2)
        #expect(result.errors.first?.contains("HTTP 400") == true)
    }
}

/// A blocking one-connection-at-a-time HTTP/1.1 server on 127.0.0.1 (a free port): answers
/// GET /v1/models with one model and POST /v1/completions with `tokensPerRequest` SSE chunks, a
/// usage chunk and [DONE], then closes the connection.
final class TinySSEServer: @unchecked Sendable {
    let port: Int
    private let socket: Int32
    private let lock = NSLock()
    private var received: [[String: Any]] = []
    private let tokensPerRequest: Int
    private let failCompletions: Bool

    init(tokensPerRequest: Int, failCompletions: Bool = false) throws {
        self.tokensPerRequest = tokensPerRequest
        self.failCompletions = failCompletions
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, listen(fd, 16) == 0 else { throw BenchError.server("test server: cannot bind") }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        socket = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in serve() }
    }

    func stop() { shutdown(socket, Int32(SHUT_RDWR)); close(socket) }

    func bodies() -> [[String: Any]] { lock.withLock { received } }

    private func serve() {
        while true {
            let client = accept(socket, nil, nil)
            guard client >= 0 else { return }
            Thread.detachNewThread { [self] in handle(client) }
        }
    }

    private func handle(_ client: Int32) {
        defer { close(client) }
        var request = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        func headerEnd() -> Int? {
            guard request.count >= 4 else { return nil }
            return (0...(request.count - 4)).first { request[$0..<$0 + 4] == [13, 10, 13, 10] }
        }
        while headerEnd() == nil {
            let n = read(client, &chunk, chunk.count)
            guard n > 0 else { return }
            request += chunk[0..<n]
        }
        let end = headerEnd()!
        let head = String(decoding: request[0..<end], as: UTF8.self)
        let contentLength = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
        while request.count < end + 4 + contentLength {
            let n = read(client, &chunk, chunk.count)
            guard n > 0 else { return }
            request += chunk[0..<n]
        }
        func send(_ text: String) { _ = text.utf8CString.withUnsafeBufferPointer { write(client, $0.baseAddress, $0.count - 1) } }
        if head.hasPrefix("GET /v1/models") {
            let body = #"{"object":"list","data":[{"id":"tiny-model","object":"model"}]}"#
            send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
            return
        }
        if let body = try? JSONSerialization.jsonObject(with: Data(request[(end + 4)...])) as? [String: Any] {
            lock.withLock { received.append(body) }
        }
        if failCompletions {
            let body = #"{"error":{"message":"bad","type":"BadRequestError","param":null,"code":400}}"#
            send("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)")
            return
        }
        send("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        for i in 0..<tokensPerRequest {
            send("data: {\"choices\":[{\"index\":0,\"text\":\"t\(i)\",\"finish_reason\":null}]}\n\n")
        }
        send("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":\(tokensPerRequest)}}\n\n")
        send("data: [DONE]\n\n")
    }
}
