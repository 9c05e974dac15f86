import OmniWeights

/// `Qwen2ForCausalLM` (Qwen2, Qwen2.5): biases on q/k/v, none on o_proj or the MLP.
public enum Qwen2 {
    public static let architecture = "Qwen2ForCausalLM"

    public static func config(_ hf: TransformerConfig, file: String) throws -> DecoderConfig {
        try DecoderConfig(hf, file: file, features: [.qkvBias])
    }
}
