import OmniWeights

/// `LlamaForCausalLM` (Llama 2/3, and checkpoints in its layout): biases when `attention_bias`.
public enum Llama {
    public static let architecture = "LlamaForCausalLM"

    public static func config(_ hf: TransformerConfig, file: String) throws -> DecoderConfig {
        try DecoderConfig(hf, file: file, features: [.attentionBiasField])
    }
}
