/// A model's default sampling values, from its generation_config.json, applied as vLLM applies
/// them: each fills a field only when the request leaves it unset, and `maxTokens` caps every
/// request. The pipeline fills this once per model and passes it to every `SamplingParams.init`
/// and to `EngineConfig` (which uses `eosTokenIds`).
public struct GenerationDefaults: Sendable, Equatable {
    public var temperature: Double?
    public var topP: Double?
    public var topK: Int?
    public var minP: Double?
    public var repetitionPenalty: Double?
    /// generation_config.json's `max_new_tokens`.
    public var maxTokens: Int?
    /// generation_config.json's `eos_token_id` (one id or a list). Besides the model's own EOS,
    /// these stop generation unless `ignore_eos`, and min_tokens masks them.
    public var eosTokenIds: [Int]

    /// No defaults: vLLM's neutral values apply.
    public static let none = GenerationDefaults()

    public init(
        temperature: Double? = nil,
        topP: Double? = nil,
        topK: Int? = nil,
        minP: Double? = nil,
        repetitionPenalty: Double? = nil,
        maxTokens: Int? = nil,
        eosTokenIds: [Int] = []
    ) {
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.maxTokens = maxTokens
        self.eosTokenIds = eosTokenIds
    }

    /// The defaults vLLM takes from a generation_config.json holding these fields (nil: absent).
    ///
    /// vLLM reads the file through transformers' `GenerationConfig.to_diff_dict()`, which drops
    /// every value equal to transformers' own default (temperature 1.0, top_p 1.0, top_k 50,
    /// repetition_penalty 1.0); a file saying `"top_k": 50` therefore leaves top_k disabled.
    /// `do_sample` is ignored, as vLLM ignores it.
    public static func fromGenerationConfig(
        temperature: Double?,
        topP: Double?,
        topK: Int?,
        minP: Double?,
        repetitionPenalty: Double?,
        maxNewTokens: Int?,
        eosTokenIds: [Int]?
    ) -> GenerationDefaults {
        GenerationDefaults(
            temperature: temperature == 1.0 ? nil : temperature,
            topP: topP == 1.0 ? nil : topP,
            topK: topK == 50 ? nil : topK,
            minP: minP,
            repetitionPenalty: repetitionPenalty == 1.0 ? nil : repetitionPenalty,
            maxTokens: maxNewTokens,
            eosTokenIds: eosTokenIds ?? []
        )
    }
}
