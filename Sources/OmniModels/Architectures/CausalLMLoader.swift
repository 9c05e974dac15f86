import Foundation
import OmniTensor
import OmniWeights

/// Builds a decoder-only LM from a transformers model directory.
public enum CausalLMLoader {
    /// Architectures (config.json `architectures[0]`) this loader builds.
    public static let architectures = [Qwen2.architecture, Qwen3.architecture, Llama.architecture]

    public static func config(directory: URL) throws -> (TransformerConfig, DecoderConfig) {
        let file = directory.appendingPathComponent("config.json").path
        let hf = try TransformerConfig(directory: directory)
        let name = hf.architectures.first ?? ""
        switch name {
        case Qwen2.architecture: return (hf, try Qwen2.config(hf, file: file))
        case Qwen3.architecture: return (hf, try Qwen3.config(hf, file: file))
        case Llama.architecture: return (hf, try Llama.config(hf, file: file))
        default:
            throw WeightsError.invalidField(path: file, field: "architectures",
                                            reason: "\"\(name)\" is not a supported causal LM; supported: \(architectures.joined(separator: ", "))")
        }
    }

    public static func load(directory: URL, backend: any Backend) throws -> DecoderOnlyLM {
        let (_, config) = try config(directory: directory)
        return try DecoderOnlyLM(config: config, weights: try Checkpoint(directory: directory), backend: backend)
    }
}
