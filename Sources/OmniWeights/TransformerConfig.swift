import Foundation
import OmniTensor

/// The decoder-LM fields of a Hugging Face `config.json` (Qwen2/Qwen3/Llama family and the text
/// part of multimodal models), checked once here. Fields whose default depends on the model class
/// are optional and hold exactly what the file says; the model applies its own default (for
/// example `tie_word_embeddings`: `PreTrainedConfig` defaults to true, `Qwen2Config`/`Qwen3Config`
/// to false). Anything else stays readable through `raw`.
public struct TransformerConfig: Sendable {
    public let architectures: [String]
    public let modelType: String?
    public let hiddenSize: Int
    public let intermediateSize: Int
    public let numHiddenLayers: Int
    public let numAttentionHeads: Int
    /// `num_key_value_heads`; `numAttentionHeads` when absent (no grouped-query attention).
    public let numKeyValueHeads: Int
    /// `head_dim` when given (it may differ from hidden/heads, as in Qwen3), else hidden/heads.
    public let headDim: Int
    public let vocabSize: Int
    public let maxPositionEmbeddings: Int?
    public let rmsNormEps: Double?
    public let tieWordEmbeddings: Bool?
    public let attentionBias: Bool?
    public let hiddenAct: String?
    /// `bos_token_id`, `eos_token_id`: one id or a list in the file; empty when absent or null.
    public let bosTokenIds: [Int]
    public let eosTokenIds: [Int]
    public let padTokenId: Int?
    public let slidingWindow: Int?
    public let useSlidingWindow: Bool?
    public let maxWindowLayers: Int?
    /// Per-layer attention kind (`full_attention`, `sliding_attention`), when the config lists them.
    public let layerTypes: [String]?
    /// The checkpoint's dtype: `dtype` (transformers >= 5) or `torch_dtype` (older).
    public let dtype: DType?
    /// RoPE for full-attention layers (or the only RoPE).
    public let rope: RopeParameters
    /// RoPE per layer type, when the config gives them separately; empty otherwise.
    public let ropeByLayerType: [String: RopeParameters]
    /// The whole object, for model-specific fields.
    public let raw: ConfigObject

    /// Reads `url` (a config.json), descending into `keyPath` for multimodal configs
    /// (`["text_config"]`, `["thinker_config", "text_config"]`).
    public init(contentsOf url: URL, keyPath: [String] = []) throws(WeightsError) {
        var object = try ConfigObject(contentsOf: url)
        for key in keyPath { object = try object.requiredObject(key) }
        try self.init(object)
    }

    /// Reads `config.json` in a model directory.
    public init(directory: URL, keyPath: [String] = []) throws(WeightsError) {
        try self.init(contentsOf: directory.appendingPathComponent("config.json"), keyPath: keyPath)
    }

    /// Parses a config object (a whole config.json, or its `text_config`).
    public init(_ config: ConfigObject) throws(WeightsError) {
        raw = config
        architectures = try config.strings("architectures") ?? []
        modelType = try config.string("model_type")
        hiddenSize = try config.requiredInt("hidden_size", atLeast: 1)
        intermediateSize = try config.requiredInt("intermediate_size", atLeast: 1)
        numHiddenLayers = try config.requiredInt("num_hidden_layers", atLeast: 1)
        numAttentionHeads = try config.requiredInt("num_attention_heads", atLeast: 1)
        numKeyValueHeads = try config.int("num_key_value_heads") ?? numAttentionHeads
        guard numKeyValueHeads >= 1, numAttentionHeads % numKeyValueHeads == 0 else {
            throw config.invalid("num_key_value_heads", "must divide num_attention_heads (\(numAttentionHeads))", config["num_key_value_heads"]!)
        }
        headDim = try config.int("head_dim") ?? hiddenSize / numAttentionHeads
        guard headDim >= 1 else {
            if config.has("head_dim") { throw config.invalid("head_dim", "must be at least 1", config["head_dim"]!) }
            throw config.invalid("num_attention_heads", "must not exceed hidden_size (\(hiddenSize))", config["num_attention_heads"]!)
        }
        vocabSize = try config.requiredInt("vocab_size", atLeast: 1)
        maxPositionEmbeddings = try config.int("max_position_embeddings")
        rmsNormEps = try config.double("rms_norm_eps")
        tieWordEmbeddings = try config.bool("tie_word_embeddings")
        attentionBias = try config.bool("attention_bias")
        hiddenAct = try config.string("hidden_act")
        bosTokenIds = try config.intOrInts("bos_token_id") ?? []
        eosTokenIds = try config.intOrInts("eos_token_id") ?? []
        padTokenId = try config.int("pad_token_id")
        slidingWindow = try config.int("sliding_window")
        useSlidingWindow = try config.bool("use_sliding_window")
        maxWindowLayers = try config.int("max_window_layers")
        layerTypes = try config.strings("layer_types")
        if let layerTypes, layerTypes.count != numHiddenLayers {
            throw config.invalid("layer_types", "must list one type per layer (\(numHiddenLayers))", config["layer_types"]!)
        }
        dtype = try TransformerConfig.dtype(in: config)
        (rope, ropeByLayerType) = try RopeParameters.parse(from: config)
    }

    /// The RoPE of one layer type (`sliding_attention`, ...), falling back to `rope`.
    public func rope(forLayerType layerType: String) -> RopeParameters {
        ropeByLayerType[layerType] ?? rope
    }

    /// `dtype` or `torch_dtype` as a `DType`: the first one written wins, new spelling first.
    static func dtype(in config: ConfigObject) throws(WeightsError) -> DType? {
        for key in ["dtype", "torch_dtype"] {
            guard let name = try config.string(key) else { continue }
            guard let dtype = DType(torchName: name) else {
                throw config.invalid(key, "must name a dtype (float32, float16, bfloat16)", .string(name))
            }
            return dtype
        }
        return nil
    }
}
