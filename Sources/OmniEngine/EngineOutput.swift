/// What one step produced for one sequence. Token and text fields are deltas: concatenate them
/// over steps for the full completion.
public struct SequenceOutput: Sendable {
    public var requestId: String
    /// Which of the request's n completions.
    public var index: Int
    /// Tokens generated in this step (0 or 1; the stop token stays here even when its text does not).
    public var newTokenIds: [Int]
    /// Text that became final in this step (empty without a detokenizer).
    public var text: String
    /// One entry per new token when the request asked for logprobs.
    public var logprobs: [TokenLogprobs]
    /// Set once, for sequence 0, on the step that finishes the prompt: one entry per prompt token,
    /// nil for the first (nothing predicts it).
    public var promptLogprobs: [TokenLogprobs?]?
    /// Per requested layer, the rows of the positions computed in this step for the first time.
    public var hiddenStates: [HiddenStates]
    public var finishReason: FinishReason?
    public var stopReason: StopReason?
    public var numPromptTokens: Int
    /// Prompt tokens served from the prefix cache at admission (usage's cached_tokens).
    public var numCachedPromptTokens: Int
    /// Tokens generated so far, this step included.
    public var numOutputTokens: Int

    public var isFinished: Bool { finishReason != nil }
}

/// A snapshot of the engine's counters, for /metrics (vLLM's names in comments).
public struct EngineMetrics: Sendable, Equatable {
    /// num_requests_running (sequences: each of an n > 1 request counts, as vLLM v1 counts them).
    public var numRunning: Int
    /// num_requests_waiting (sequences, preempted ones included).
    public var numWaiting: Int
    /// kv_cache_usage_perc, as a fraction of blocks held by sequences.
    public var kvCacheUsage: Double
    public var numFreeBlocks: Int
    public var numBlocks: Int
    /// prefix_cache_queries / prefix_cache_hits, in tokens.
    public var prefixCacheQueries: Int
    public var prefixCacheHits: Int
    /// prompt_tokens_total: each sequence's prompt length, counted when its prompt is first computed.
    public var promptTokens: Int
    /// generation_tokens_total.
    public var generationTokens: Int
    /// num_preemptions_total.
    public var numPreemptions: Int
}

/// Turns token ids into text one token at a time, returning only text that is final (never half a
/// UTF-8 sequence). One per sequence; the tokenizer module provides it.
public struct TextStream {
    /// Adds one token; returns the text that became final.
    public var append: (_ tokenId: Int) -> String
    /// Ends the sequence; returns what was held back (incomplete UTF-8 as U+FFFD, as a full decode).
    public var finish: () -> String

    public init(append: @escaping (_ tokenId: Int) -> String, finish: @escaping () -> String) {
        self.append = append
        self.finish = finish
    }
}

/// Makes a sequence's detokenizer from its prompt (for context) and skip_special_tokens.
public typealias DetokenizerFactory = (_ promptTokenIds: [Int], _ skipSpecialTokens: Bool) -> TextStream
