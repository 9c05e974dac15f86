/// Why a checkpoint, a safetensors file or a config could not be read. Every case names the file
/// (as a path) and, where there is one, the tensor or the config field, so that the message alone
/// tells the user what to fix.
public enum WeightsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file or directory does not exist.
    case fileNotFound(path: String)
    /// The operating system refused to open, stat, map or write the file.
    case io(path: String, message: String)
    /// The safetensors header as a whole is unusable (length, JSON, `__metadata__`).
    case invalidHeader(path: String, reason: String)
    /// One tensor's header entry is wrong (dtype, shape, offsets, overlap).
    case invalidTensor(path: String, tensor: String, reason: String)
    /// The tensor is well formed but stored in a dtype this engine does not compute with.
    case unsupportedDType(path: String, tensor: String, dtype: String)
    /// A name asked for is not in the file, checkpoint or index.
    case missingTensor(source: String, tensor: String)
    /// A sharded checkpoint's index (`*.safetensors.index.json`) is wrong.
    case invalidIndex(path: String, reason: String)
    /// A directory holds no safetensors file at all.
    case noWeights(directory: String)
    /// A JSON file is not valid JSON.
    case invalidJSON(path: String, reason: String)
    /// A required config field is absent (or null).
    case missingField(path: String, field: String)
    /// A config field is present but has the wrong type or an impossible value.
    case invalidField(path: String, field: String, reason: String)
    /// A tensor cannot be written (device, duplicate name, ...).
    case unwritable(path: String, tensor: String, reason: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            "\(path): file not found"
        case .io(let path, let message):
            "\(path): \(message)"
        case .invalidHeader(let path, let reason):
            "\(path): invalid safetensors header: \(reason)"
        case .invalidTensor(let path, let tensor, let reason):
            "\(path): tensor \"\(tensor)\": \(reason)"
        case .unsupportedDType(let path, let tensor, let dtype):
            "\(path): tensor \"\(tensor)\": unsupported dtype \(dtype) "
                + "(supported: \(SafeTensorsDType.supportedNames)); convert the checkpoint first"
        case .missingTensor(let source, let tensor):
            "\(source): no tensor named \"\(tensor)\""
        case .invalidIndex(let path, let reason):
            "\(path): \(reason)"
        case .noWeights(let directory):
            "\(directory): no *.safetensors file (and no model.safetensors.index.json) in this directory"
        case .invalidJSON(let path, let reason):
            "\(path): invalid JSON: \(reason)"
        case .missingField(let path, let field):
            "\(path): missing required field \"\(field)\""
        case .invalidField(let path, let field, let reason):
            "\(path): field \"\(field)\" \(reason)"
        case .unwritable(let path, let tensor, let reason):
            "\(path): cannot write tensor \"\(tensor)\": \(reason)"
        }
    }
}
