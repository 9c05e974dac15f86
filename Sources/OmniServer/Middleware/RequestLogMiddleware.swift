import Hummingbird
import Logging

/// One log line per request once its answer is complete (for a stream, after its last event):
/// request id, method and path, status, prompt and completion tokens, latency.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = OmniRequestContext

    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            response = OpenAIErrorMiddleware.response(for: error, request: request, context: context)
        }
        let status = response.status
        let line = LogLine(logger: logger, method: request.method, path: request.uri.path, record: context.record,
                           start: start, fallbackId: context.id)
        guard response.body.contentLength == nil else {
            line.emit(status: status)
            return response
        }
        // A streamed body is written after this returns: log when it is done.
        let body = response.body
        response.body = ResponseBody { writer in
            do {
                try await body.write(writer)
                line.emit(status: status)
            } catch {
                context.record.update { $0.clientDisconnected = true }
                context.logger.debug("stream ended early", metadata: ["error": "\(String(reflecting: error))"])
                line.emit(status: status)
                throw error
            }
        }
        return response
    }

    private struct LogLine: Sendable {
        let logger: Logger
        let method: HTTPRequest.Method
        let path: String
        let record: RequestRecord
        let start: ContinuousClock.Instant
        let fallbackId: String

        func emit(status: HTTPResponse.Status) {
            let values = record.snapshot
            var metadata: Logger.Metadata = [
                "request_id": "\(values.requestId ?? fallbackId)", "status": "\(status.code)",
                "latency_ms": "\(Int(((ContinuousClock.now - start).seconds * 1000).rounded()))",
            ]
            if let tokens = values.promptTokens { metadata["prompt_tokens"] = "\(tokens)" }
            if let tokens = values.completionTokens { metadata["completion_tokens"] = "\(tokens)" }
            if let images = values.images { metadata["images"] = "\(images)" }
            if let skipped = values.skippedBlocks, let computed = values.computedBlocks {
                metadata["skipped_blocks"] = "\(skipped)"
                metadata["computed_blocks"] = "\(computed)"
            }
            if values.clientDisconnected { metadata["client_disconnected"] = "true" }
            let level: Logger.Level = status.code >= 500 ? .error : .info
            logger.log(level: level, "\(method) \(path)", metadata: metadata)
        }
    }
}
