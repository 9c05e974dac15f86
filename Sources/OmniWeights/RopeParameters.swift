/// Rotary position embedding settings, normalised from either spelling of a config.json:
/// - old (transformers < 5): top-level `rope_theta` (and `partial_rotary_factor`) plus an optional
///   `rope_scaling` dict whose kind is in `type` or `rope_type`;
/// - new (transformers >= 5): a `rope_parameters` dict holding `rope_type` and `rope_theta`, or
///   one such dict per layer type (`{"full_attention": {...}, "sliding_attention": {...}}`).
/// The rules are transformers' `RotaryEmbeddingConfigMixin` (`convert_rope_params_to_dict`,
/// `standardize_rope_params`), so both spellings give what transformers itself would use.
public struct RopeParameters: Sendable, Equatable {
    /// `default`, `linear`, `dynamic`, `yarn`, `longrope`, `llama3`, ... (the old `mrope` kind
    /// is `default` with an `mropeSection`, as in transformers).
    public var ropeType: String
    /// Base of the inverse frequencies. 10000 when the config names none (transformers' default).
    public var theta: Double
    /// Fraction of each head's dimensions that rotate; 1 when absent.
    public var partialRotaryFactor: Double
    public var factor: Double?
    /// Context length the model was trained with; for `llama3`, `yarn` and `longrope` it falls back
    /// to `max_position_embeddings`, as in transformers.
    public var originalMaxPositionEmbeddings: Int?
    /// `llama3` frequency bands.
    public var lowFreqFactor: Double?
    public var highFreqFactor: Double?
    /// `yarn` ramp and attention scaling.
    public var betaFast: Double?
    public var betaSlow: Double?
    public var attentionFactor: Double?
    /// `longrope` per-dimension factors.
    public var shortFactor: [Double]?
    public var longFactor: [Double]?
    /// Multimodal RoPE (Qwen2-VL, Qwen2.5-Omni): rotary half-dimensions given to time, height, width.
    public var mropeSection: [Int]?
    public var mropeInterleaved: Bool?
    /// The dict as written (without the defaults filled in), for fields not named above.
    public var raw: [String: JSONValue]

    public init(ropeType: String = "default", theta: Double = 10_000, partialRotaryFactor: Double = 1) {
        self.ropeType = ropeType
        self.theta = theta
        self.partialRotaryFactor = partialRotaryFactor
        self.raw = [:]
    }
}

extension RopeParameters {
    /// The RoPE settings of `config`: `(shared, byLayerType)`. `byLayerType` is empty unless the
    /// config gives one dict per layer type; `shared` is then the `full_attention` one (or the
    /// first in `layer_types` order).
    static func parse(from config: ConfigObject) throws(WeightsError) -> (RopeParameters, [String: RopeParameters]) {
        let topTheta = try config.double("rope_theta")
        let topPartial = try config.double("partial_rotary_factor")
        let topOriginal = try config.int("original_max_position_embeddings")
        let maxPositions = try config.int("max_position_embeddings")
        if let theta = topTheta, !(theta > 0) { throw config.invalid("rope_theta", "must be positive", .double(theta)) }
        if let partial = topPartial, !(partial > 0 && partial <= 1) {
            throw config.invalid("partial_rotary_factor", "must be in (0, 1]", .double(partial))
        }

        // transformers: `rope_scaling or rope_parameters` (an empty dict counts as absent).
        let scaling = try config.object("rope_scaling").flatMap { $0.members.isEmpty ? nil : $0 }
        let parameters = try config.object("rope_parameters")
        guard let dict = scaling ?? parameters, !dict.members.isEmpty else {
            var rope = RopeParameters(theta: topTheta ?? 10_000, partialRotaryFactor: topPartial ?? 1)
            rope.originalMaxPositionEmbeddings = topOriginal
            return (rope, [:])
        }

        let isNested = dict.members.values.allSatisfy { $0.object != nil || $0.isNull }
        guard isNested else {
            let rope = try parseOne(dict, theta: topTheta, partial: topPartial, originalOverride: topOriginal, maxPositions: maxPositions)
            return (rope, [:])
        }
        var byLayerType = [String: RopeParameters]()
        for (layerType, _) in dict.members {
            guard let entry = try dict.object(layerType) else { continue }
            byLayerType[layerType] = try parseOne(entry, theta: topTheta, partial: topPartial, originalOverride: nil, maxPositions: maxPositions)
        }
        let order = (try config.strings("layer_types") ?? []) + byLayerType.keys.sorted()
        let sharedKey = byLayerType["full_attention"] != nil ? "full_attention" : order.first { byLayerType[$0] != nil }
        guard let sharedKey, let shared = byLayerType[sharedKey] else {
            throw .invalidField(path: dict.path, field: dict.keyPath, reason: "holds no RoPE parameters")
        }
        return (shared, byLayerType)
    }

    private static func parseOne(_ dict: ConfigObject, theta: Double?, partial: Double?, originalOverride: Int?, maxPositions: Int?) throws(WeightsError) -> RopeParameters {
        let ropeType = try dict.string("rope_type")
        let legacyType = try dict.string("type")
        let named = ropeType ?? legacyType ?? "default"
        var rope = RopeParameters(
            ropeType: named == "mrope" ? "default" : named,
            theta: try dict.double("rope_theta") ?? theta ?? 10_000,
            partialRotaryFactor: try dict.double("partial_rotary_factor") ?? partial ?? 1)
        rope.factor = try dict.double("factor")
        rope.originalMaxPositionEmbeddings = try dict.int("original_max_position_embeddings")
        if ["llama3", "yarn", "longrope"].contains(rope.ropeType) {
            rope.originalMaxPositionEmbeddings = originalOverride ?? rope.originalMaxPositionEmbeddings ?? maxPositions
        }
        rope.lowFreqFactor = try dict.double("low_freq_factor")
        rope.highFreqFactor = try dict.double("high_freq_factor")
        rope.betaFast = try dict.double("beta_fast")
        rope.betaSlow = try dict.double("beta_slow")
        rope.attentionFactor = try dict.double("attention_factor")
        rope.shortFactor = try dict.doubles("short_factor")
        rope.longFactor = try dict.doubles("long_factor")
        rope.mropeSection = try dict.ints("mrope_section")
        rope.mropeInterleaved = try dict.bool("mrope_interleaved")
        rope.raw = dict.members

        if !(rope.theta > 0) { throw dict.invalid("rope_theta", "must be positive", .double(rope.theta)) }
        if let factor = rope.factor, !(factor > 0) { throw dict.invalid("factor", "must be positive", .double(factor)) }
        if !(rope.partialRotaryFactor > 0 && rope.partialRotaryFactor <= 1) {
            throw dict.invalid("partial_rotary_factor", "must be in (0, 1]", .double(rope.partialRotaryFactor))
        }
        return rope
    }
}
