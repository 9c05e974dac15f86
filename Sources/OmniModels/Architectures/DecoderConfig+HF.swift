import Foundation
import OmniWeights

/// Reading a `DecoderConfig` out of a transformers `config.json`; the per-architecture files say
/// which features their checkpoints carry.
extension DecoderConfig {
    enum Feature { case qkvBias, attentionBiasField, qkNorm }

    init(_ hf: TransformerConfig, file: String, features: Set<Feature>) throws {
        if hf.useSlidingWindow == true {
            throw WeightsError.invalidField(path: file, field: "use_sliding_window",
                                            reason: "sliding-window attention is not supported yet; set it to false")
        }
        if let act = hf.hiddenAct, act != "silu" {
            throw WeightsError.invalidField(path: file, field: "hidden_act", reason: "\"\(act)\" is not supported; expected \"silu\"")
        }
        guard hf.numKeyValueHeads > 0, hf.numAttentionHeads % hf.numKeyValueHeads == 0 else {
            throw WeightsError.invalidField(path: file, field: "num_key_value_heads",
                                            reason: "\(hf.numKeyValueHeads) does not divide num_attention_heads \(hf.numAttentionHeads)")
        }
        let attentionBias = features.contains(.attentionBiasField) && hf.attentionBias == true
        self.init(
            vocabularySize: hf.vocabSize, hiddenSize: hf.hiddenSize, intermediateSize: hf.intermediateSize,
            layers: hf.numHiddenLayers, heads: hf.numAttentionHeads, kvHeads: hf.numKeyValueHeads, headDim: hf.headDim,
            rmsNormEps: Float(hf.rmsNormEps ?? 1e-6), tieWordEmbeddings: hf.tieWordEmbeddings ?? false,
            qkvBias: features.contains(.qkvBias) || attentionBias, outputBias: attentionBias,
            qkNorm: features.contains(.qkNorm),
            rope: try RotaryEmbedding(hf.rope, headDim: hf.headDim, maxPositions: hf.maxPositionEmbeddings, file: file),
            maxPositions: hf.maxPositionEmbeddings ?? 32768)
    }
}

extension RotaryEmbedding {
    /// The RoPE variants transformers' `ROPE_INIT_FUNCTIONS` computes without the sequence length.
    init(_ p: RopeParameters, headDim: Int, maxPositions: Int?, file: String) throws {
        let dim = Int(Double(headDim) * p.partialRotaryFactor)
        func need<T>(_ value: T?, _ field: String) throws -> T {
            guard let value else { throw WeightsError.missingField(path: file, field: "rope_parameters.\(field)") }
            return value
        }
        let kind: Kind
        switch p.ropeType {
        case "default":
            kind = .standard
        case "linear":
            kind = .linear(factor: Float(try need(p.factor, "factor")))
        case "llama3":
            kind = .llama3(factor: Float(try need(p.factor, "factor")), lowFreqFactor: Float(try need(p.lowFreqFactor, "low_freq_factor")),
                           highFreqFactor: Float(try need(p.highFreqFactor, "high_freq_factor")),
                           originalMaxPositions: try need(p.originalMaxPositionEmbeddings, "original_max_position_embeddings"))
        case "yarn":
            let original = try need(p.originalMaxPositionEmbeddings, "original_max_position_embeddings")
            let factor = p.factor ?? Double(maxPositions ?? original) / Double(original)
            kind = .yarn(factor: Float(factor), originalMaxPositions: original, betaFast: Float(p.betaFast ?? 32),
                         betaSlow: Float(p.betaSlow ?? 1), attentionFactor: p.attentionFactor.map(Float.init),
                         mscale: p.raw["mscale"]?.double.map(Float.init), mscaleAllDim: p.raw["mscale_all_dim"]?.double.map(Float.init),
                         truncate: p.raw["truncate"]?.bool ?? true)
        default:
            throw WeightsError.invalidField(path: file, field: "rope_parameters.rope_type",
                                            reason: "\"\(p.ropeType)\" is not supported; supported: default, linear, llama3, yarn")
        }
        self.init(rotaryDim: dim, theta: p.theta, kind: kind)
    }
}
