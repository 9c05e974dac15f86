import OmniEngine
import OmniTokenizer

/// Gathers a request's engine outputs into OpenAI's JSON: the whole response at the end, or the
/// stream's chunks as outputs arrive. Choice `i` of prompt `p` is choice `p * n + i`, as vLLM numbers
/// them.
struct ResponseBuilder {
    let request: GenerationRequest
    let id: String
    let created: Int
    private let logprobs: LogprobsFormat?

    private(set) var choices: [Choice]
    /// Per prompt: its logprobs, which come with sequence 0's first output (echo + logprobs).
    private var promptLogprobs: [[TokenLogprobs?]?]
    /// Streaming: outputs held until their prompt's logprobs arrive (echo needs them first).
    private var held: [[SequenceOutput]]

    /// One completion as it accumulates.
    struct Choice {
        var text = ""
        var tokenIds: [Int] = []
        var logprobs: [TokenLogprobs] = []
        var finishReason: FinishReason?
        var stopReason: StopReason?
        var numOutputTokens = 0
        /// Streaming: whether its first chunk (the echo, or chat's role) went out.
        var hasStarted = false
        /// Streaming completions: where the next token's text_offset starts.
        var textOffset = 0
    }

    init(request: GenerationRequest, id: String, created: Int, tokenizer: PreTrainedTokenizer) {
        self.request = request
        self.id = id
        self.created = created
        logprobs = request.topLogprobs.map { LogprobsFormat(tokenizer: tokenizer, top: $0) }
        choices = Array(repeating: Choice(), count: request.sequenceCount)
        promptLogprobs = Array(repeating: nil, count: request.prompts.count)
        held = Array(repeating: [], count: request.sequenceCount)
    }

    private var echoNeedsPromptLogprobs: Bool { request.echo && logprobs != nil }

    // MARK: Accumulating

    /// Takes one output of prompt `prompt`; returns the stream chunks it makes (empty for none).
    mutating func absorb(prompt: Int, _ output: SequenceOutput) -> [JinjaValue] {
        let index = prompt * request.params.n + output.index
        if let prompts = output.promptLogprobs { promptLogprobs[prompt] = prompts }
        var chunks: [JinjaValue] = []
        if echoNeedsPromptLogprobs {
            guard promptLogprobs[prompt] != nil else {
                held[index].append(output)
                return []
            }
            // The prompt's logprobs are here: release what its other choices held.
            for other in (prompt * request.params.n)..<((prompt + 1) * request.params.n) where !held[other].isEmpty {
                let waiting = held[other]
                held[other] = []
                for output in waiting { chunks += apply(output, to: other) }
            }
        }
        return chunks + apply(output, to: index)
    }

    private mutating func apply(_ output: SequenceOutput, to index: Int) -> [JinjaValue] {
        var choice = choices[index]
        choice.text += output.text
        choice.tokenIds += output.newTokenIds
        choice.logprobs += output.logprobs
        choice.numOutputTokens = output.numOutputTokens
        choice.finishReason = output.finishReason ?? choice.finishReason
        choice.stopReason = output.stopReason ?? choice.stopReason
        defer { choices[index] = choice }
        guard request.stream else { return [] }
        return request.kind == .chat ? chatChunks(output, index: index, choice: &choice)
                                     : completionChunks(output, index: index, choice: &choice)
    }

    var isFinished: Bool { choices.allSatisfy { $0.finishReason != nil } }

    // MARK: Whole responses

    var usage: JinjaValue {
        let prompt = request.prompts.reduce(0) { $0 + $1.tokenIds.count }
        let completion = choices.reduce(0) { $0 + $1.numOutputTokens }
        return ["prompt_tokens": .int(prompt), "completion_tokens": .int(completion), "total_tokens": .int(prompt + completion)]
    }

    /// The non-streaming response body.
    var response: JinjaValue {
        let items: [JinjaValue] = choices.indices.map { index in
            let choice = choices[index]
            var item = JinjaObject.of(["index": .int(index)])
            switch request.kind {
            case .chat:
                item["message"] = ["role": "assistant", "content": .string(choice.text)]
                item["logprobs"] = logprobs.map { $0.chat(choice.logprobs) } ?? .null
            case .completion:
                let prompt = request.prompts[index / request.params.n]
                item["text"] = .string((request.echo ? prompt.text : "") + choice.text)
                item["logprobs"] = completionLogprobs(of: choice, prompt: index / request.params.n, echo: request.echo, offset: 0)?.json ?? .null
            }
            item["finish_reason"] = .optional(choice.finishReason?.rawValue)
            item["stop_reason"] = Self.stopReason(choice.stopReason)
            return .object(item)
        }
        return [
            "id": .string(id), "object": request.kind == .chat ? "chat.completion" : "text_completion",
            "created": .int(created), "model": .string(request.model), "choices": .array(items), "usage": usage,
        ]
    }

