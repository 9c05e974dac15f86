/// Why a chat template could not be parsed or rendered. Every case names the place in the
/// template (1-based line and column) where it happened.
public enum ChatTemplateError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The template text is not valid Jinja (or uses a construct this engine does not support).
    case syntax(String, SourceLocation)
    /// Rendering failed the way Python would fail: a type error, an undefined value used in
    /// arithmetic or attribute access, an unsafe attribute, a bad argument to a filter.
    case runtime(String, SourceLocation)
    /// The template called `raise_exception(message)`, usually to reject its input (for example
    /// roles that do not alternate user/assistant); the message is the template's own.
    case raised(String, SourceLocation)
    /// The template ran past a safety limit (steps, call depth, output size, nesting).
    case limitExceeded(String, SourceLocation)
    /// The render call itself was wrong (for example a reserved name among the extra variables).
    case invalidArgument(String)
    /// The model directory has no chat template (or none by the name asked for).
    case missingTemplate(String)

    /// A 1-based position in the template text; columns count Unicode scalars.
    public struct SourceLocation: Equatable, Sendable, CustomStringConvertible {
        public var line: Int
        public var column: Int

        public init(line: Int, column: Int) {
            self.line = line
            self.column = column
        }

        public var description: String { "line \(line), column \(column)" }
    }

    /// The message without the location.
    public var message: String {
        switch self {
        case .syntax(let message, _), .runtime(let message, _), .raised(let message, _),
            .limitExceeded(let message, _), .invalidArgument(let message), .missingTemplate(let message):
            return message
        }
    }

    public var location: SourceLocation? {
        switch self {
        case .syntax(_, let location), .runtime(_, let location), .raised(_, let location),
            .limitExceeded(_, let location):
            return location
        case .invalidArgument, .missingTemplate:
            return nil
        }
    }

    public var description: String {
        switch self {
        case .syntax(let message, let location):
            return "chat template syntax error at \(location): \(message)"
        case .runtime(let message, let location):
            return "chat template failed at \(location): \(message)"
        case .raised(let message, let location):
            return "chat template rejected the input (raise_exception at \(location)): \(message)"
        case .limitExceeded(let message, let location):
            return "chat template stopped at \(location): \(message); the template loops or recurses too much for its input"
        case .invalidArgument(let message):
            return "invalid chat template argument: \(message)"
        case .missingTemplate(let message):
            return message
        }
    }
}

/// A failure inside rendering before it is tied to a template location; the interpreter turns it
/// into a `ChatTemplateError` at the node being evaluated.
enum JinjaFailure: Error {
    /// Python's TypeError / ValueError / ZeroDivisionError and friends.
    case type(String)
    /// jinja2's UndefinedError.
    case undefined(String)
    /// jinja2's SecurityError (mutating a list or dict, underscore attributes).
    case security(String)
    /// `raise_exception(message)`.
    case raised(String)
    case limit(String)

    func located(at location: ChatTemplateError.SourceLocation) -> ChatTemplateError {
        switch self {
        case .type(let message), .undefined(let message), .security(let message):
            return .runtime(message, location)
        case .raised(let message):
            return .raised(message, location)
        case .limit(let message):
            return .limitExceeded(message, location)
        }
    }
}
