import Dispatch
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One streamed `/v1/completions` request, timed as `vllm bench serve` times it: every SSE event
/// with `choices` is a token event (its text may be empty); the first gives the TTFT, the gaps
/// between later ones the inter-token latencies; `usage.completion_tokens` gives the output length.
public struct RequestTrace: Sendable, Equatable {
    public var isSuccess: Bool
    public var error: String?
    public var promptTokens: Int
    /// Seconds from sending the request to the first token event.
    public var timeToFirstToken: Double
    /// Seconds between successive token events.
    public var interTokenLatencies: [Double]
    /// Seconds from sending the request to the end of the response.
    public var latency: Double
    /// usage.completion_tokens when the server sent it, else the number of token events.
    public var outputTokens: Int
}

/// Sends streaming completion requests with URLSession (FoundationNetworking on Linux), reading
/// the server-sent events as the bytes arrive.
public struct StreamingCompletionClient: Sendable {
    public var baseURL: URL
    public var apiKey: String?

    public init(baseURL: URL, apiKey: String? = nil) {
        self.baseURL = baseURL
        self.apiKey = apiKey
    }

    /// Streams one completion of a token-id prompt with ignore_eos, greedy, exactly `maxTokens` long.
    public func complete(model: String, promptTokenIds: [Int], maxTokens: Int) async -> RequestTrace {
        let body: [String: Any] = [
            "model": model, "prompt": promptTokenIds, "max_tokens": maxTokens, "temperature": 0,
            "ignore_eos": true, "stream": true, "stream_options": ["include_usage": true],
        ]
        var request = URLRequest(url: baseURL.appendingPathComponent("v1/completions"))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let apiKey { request.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization") }
        request.httpBody = try? JSONSerialization.data(withJSONObject: body)
        request.timeoutInterval = 3600

        let recorder = EventRecorder(promptTokens: promptTokenIds.count)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 3600
        configuration.timeoutIntervalForResource = 24 * 3600
        let session = URLSession(configuration: configuration, delegate: recorder, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        return await withCheckedContinuation { continuation in
            recorder.start(continuation: continuation)
            session.dataTask(with: request).resume()
        }
    }

    /// The first model id `GET /v1/models` lists (what `vllm bench serve` uses without `--model`).
    public func firstModelId() async throws -> String {
        var request = URLRequest(url: baseURL.appendingPathComponent("v1/models"))
        if let apiKey { request.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization") }
        let url = request.url!
        let data: Data = try await withCheckedThrowingContinuation { continuation in
            URLSession.shared.dataTask(with: request) { data, response, error in
                if let error {
                    continuation.resume(throwing: BenchError.server("GET \(url): \(error.localizedDescription); is the server running?"))
                } else if let status = (response as? HTTPURLResponse)?.statusCode, status != 200 {
                    continuation.resume(throwing: BenchError.server("GET \(url) answered \(status): \(String(decoding: data ?? Data(), as: UTF8.self))"))
                } else {
                    continuation.resume(returning: data ?? Data())
                }
            }.resume()
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let models = object["data"] as? [[String: Any]], let id = models.first?["id"] as? String else {
            throw BenchError.server("GET \(url) listed no model; pass --model")
        }
        return id
    }
}

/// The URLSession delegate of one request: splits the body into SSE events as it arrives and
/// timestamps each token event.
final class EventRecorder: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<RequestTrace, Never>?
    private var pending = Data()
    private var start: UInt64 = 0
    private var lastEvent: UInt64 = 0
    private var status = 0
    private var errorBody = Data()
    private var trace: RequestTrace

    init(promptTokens: Int) {
        trace = RequestTrace(isSuccess: false, error: nil, promptTokens: promptTokens, timeToFirstToken: 0,
                             interTokenLatencies: [], latency: 0, outputTokens: 0)
    }

    func start(continuation: CheckedContinuation<RequestTrace, Never>) {
        lock.withLock {
            self.continuation = continuation
            start = DispatchTime.now().uptimeNanoseconds
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        lock.withLock { status = (response as? HTTPURLResponse)?.statusCode ?? 0 }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let now = DispatchTime.now().uptimeNanoseconds
        lock.withLock {
            guard status == 200 else { errorBody.append(data); return }
            pending.append(data)
            for payload in SSEParser.takeEvents(from: &pending) { record(payload, at: now) }
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        let now = DispatchTime.now().uptimeNanoseconds
        let (continuation, trace) = lock.withLock { () -> (CheckedContinuation<RequestTrace, Never>?, RequestTrace) in
            var trace = self.trace
            trace.latency = Double(now - start) / 1e9
            if let error {
                trace.error = error.localizedDescription
            } else if status != 200 {
                trace.error = "HTTP \(status): \(String(decoding: errorBody.prefix(500), as: UTF8.self))"
            } else if lastEvent == 0 {
                trace.error = "the stream ended without a token"
            } else {
                trace.isSuccess = true
            }
            defer { self.continuation = nil }
            return (self.continuation, trace)
        }
        continuation?.resume(returning: trace)
    }

    /// Called with the lock held.
    private func record(_ payload: String, at now: UInt64) {
        guard payload != "[DONE]",
              let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any] else { return }
        if let choices = object["choices"] as? [Any], !choices.isEmpty {
            if lastEvent == 0 {
                trace.timeToFirstToken = Double(now - start) / 1e9
            } else {
                trace.interTokenLatencies.append(Double(now - lastEvent) / 1e9)
            }
            lastEvent = now
            trace.outputTokens += 1
        } else if let usage = object["usage"] as? [String: Any], let tokens = usage["completion_tokens"] as? Int {
            trace.outputTokens = tokens
        }
    }
}

/// Server-sent events: blank-line separated blocks whose `data:` lines carry the payload.
enum SSEParser {
    /// Removes every complete event from `buffer` and returns their data payloads (multi-line data
    /// joined with newlines); an incomplete tail stays in the buffer.
    static func takeEvents(from buffer: inout Data) -> [String] {
        var payloads = [String]()
        while true {
            guard let end = boundary(in: buffer) else { return payloads }
            let block = String(decoding: buffer[buffer.startIndex..<end.lowerBound], as: UTF8.self)
            buffer = Data(buffer[end.upperBound...])
            let lines = block.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
            let data = lines.filter { $0.hasPrefix("data:") }.map { line -> String in
                var value = line.dropFirst(5)
                if value.first == " " { value = value.dropFirst() }
                return String(value)
            }
            if !data.isEmpty { payloads.append(data.joined(separator: "\n")) }
        }
    }

    private static func boundary(in buffer: Data) -> Range<Data.Index>? {
        let candidates = [buffer.range(of: Data("\n\n".utf8)), buffer.range(of: Data("\r\n\r\n".utf8))].compactMap { $0 }
        return candidates.min { $0.lowerBound < $1.lowerBound }
    }
}
