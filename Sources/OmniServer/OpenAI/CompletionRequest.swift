import OmniEngine
import OmniPipeline
import OmniTokenizer

/// `POST /v1/completions`: OpenAI's legacy completions with vLLM's extra sampling fields.
enum CompletionRequest {
    /// OpenAI's and vLLM's default completion length for this route.
    static let defaultMaxTokens = 16

    static func parse(_ fields: RequestFields, model: ServedModel) throws -> GenerationRequest {
        let name = try model.check(fields)
        if try fields.string("suffix") != nil {
            throw APIError.invalid("suffix", "suffix is not supported by this server.")
        }
        let addSpecialTokens = try fields.bool("add_special_tokens") ?? true
        let prompts = try readPrompts(fields, model: model, addSpecialTokens: addSpecialTokens)
        let echo = try fields.bool("echo") ?? false
        let logprobs = try fields.int("logprobs")
        if let logprobs, !(0...SamplingParams.maxLogprobs).contains(logprobs) {
            throw APIError.invalid("logprobs", "logprobs must be in [0, \(SamplingParams.maxLogprobs)], got \(logprobs).")
        }
        let promptLogprobs = try fields.int("prompt_logprobs")
        let maxTokens = try SamplingFields.maxTokens(fields, keys: ["max_tokens"]) ?? defaultMaxTokens
        let params = try SamplingFields.read(
            fields, maxTokens: maxTokens, logprobs: logprobs,
            promptLogprobs: echo && logprobs != nil ? max(logprobs ?? 0, promptLogprobs ?? 0) : promptLogprobs,
            defaults: model.omni.generationDefaults)
        let (stream, includeUsage) = try SamplingFields.streaming(fields)
        return GenerationRequest(kind: .completion, model: name, prompts: prompts, params: params, stream: stream,
                                 includeUsage: includeUsage, echo: echo, topLogprobs: logprobs)
    }

    /// `prompt`: a string, a list of strings, a list of token ids or a list of such lists.
    static func readPrompts(_ fields: RequestFields, model: ServedModel, addSpecialTokens: Bool) throws(APIError)
        -> [GenerationRequest.Prompt]
    {
        guard let value = fields.value("prompt") else { throw APIError.invalid("prompt", "prompt is required.") }
        let tokenizer = model.omni.tokenizer
        func text(_ text: String) -> GenerationRequest.Prompt {
            .init(tokenIds: tokenizer.encode(text, addSpecialTokens: addSpecialTokens), text: text)
        }
        func tokens(_ items: [JinjaValue], field: String) throws(APIError) -> GenerationRequest.Prompt {
            var ids: [Int] = []
            ids.reserveCapacity(items.count)
            for (index, item) in items.enumerated() {
                guard case .int(let id) = item else {
                    throw fields.typeError("\(field)[\(index)]", "a token id (an integer)", item)
                }
                ids.append(id)
            }
            try model.checkTokenIds(ids, field: field)
            return .init(tokenIds: ids, text: tokenizer.decode(ids))
        }
        let prompts: [GenerationRequest.Prompt]
        switch value {
        case .string(let prompt):
            prompts = [text(prompt)]
        case .array(let items) where items.isEmpty:
            throw APIError.invalid("prompt", "prompt must not be an empty list.")
        case .array(let items):
            switch items[0] {
            case .string:
                prompts = try items.enumerated().map { (index, item) throws(APIError) in
                    guard case .string(let prompt) = item else {
                        throw fields.typeError("prompt[\(index)]", "a string like the other prompts", item)
                    }
                    return text(prompt)
                }
            case .int:
                prompts = [try tokens(items, field: "prompt")]
            case .array:
                prompts = try items.enumerated().map { (index, item) throws(APIError) in
                    guard case .array(let ids) = item else {
                        throw fields.typeError("prompt[\(index)]", "a list of token ids like the other prompts", item)
                    }
                    return try tokens(ids, field: "prompt[\(index)]")
                }
            default:
                throw fields.typeError("prompt[0]", "a string, a token id or a list of token ids", items[0])
            }
        default:
            throw fields.typeError("prompt", "a string, a list of strings or a list of token ids", value)
        }
        if let index = prompts.firstIndex(where: { $0.tokenIds.isEmpty }) {
            let where_ = prompts.count == 1 ? "prompt" : "prompt[\(index)]"
            throw APIError.invalid(where_, "\(where_) is empty: it encodes to no tokens.")
        }
        return prompts
    }
}