    // MARK: Stream chunks

    /// Chat opens every choice with the assistant's role before any token, as OpenAI does.
    var openingChunks: [JinjaValue] {
        guard request.kind == .chat else { return [] }
        return choices.indices.map { index in
            chunk(["index": .int(index), "delta": ["role": "assistant", "content": ""], "logprobs": .null,
                   "finish_reason": .null])
        }
    }

    /// The last chunk when `stream_options.include_usage`: no choices, the usage.
    var usageChunk: JinjaValue {
        var object = envelope
        object["choices"] = .array([])
        object["usage"] = usage
        return .object(object)
    }

    private mutating func chatChunks(_ output: SequenceOutput, index: Int, choice: inout Choice) -> [JinjaValue] {
        choice.hasStarted = true
        var chunks: [JinjaValue] = []
        if !output.text.isEmpty || (logprobs != nil && !output.logprobs.isEmpty) {
            chunks.append(chunk(["index": .int(index), "delta": ["content": .string(output.text)],
                                 "logprobs": logprobs.map { $0.chat(output.logprobs) } ?? .null, "finish_reason": .null]))
        }
        if let reason = output.finishReason {
            chunks.append(chunk(["index": .int(index), "delta": [:], "logprobs": .null,
                                 "finish_reason": .string(reason.rawValue), "stop_reason": Self.stopReason(output.stopReason)]))
        }
        return chunks
    }

    private mutating func completionChunks(_ output: SequenceOutput, index: Int, choice: inout Choice) -> [JinjaValue] {
        let promptIndex = index / request.params.n
        var text = output.text
        var positions: [LogprobsFormat.Position] = []
        if !choice.hasStarted {
            choice.hasStarted = true
            if request.echo {
                text = request.prompts[promptIndex].text + text
                positions += echoPositions(prompt: promptIndex)
            }
        }
        positions += output.logprobs.map { .init(tokenId: $0.token.tokenId, logprobs: $0) }
        var chunks: [JinjaValue] = []
        if !text.isEmpty || (logprobs != nil && !positions.isEmpty) {
            var json = JinjaValue.none
            if let logprobs {
                let formatted = logprobs.completion(positions, offset: choice.textOffset)
                json = formatted.json
                choice.textOffset = formatted.end
            }
            chunks.append(chunk(["index": .int(index), "text": .string(text), "logprobs": json, "finish_reason": .null]))
        }
        if let reason = output.finishReason {
            chunks.append(chunk(["index": .int(index), "text": "", "logprobs": .null,
                                 "finish_reason": .string(reason.rawValue), "stop_reason": Self.stopReason(output.stopReason)]))
        }
        return chunks
    }

    // MARK: Helpers

    private var envelope: JinjaObject {
        .of([
            "id": .string(id), "object": request.kind == .chat ? "chat.completion.chunk" : "text_completion",
            "created": .int(created), "model": .string(request.model),
        ])
    }

    private func chunk(_ choice: JinjaValue) -> JinjaValue {
        var object = envelope
        object["choices"] = .array([choice])
        if request.includeUsage { object["usage"] = .null }
        return .object(object)
    }

    /// The prompt's positions for echo with logprobs (empty without logprobs).
    private func echoPositions(prompt: Int) -> [LogprobsFormat.Position] {
        guard logprobs != nil else { return [] }
        let ids = request.prompts[prompt].tokenIds
        let values = promptLogprobs[prompt] ?? []
        return ids.indices.map { .init(tokenId: ids[$0], logprobs: $0 < values.count ? values[$0] : nil) }
    }

    private func completionLogprobs(of choice: Choice, prompt: Int, echo: Bool, offset: Int) -> (json: JinjaValue, end: Int)? {
        guard let logprobs else { return nil }
        let positions = (echo ? echoPositions(prompt: prompt) : [])
            + choice.logprobs.map { LogprobsFormat.Position(tokenId: $0.token.tokenId, logprobs: $0) }
        return logprobs.completion(positions, offset: offset)
    }

    /// vLLM's `stop_reason`: the stop string or token id that ended the choice; null for EOS.
    static func stopReason(_ reason: StopReason?) -> JinjaValue {
        switch reason {
        case .string(let text)?: .string(text)
        case .tokenId(let id)?: .int(id)
        case .eos?, nil: .null
        }
    }
}
