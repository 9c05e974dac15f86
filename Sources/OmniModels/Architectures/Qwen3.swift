import OmniWeights

/// `Qwen3ForCausalLM`: per-head RMSNorm on queries and keys before RoPE, an explicit `head_dim`
/// that may differ from hidden/heads, biases only when `attention_bias` says so.
public enum Qwen3 {
    public static let architecture = "Qwen3ForCausalLM"

    public static func config(_ hf: TransformerConfig, file: String) throws -> DecoderConfig {
        try DecoderConfig(hf, file: file, features: [.qkNorm, .attentionBiasField])
    }
}
