import Foundation
import Hummingbird
import Logging
import OmniTokenizer

/// The routes of DESIGN.md §6 for a text model, and what they share.
struct APIRoutes: Sendable {
    let configuration: ServerConfiguration
    let host: ModelHost
    let metrics: ServerMetrics
    let admission: AdmissionControl

    /// The methods each route answers; another method on one of these paths is a 405 with `Allow`
    /// (`OpenAIErrorMiddleware`), not an unknown route.
    static let methods: [String: [HTTPRequest.Method]] = [
        "/health": [.get], "/version": [.get], "/v1/models": [.get], "/metrics": [.get],
        "/v1/completions": [.post], "/v1/chat/completions": [.post], "/tokenize": [.post], "/detokenize": [.post],
        "/v1/images/generations": [.post],
    ]

    func register(on router: Router<OmniRequestContext>) {
        router.get("/health") { _, _ in try health() }
        router.get("/version") { _, _ in json(["version": .string(OmniServerInfo.version)]) }
        router.get("/v1/models") { _, _ in try models() }
        router.get("/metrics") { _, _ in await metricsText() }
        router.post("/v1/completions") { request, context in try await generate(request, context: context, kind: .completion) }
        router.post("/v1/chat/completions") { request, context in try await generate(request, context: context, kind: .chat) }
        router.post("/tokenize") { request, context in try await tokenize(request, context: context) }
        router.post("/detokenize") { request, context in try await detokenize(request, context: context) }
        router.post("/v1/images/generations") { request, context in try await generateImages(request, context: context) }
    }

    // MARK: Information

    private func health() throws -> Response {
        _ = try host.ready()
        return Response(status: .ok)
    }

    private func models() throws -> Response {
        let model = try host.ready()
        let card: JinjaValue = [
            "id": .string(model.name), "object": "model", "created": .int(Int(Date().timeIntervalSince1970)),
            "owned_by": "omni", "root": .string(configuration.modelDirectory), "parent": .null,
            "max_model_len": model.maxModelLen.map(JinjaValue.int) ?? .null,
        ]
        return json(["object": "list", "data": [card]])
    }

    private func metricsText() async -> Response {
        let engine = try? await host.model().omni.settledMetrics()
        if let image = try? host.imageModel() {
            let load = image.generator.load
            metrics.diffusionLoad(running: load.running, waiting: load.waiting)
        }
        let text = metrics.exposition(engine: engine)
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(bytes: text)))
    }

    // MARK: Helpers

    /// The body as bytes, at most `maxBodyBytes` (413 beyond).
    func body(of request: inout Request) async throws -> [UInt8] {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > configuration.maxBodyBytes {
            throw APIError.bodyTooLarge(limit: configuration.maxBodyBytes)
        }
        do {
            let buffer = try await request.collectBody(upTo: configuration.maxBodyBytes)
            return Array(buffer.readableBytesView)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw APIError.bodyTooLarge(limit: configuration.maxBodyBytes)
        }
    }

    func json(_ value: JinjaValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(string: value.compactJSON)))
    }
}

/// `OmniServerInfo.version` for `GET /version` and `omni --version`.
public enum OmniServerInfo {
    public static let version = "0.1.0"
}
