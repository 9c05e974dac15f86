import Foundation
import OmniEngine
import OmniModels
import OmniWeights

/// A supported architecture and the stages it runs as (DESIGN.md §3).
public struct ArchitectureSpec: Sendable {
    /// The `architectures[0]` of config.json or `_class_name` of model_index.json.
    public var name: String
    /// Stage kinds in graph order, e.g. [.ar] for an LM, [.ar, .ar, .generation] for an Omni model.
    public var stages: [EngineKind]
    public var summary: String
}

public enum ModelDirectoryError: Error, CustomStringConvertible {
    case notADirectory(String)
    case missingConfig(String)
    case unreadableConfig(file: String, reason: String)
    case unsupportedArchitecture(directory: String, name: String, supported: [String])
    case notAnLLM(directory: String, name: String)

    public var description: String {
        switch self {
        case .notADirectory(let path):
            "\(path): not a model directory (expected a local Hugging Face directory; nothing is downloaded)"
        case .missingConfig(let path):
            "\(path): neither config.json (transformers) nor model_index.json (diffusers) found"
        case .unreadableConfig(let file, let reason):
            "\(file): \(reason)"
        case .unsupportedArchitecture(let directory, let name, let supported):
            "\(directory): architecture \"\(name)\" is not supported; supported: "
                + (supported.isEmpty ? "none yet in this build" : supported.joined(separator: ", "))
        case .notAnLLM(let directory, let name):
            "\(directory): \(name) is a text-to-image pipeline; this build runs it with "
                + "`omni generate \(directory) --prompt TEXT --output out.png` and does not serve it over HTTP yet"
        }
    }
}

/// The architectures this build serves, and the lookup from a model directory to one of them.
public enum ModelRegistry {
    /// Grows with each model issue.
    public static let architectures: [ArchitectureSpec] = CausalLMLoader.architectures.map {
        ArchitectureSpec(name: $0, stages: [.ar], summary: "text generation (decoder-only LM)")
    } + [
        ArchitectureSpec(name: ZImagePipeline.className, stages: [.diffusion],
                         summary: "text-to-image (Z-Image DiT, Qwen3 text encoder, AutoencoderKL)"),
    ]

    /// Names the architecture declared by a model directory and checks that it is supported.
    public static func resolve(directory: String) throws -> ArchitectureSpec {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelDirectoryError.notADirectory(directory)
        }
        let name = try declaredArchitecture(directory: directory)
        guard let spec = architectures.first(where: { $0.name == name }) else {
            throw ModelDirectoryError.unsupportedArchitecture(directory: directory, name: name, supported: architectures.map(\.name))
        }
        return spec
    }

    static func declaredArchitecture(directory: String) throws -> String {
        let base = URL(fileURLWithPath: directory)
        if FileManager.default.fileExists(atPath: base.appendingPathComponent("config.json").path) {
            let config = try ConfigObject(contentsOf: base.appendingPathComponent("config.json"))
            guard let name = try config.strings("architectures")?.first else {
                throw ModelDirectoryError.unreadableConfig(file: base.appendingPathComponent("config.json").path,
                                                           reason: "field \"architectures\" is missing or empty")
            }
            return name
        }
        if FileManager.default.fileExists(atPath: base.appendingPathComponent("model_index.json").path) {
            return try DiffusersModelIndex(directory: base).className
        }
        throw ModelDirectoryError.missingConfig(directory)
    }
}
