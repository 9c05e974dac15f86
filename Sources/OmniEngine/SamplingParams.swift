/// How one request samples and stops: one flat value with vLLM's defaults, checked once in `init`,
/// so a `SamplingParams` that exists is valid.
///
/// The fields a model's generation_config.json may default (temperature, top_p, top_k, min_p,
/// repetition_penalty, max_tokens) take `nil` for "the request left it unset"; `defaults` fills
/// those the way vLLM's OpenAI server does, and vLLM's neutral values fill the rest.
public struct SamplingParams: Sendable, Equatable {
    /// The largest `logprobs` and `prompt_logprobs` accepted (vLLM's default `max_logprobs`).
    public static let maxLogprobs = 20
    /// The largest `n` accepted (vLLM's `VLLM_MAX_N_SEQUENCES` default).
    public static let maxN = 16384
    /// Temperatures below this sample greedily (vLLM's `_SAMPLING_EPS`).
    public static let greedyTemperature = 1e-5
    /// A positive temperature below this is raised to it, as vLLM does, so logits / T stay finite.
    public static let minimumTemperature = 1e-2

    /// Completions generated for the prompt; each is its own sequence, sharing the prompt's blocks.
    public let n: Int
    /// 0 samples greedily; otherwise logits are divided by it. In [0, 2].
    public let temperature: Double
    /// Keeps the most likely tokens whose cumulative probability reaches it. In (0, 1]; 1 disables.
    public let topP: Double
    /// Keeps the k most likely tokens (and ties with the k-th); 0 disables (-1 is read as 0).
    public let topK: Int
    /// Drops tokens less likely than `minP` times the most likely one. In [0, 1]; 0 disables.
    public let minP: Double
    /// Subtracted once from the logit of every token already in the output. In [-2, 2].
    public let presencePenalty: Double
    /// Subtracted from a token's logit once per occurrence in the output. In [-2, 2].
    public let frequencyPenalty: Double
    /// Divides positive (multiplies negative) logits of tokens in the prompt or output. > 0; 1 disables.
    public let repetitionPenalty: Double
    /// The request's seed (nil: a random one per sequence). Sequence i of an n > 1 request uses
    /// seed + i, as vLLM does; the engine stores the per-sequence value here.
    public internal(set) var seed: UInt64?
    /// The request's max_tokens; nil means "until the context is full". See `defaultMaxTokens`.
    public let maxTokens: Int?
    /// generation_config.json's max_new_tokens: vLLM caps every request at it.
    public let defaultMaxTokens: Int?
    /// EOS and stop_token_ids are masked until this many tokens are generated; stop strings are
    /// not looked for in that text either.
    public let minTokens: Int
    /// Text that ends the completion; the stop string and what follows are not returned.
    public let stop: [String]
    /// Token ids that end the completion (the token stays in the token ids, its text is dropped).
    public let stopTokenIds: [Int]
    /// Keep generating past EOS (and past generation_config.json's extra EOS ids).
    public let ignoreEOS: Bool
    /// Return the stop string (or the stop token's text) at the end of the text.
    public let includeStopStringInOutput: Bool
    /// Passed to the detokenizer.
    public let skipSpecialTokens: Bool
    /// Top-N log-probabilities returned with each generated token (0 = the chosen token only).
    public let logprobs: Int?
    /// Top-N log-probabilities returned for each prompt token (the first has none).
    public let promptLogprobs: Int?

    /// Temperature 0: argmax of the processed logits, no random draw.
    public var isGreedy: Bool { temperature < Self.greedyTemperature }

    var hasPenalties: Bool { presencePenalty != 0 || frequencyPenalty != 0 || repetitionPenalty != 1 }

    /// vLLM's defaults (random sampling at temperature 1, no limits beyond the context).
    public init() {
        n = 1
        temperature = 1
        topP = 1
        topK = 0
        minP = 0
        presencePenalty = 0
        frequencyPenalty = 0
        repetitionPenalty = 1
        seed = nil
        maxTokens = nil
        defaultMaxTokens = nil
        minTokens = 0
        stop = []
        stopTokenIds = []
        ignoreEOS = false
        includeStopStringInOutput = false
        skipSpecialTokens = true
        logprobs = nil
        promptLogprobs = nil
    }

