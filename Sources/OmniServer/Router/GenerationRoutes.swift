import Foundation
import Hummingbird
import OmniEngine

extension APIRoutes {
    /// `POST /v1/completions` and `POST /v1/chat/completions`: parse and check, reserve room in the
    /// queue (429 when full), wait for the engine to take the request (400 if it refuses), then
    /// answer whole or as a stream. A client that disconnects, streaming or not, cancels the work
    /// (`DisconnectWatcher`), which aborts the engine request and frees its KV blocks.
    func generate(_ request: Request, context: OmniRequestContext, kind: GenerationRequest.Kind) async throws -> Response {
        var request = request
        let start = ContinuousClock.now
        let model = try host.model()
        let fields = try RequestFields(body: try await body(of: &request))
        let parsed = switch kind {
        case .completion: try CompletionRequest.parse(fields, model: model)
        case .chat: try ChatCompletionRequest.parse(fields, model: model)
        }
        let id = Self.makeId(prefix: kind == .chat ? "chatcmpl" : "cmpl")
        context.record.update {
            $0.requestId = id
            $0.promptTokens = parsed.prompts.reduce(0) { $0 + $1.tokenIds.count }
        }
        guard let reservation = admission.reserve(parsed.sequenceCount) else { throw APIError.overloaded(retryAfter: 1) }
        let run = GenerationRun(model: model, request: parsed, id: id, created: Int(Date().timeIntervalSince1970),
                                metrics: metrics, keepAliveInterval: configuration.keepAliveInterval, start: start,
                                logger: context.logger)
        let events = try await run.admit()
        let record = context.record
        let connection = await DisconnectWatcher.connection(of: context.channel)

        guard parsed.stream else {
            defer { reservation.release() }
            let builder = if let connection {
                try await connection.cancellingOnClose { try await run.collect(events) }
            } else {
                try await run.collect(events)
            }
            record.update { $0.completionTokens = builder.choices.reduce(0) { $0 + $1.numOutputTokens } }
            return json(builder.response)
        }
        return Response(status: .ok, headers: ServerSentEvents.headers, body: ResponseBody { writer in
            defer { reservation.release() }
            try await run.stream(events, to: &writer, connection: connection) { builder in
                record.update { $0.completionTokens = builder.choices.reduce(0) { $0 + $1.numOutputTokens } }
            }
            try await writer.finish(nil)
        })
    }

    /// `cmpl-` / `chatcmpl-` and 32 random hex digits, as vLLM names requests.
    static func makeId(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = (0..<2).map { _ in String(generator.next() as UInt64, radix: 16) }
            .map { String(repeating: "0", count: 16 - $0.count) + $0 }
        return "\(prefix)-\(digits.joined())"
    }
}
