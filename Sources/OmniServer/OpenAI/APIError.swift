import Hummingbird
import OmniEngine
import OmniPipeline
import OmniTokenizer

/// An error as the OpenAI API writes it: `{"error": {"message", "type", "param", "code"}}` with its
/// HTTP status. Every failure a client can see is one of these; nothing else reaches the wire.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    /// OpenAI's `type`: invalid_request_error, authentication_error, rate_limit_error, server_error.
    public var type: String
    /// The request field at fault (OpenAI's spelling), when one is.
    public var param: String?
    public var code: String?
    /// Seconds a client should wait before trying again (429, 503).
    public var retryAfter: Int?
    /// The methods a 405's path answers (the `Allow` header).
    public var allow: String?

    public init(status: HTTPResponse.Status, message: String, type: String = "invalid_request_error",
                param: String? = nil, code: String? = nil, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.retryAfter = retryAfter
    }

    public var description: String { "\(status.code) \(type): \(message)" }

    /// 400 for a request field: the message says what is wrong, `param` names the field.
    static func invalid(_ param: String?, _ message: String, code: String? = nil) -> APIError {
        APIError(status: .badRequest, message: message, param: param, code: code)
    }

    static func modelNotFound(_ name: String) -> APIError {
        APIError(status: .notFound, message: "The model `\(name)` does not exist.", param: "model", code: "model_not_found")
    }

    static func routeNotFound(_ method: HTTPRequest.Method, _ path: String) -> APIError {
        APIError(status: .notFound, message: "No route for \(method) \(path).", code: "not_found")
    }

    /// A known route asked with another method: 405 with the `Allow` header.
    static func methodNotAllowed(_ method: HTTPRequest.Method, _ path: String, allowed: [HTTPRequest.Method]) -> APIError {
        var error = APIError(status: .methodNotAllowed,
                             message: "\(method) is not allowed on \(path); use \(allowed.map(\.rawValue).joined(separator: " or ")).",
                             code: "method_not_allowed")
        error.allow = allowed.map(\.rawValue).joined(separator: ", ")
        return error
    }

    /// A text route on a server that serves an image model.
    static func imageModelOnly(_ name: String) -> APIError {
        APIError(status: .badRequest,
                 message: "The model `\(name)` generates images; use POST /v1/images/generations.",
                 param: "model", code: "unsupported_model")
    }

    /// The images route on a server that serves a text model.
    static func textModelOnly(_ name: String) -> APIError {
        APIError(status: .badRequest,
                 message: "The model `\(name)` does not generate images; use /v1/completions or /v1/chat/completions.",
                 param: "model", code: "unsupported_model")
    }

    static let invalidAPIKey = APIError(
        status: .unauthorized, message: "Missing or incorrect API key: send `Authorization: Bearer <key>`.",
        type: "authentication_error", code: "invalid_api_key")

    static func bodyTooLarge(limit: Int) -> APIError {
        APIError(status: .contentTooLarge, message: "The request body is larger than this server accepts (\(limit) bytes).",
                 code: "request_too_large")
    }

    static func overloaded(retryAfter: Int) -> APIError {
        APIError(status: .tooManyRequests, message: "The server's queue is full; retry after \(retryAfter) s.",
                 type: "rate_limit_error", code: "queue_full", retryAfter: retryAfter)
    }

    static let loading = APIError(status: .serviceUnavailable, message: "The model is still loading; retry shortly.",
                                  type: "server_error", code: "model_loading", retryAfter: 1)

    static let shuttingDown = APIError(status: .serviceUnavailable, message: "The server is shutting down.",
                                       type: "server_error", code: "shutting_down", retryAfter: 1)

    static func `internal`(requestId: String) -> APIError {
        APIError(status: .internalServerError, message: "Internal server error (request \(requestId)); see the server log.",
                 type: "server_error", code: "internal_error")
    }

    /// The JSON body.
    var json: JinjaValue {
        ["error": [
            "message": .string(message), "type": .string(type),
            "param": param.map(JinjaValue.string) ?? .null, "code": code.map(JinjaValue.string) ?? .null,
        ]]
    }

    /// The full HTTP response.
    var response: Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        if let allow { headers[.allow] = allow }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: json.compactJSON)))
    }
}

extension APIError {
    /// The error a client sees for anything thrown while serving a request; nil for errors that
    /// are ours (a bug or a failed engine), which become a 500 whose details go to the log only.
    /// `promptField` names the prompt's field in this route (`prompt` or `messages`).
    init?(from error: any Error, promptField: String = "prompt") {
        switch error {
        case let error as APIError:
            self = error
        case let error as SamplingParamsError:
            self = .invalid(error.parameter, error.message)
        case let error as EngineError where error.isInvalidRequest:
            self = APIError(engine: error, promptField: promptField)
        case PipelineError.shuttingDown:
            self = .shuttingDown
        case PipelineError.invalidPrompt(let message):
            self = .invalid(nil, message)
        case let error as ChatTemplateError:
            self = .invalid("messages", "The chat template failed on these messages: \(error.description)")
        default:
            return nil
        }
    }

    /// An engine's refusal, with the field it concerns.
    private init(engine error: EngineError, promptField: String) {
        switch error {
        case .promptTooLong:
            self = .invalid(promptField, error.description, code: "context_length_exceeded")
        case .contextLengthExceeded, .exceedsKVCacheCapacity:
            self = .invalid("max_tokens", error.description, code: "context_length_exceeded")
        case .emptyPrompt, .tokenIdOutOfRange:
            self = .invalid(promptField, error.description)
        default:
            self = .invalid(nil, error.description)
        }
    }
}