    /// Checks every field as vLLM's `SamplingParams` does; the error names the offending field with
    /// its OpenAI / vLLM request name. `seed: -1` means no seed, as in vLLM.
    public init(
        n: Int = 1,
        temperature: Double? = nil,
        topP: Double? = nil,
        topK: Int? = nil,
        minP: Double? = nil,
        presencePenalty: Double = 0,
        frequencyPenalty: Double = 0,
        repetitionPenalty: Double? = nil,
        seed: Int? = nil,
        maxTokens: Int? = nil,
        minTokens: Int = 0,
        stop: [String] = [],
        stopTokenIds: [Int] = [],
        ignoreEOS: Bool = false,
        includeStopStringInOutput: Bool = false,
        skipSpecialTokens: Bool = true,
        logprobs: Int? = nil,
        promptLogprobs: Int? = nil,
        defaults: GenerationDefaults = .none
    ) throws(SamplingParamsError) {
        var temperature = temperature ?? defaults.temperature ?? 1
        var topP = topP ?? defaults.topP ?? 1
        var topK = topK ?? defaults.topK ?? 0
        var minP = minP ?? defaults.minP ?? 0
        let repetitionPenalty = repetitionPenalty ?? defaults.repetitionPenalty ?? 1

        func fail(_ parameter: String, _ message: String) -> SamplingParamsError {
            SamplingParamsError(parameter: parameter, message: message)
        }
        guard n >= 1 else { throw fail("n", "n must be at least 1, got \(n).") }
        guard n <= Self.maxN else { throw fail("n", "n must be at most \(Self.maxN), got \(n).") }
        guard (-2.0...2.0).contains(presencePenalty) else {
            throw fail("presence_penalty", "presence_penalty must be in [-2, 2], got \(presencePenalty).")
        }
        guard (-2.0...2.0).contains(frequencyPenalty) else {
            throw fail("frequency_penalty", "frequency_penalty must be in [-2, 2], got \(frequencyPenalty).")
        }
        guard repetitionPenalty.isFinite else {
            throw fail("repetition_penalty", "repetition_penalty must be a finite number, got \(repetitionPenalty).")
        }
        guard repetitionPenalty > 0 else {
            throw fail("repetition_penalty", "repetition_penalty must be greater than zero, got \(repetitionPenalty).")
        }
        guard temperature.isFinite else {
            throw fail("temperature", "temperature must be a finite number, got \(temperature).")
        }
        guard (0.0...2.0).contains(temperature) else {
            throw fail("temperature", "temperature must be in [0, 2], got \(temperature).")
        }
        guard topP > 0 && topP <= 1 else { throw fail("top_p", "top_p must be in (0, 1], got \(topP).") }
        guard topK >= -1 else { throw fail("top_k", "top_k must be 0 (disable), or at least 1, got \(topK).") }
        guard (0.0...1.0).contains(minP) else { throw fail("min_p", "min_p must be in [0, 1], got \(minP).") }
        if let maxTokens, maxTokens < 1 {
            throw fail("max_tokens", "max_tokens must be at least 1, got \(maxTokens).")
        }
        guard minTokens >= 0 else {
            throw fail("min_tokens", "min_tokens must be greater than or equal to 0, got \(minTokens).")
        }
        if let maxTokens, minTokens > maxTokens {
            throw fail("min_tokens", "min_tokens must be less than or equal to max_tokens=\(maxTokens), got \(minTokens).")
        }
        if let logprobs, !(0...Self.maxLogprobs).contains(logprobs) {
            throw fail("logprobs", "logprobs must be in [0, \(Self.maxLogprobs)], got \(logprobs).")
        }
        if let promptLogprobs, !(0...Self.maxLogprobs).contains(promptLogprobs) {
            throw fail("prompt_logprobs", "prompt_logprobs must be in [0, \(Self.maxLogprobs)], got \(promptLogprobs).")
        }
        if let bad = stopTokenIds.first(where: { $0 < 0 }) {
            throw fail("stop_token_ids", "stop_token_ids must contain only non-negative token ids, got \(bad).")
        }
        guard !stop.contains(where: \.isEmpty) else { throw fail("stop", "stop cannot contain an empty string.") }

        if temperature > 0 && temperature < Self.minimumTemperature { temperature = Self.minimumTemperature }
        if topK == -1 { topK = 0 }
        if temperature < Self.greedyTemperature {
            guard n == 1 else { throw fail("n", "n must be 1 when using greedy sampling, got \(n).") }
            topP = 1
            topK = 0
            minP = 0
        }

        self.n = n
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.minP = minP
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.repetitionPenalty = repetitionPenalty
        self.seed = seed == nil || seed == -1 ? nil : UInt64(bitPattern: Int64(seed!))
        self.maxTokens = maxTokens
        self.defaultMaxTokens = defaults.maxTokens
        self.minTokens = minTokens
        self.stop = stop
        var seen = Set<Int>()
        self.stopTokenIds = stopTokenIds.filter { seen.insert($0).inserted }
        self.ignoreEOS = ignoreEOS
        self.includeStopStringInOutput = includeStopStringInOutput
        self.skipSpecialTokens = skipSpecialTokens
        self.logprobs = logprobs
        self.promptLogprobs = promptLogprobs
    }
}

/// A sampling field out of range. `parameter` is the request field's name as the OpenAI API and
/// vLLM spell it (for the `param` of an OpenAI error); `message` is vLLM's wording.
public struct SamplingParamsError: Error, Sendable, Equatable, CustomStringConvertible {
    public let parameter: String
    public let message: String

    public var description: String { message }
}
