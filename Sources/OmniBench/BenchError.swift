/// A benchmark that cannot run as asked; the text says what to change.
public enum BenchError: Error, CustomStringConvertible, Equatable {
    case tooFewTokens(Int)
    case noOutput(request: String)
    case server(String)

    public var description: String {
        switch self {
        case .tooFewTokens(let n): "decode needs at least 2 generated tokens to time (got --tokens \(n))"
        case .noOutput(let request): "the engine finished \(request) without generating a token"
        case .server(let message): message
        }
    }
}
