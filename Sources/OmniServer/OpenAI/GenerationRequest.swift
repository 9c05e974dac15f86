import OmniEngine
import OmniTokenizer

/// A completions or chat request once read and checked: token prompts, validated sampling
/// parameters and how the answer is shaped. Parsing it needs the model's tokenizer and chat
/// template; running it needs the engine (`GenerationRun`).
struct GenerationRequest: Sendable {
    enum Kind: Sendable { case completion, chat }

    struct Prompt: Sendable {
        var tokenIds: [Int]
        /// The prompt's text, echoed back by `echo`.
        var text: String
    }

    var kind: Kind
    var model: String
    var prompts: [Prompt]
    var params: SamplingParams
    var stream: Bool
    /// `stream_options.include_usage`: a last chunk with usage and no choices.
    var includeUsage: Bool
    /// Completions' `echo`: the prompt (and its logprobs) lead each choice.
    var echo: Bool
    /// How many alternatives to list per token when logprobs were asked for (nil: no logprobs).
    var topLogprobs: Int?

    /// The field holding the prompt in this route, for error messages.
    var promptField: String { kind == .chat ? "messages" : "prompt" }
    /// Sequences the request puts in the engine (each prompt times n).
    var sequenceCount: Int { prompts.count * params.n }
}

/// The sampling fields completions and chat share (OpenAI's and vLLM's), read into a validated
/// `SamplingParams`; `SamplingParams.init` names the field of any value out of range.
enum SamplingFields {
    /// - Parameters:
    ///   - maxTokens: the request's completion length cap, read by the route (chat also takes
    ///     `max_completion_tokens`).
    ///   - logprobs: generated-token logprobs to compute (nil: none).
    ///   - promptLogprobs: prompt-token logprobs to compute (nil: none).
    static func read(_ fields: RequestFields, maxTokens: Int?, logprobs: Int?, promptLogprobs: Int?,
                     defaults: GenerationDefaults) throws -> SamplingParams {
        let n = try fields.int("n") ?? 1
        if let bestOf = try fields.int("best_of"), bestOf != n {
            throw APIError.invalid("best_of", "best_of must equal n (\(n)) here: this server does not rank candidates, got \(bestOf).")
        }
        if let bias = try fields.object("logit_bias"), !bias.object.isEmpty {
            throw APIError.invalid("logit_bias", "logit_bias is not supported by this server.")
        }
        let stop = try fields.strings("stop") ?? []
        let stopTokenIds = try fields.ints("stop_token_ids") ?? []
        return try SamplingParams(
            n: n,
            temperature: try fields.double("temperature"),
            topP: try fields.double("top_p"),
            topK: try fields.int("top_k"),
            minP: try fields.double("min_p"),
            presencePenalty: try fields.double("presence_penalty") ?? 0,
            frequencyPenalty: try fields.double("frequency_penalty") ?? 0,
            repetitionPenalty: try fields.double("repetition_penalty"),
            seed: try fields.int("seed"),
            maxTokens: maxTokens,
            minTokens: try fields.int("min_tokens") ?? 0,
            stop: stop,
            stopTokenIds: stopTokenIds,
            ignoreEOS: try fields.bool("ignore_eos") ?? false,
            includeStopStringInOutput: try fields.bool("include_stop_str_in_output") ?? false,
            skipSpecialTokens: try fields.bool("skip_special_tokens") ?? true,
            logprobs: logprobs,
            promptLogprobs: promptLogprobs,
            defaults: defaults)
    }

    /// `stream` and `stream_options`, checked together as vLLM checks them.
    static func streaming(_ fields: RequestFields) throws(APIError) -> (stream: Bool, includeUsage: Bool) {
        let stream = try fields.bool("stream") ?? false
        guard let options = try fields.object("stream_options") else { return (stream, false) }
        guard stream else {
            throw .invalid("stream_options", "stream_options can only be given when stream is true.")
        }
        let includeUsage = try options.bool("include_usage") ?? false
        _ = try options.bool("continuous_usage_stats")
        return (stream, includeUsage)
    }

    /// `max_tokens` (and the newer `max_completion_tokens`, which wins), at least 1.
    static func maxTokens(_ fields: RequestFields, keys: [String]) throws(APIError) -> Int? {
        for key in keys {
            if let value = try fields.int(key) {
                guard value >= 1 else { throw .invalid(key, "\(key) must be at least 1, got \(value).") }
                return value
            }
        }
        return nil
    }
}
