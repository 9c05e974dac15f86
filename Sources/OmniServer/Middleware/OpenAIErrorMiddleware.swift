import Hummingbird
import Logging

/// Turns everything a route throws into OpenAI's error shape with the right status: our own
/// `APIError`s, Hummingbird's (unknown route 404, body too large 413) and engine refusals. Anything
/// else is a 500 whose message gives only the request id; the error itself goes to the log.
struct OpenAIErrorMiddleware: RouterMiddleware {
    typealias Context = OmniRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return Self.response(for: error, request: request, context: context)
        }
    }

    static func response(for error: any Error, request: Request, context: Context) -> Response {
        if let apiError = APIError(from: error) { return apiError.response }
        if error is CancellationError {
            // The client went away; nobody reads this answer.
            context.record.update { $0.clientDisconnected = true }
            return Response(status: .init(code: 499, reasonPhrase: "Client Closed Request"))
        }
        if let httpError = error as? any HTTPResponseError {
            switch httpError.status {
            case .notFound:
                if let allowed = APIRoutes.methods[request.uri.path], !allowed.contains(request.method) {
                    return APIError.methodNotAllowed(request.method, request.uri.path, allowed: allowed).response
                }
                return APIError.routeNotFound(request.method, request.uri.path).response
            case .contentTooLarge:
                return APIError(status: .contentTooLarge, message: "The request body is too large.", code: "request_too_large").response
            case .methodNotAllowed:
                return APIError(status: .methodNotAllowed, message: "\(request.method) is not allowed on \(request.uri.path).").response
            default:
                let status = httpError.status
                if status.code < 500 {
                    return APIError(status: status, message: "\(status.reasonPhrase) (\(request.method) \(request.uri.path)).").response
                }
            }
        }
        let id = context.record.snapshot.requestId ?? context.id
        context.logger.error("internal error", metadata: ["request_id": "\(id)", "error": "\(String(reflecting: error))"])
        return APIError.internal(requestId: id).response
    }
}
