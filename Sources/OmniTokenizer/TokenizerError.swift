/// What can go wrong while loading a tokenizer. Each case names the file and the field, and the
/// text says what to do about it. Encoding and decoding never fail.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// A file the directory must have is not there (`tokenizer.json`).
    case missingFile(path: String)
    /// A file could not be read.
    case unreadableFile(path: String, detail: String)
    /// A file is not valid JSON.
    case invalidJSON(file: String, detail: String)
    /// A required field is absent or has the wrong JSON type.
    case invalidField(file: String, field: String, expected: String)
    /// A component type we do not implement.
    case unsupported(file: String, field: String, value: String, supported: [String])
    /// A merge names a token the vocabulary does not have (as HF's `MergeTokenOutOfVocabulary`).
    case mergeTokenOutOfVocabulary(file: String, token: String)
    /// The `unk_token` of the model is not in its vocabulary.
    case unknownTokenOutOfVocabulary(file: String, token: String)
    /// A regular expression in the file could not be compiled.
    case invalidPattern(file: String, field: String, pattern: String, detail: String)
    /// A tiktoken ranks file has a malformed line.
    case invalidRanksLine(file: String, line: Int)

    public var description: String {
        switch self {
        case .missingFile(let path):
            return "\(path): file not found; a model directory needs tokenizer.json (the Hugging Face fast-tokenizer file)"
        case .unreadableFile(let path, let detail):
            return "\(path): cannot be read (\(detail))"
        case .invalidJSON(let file, let detail):
            return "\(file): not valid JSON (\(detail))"
        case .invalidField(let file, let field, let expected):
            return "\(file): \(field) is missing or is not \(expected)"
        case .unsupported(let file, let field, let value, let supported):
            return "\(file): \(field) \"\(value)\" is not supported; supported: \(supported.joined(separator: ", "))"
        case .mergeTokenOutOfVocabulary(let file, let token):
            return "\(file): model.merges uses token \"\(token)\" that is not in model.vocab"
        case .unknownTokenOutOfVocabulary(let file, let token):
            return "\(file): model.unk_token \"\(token)\" is not in model.vocab"
        case .invalidPattern(let file, let field, let pattern, let detail):
            return "\(file): \(field) pattern \"\(pattern)\" cannot be compiled (\(detail))"
        case .invalidRanksLine(let file, let line):
            return "\(file): line \(line) is not \"<base64 token> <rank>\""
        }
    }
}
