import OmniEngine
import OmniPipeline
import OmniTokenizer

/// `POST /v1/chat/completions` (and the chat form of `/tokenize`): messages through the model's
/// chat template, as vLLM renders them.
enum ChatCompletionRequest {
    static func parse(_ fields: RequestFields, model: ServedModel) throws -> GenerationRequest {
        let name = try model.check(fields)
        let fields = try mergingSamplingParamsList(fields)
        let prompt = try renderPrompt(fields, model: model)
        try checkOutputModalities(fields)
        if let format = try fields.object("response_format") {
            let type = try format.string("type") ?? "text"
            guard type == "text" else {
                throw APIError.invalid("response_format", "response_format \(type) is not supported by this server; use text.")
            }
        }
        let logprobs = try fields.bool("logprobs") ?? false
        let top = try fields.int("top_logprobs")
        if let top {
            guard (0...SamplingParams.maxLogprobs).contains(top) else {
                throw APIError.invalid("top_logprobs", "top_logprobs must be in [0, \(SamplingParams.maxLogprobs)], got \(top).")
            }
            guard logprobs else { throw APIError.invalid("top_logprobs", "top_logprobs needs logprobs set to true.") }
        }
        let topLogprobs = logprobs ? (top ?? 0) : nil
        let maxTokens = try SamplingFields.maxTokens(fields, keys: ["max_completion_tokens", "max_tokens"])
        let params = try SamplingFields.read(fields, maxTokens: maxTokens, logprobs: topLogprobs, promptLogprobs: nil,
                                             defaults: model.omni.generationDefaults)
        let (stream, includeUsage) = try SamplingFields.streaming(fields)
        return GenerationRequest(kind: .chat, model: name, prompts: [prompt], params: params, stream: stream,
                                 includeUsage: includeUsage, echo: false, topLogprobs: topLogprobs)
    }

    /// The conversation rendered by the chat template and tokenized: `messages`, `tools`,
    /// `tool_choice`, `add_generation_prompt`, `continue_final_message`, `chat_template_kwargs`,
    /// `add_special_tokens`.
    static func renderPrompt(_ fields: RequestFields, model: ServedModel) throws -> GenerationRequest.Prompt {
        guard let items = try fields.array("messages") else { throw APIError.invalid("messages", "messages is required.") }
        guard !items.isEmpty else { throw APIError.invalid("messages", "messages must not be empty.") }
        let tools = try readTools(fields)
        let format = try model.omni.chatTemplate(hasTools: tools != nil).contentFormat
        let messages = try items.enumerated().map { index, item in try message(item, at: index, in: fields, format: format) }
        let continueFinal = try fields.bool("continue_final_message") ?? false
        let addGenerationPrompt = try fields.bool("add_generation_prompt") ?? !continueFinal
        if continueFinal && addGenerationPrompt {
            throw APIError.invalid("continue_final_message",
                                   "continue_final_message and add_generation_prompt cannot both be true.")
        }
        var kwargs: [String: JinjaValue] = [:]
        if let extra = try fields.object("chat_template_kwargs") {
            for (key, value) in extra.object { kwargs[key] = value }
        }
        if try fields.string("chat_template") != nil {
            throw APIError.invalid("chat_template", "chat_template is not supported by this server; the model's own is used.")
        }
        var text = try model.omni.renderChat(messages: messages, tools: tools, addGenerationPrompt: addGenerationPrompt,
                                             templateKwargs: kwargs)
        if continueFinal {
            text = try cutAfterFinalMessage(text, messages: messages)
        }
        let addSpecialTokens = try fields.bool("add_special_tokens") ?? false
        let ids = model.omni.tokenizer.encode(text, addSpecialTokens: addSpecialTokens)
        guard !ids.isEmpty else { throw APIError.invalid("messages", "The rendered conversation has no tokens.") }
        return .init(tokenIds: ids, text: text)
    }

    /// One message, checked and shaped as vLLM hands it to the template: for a template that prints
    /// `message.content` (the "string" format) text parts are joined with newlines; for one that
    /// loops over it (the "openai" format) content is a list of text parts, a plain string
    /// included. Tool-call arguments are parsed from JSON text into objects.
    static func message(_ item: JinjaValue, at index: Int, in fields: RequestFields,
                        format: ChatTemplate.ContentFormat) throws(APIError) -> JinjaValue {
        let field = "messages[\(index)]"
        guard case .object(var message) = item else { throw fields.typeError(field, "an object", item) }
        let reader = RequestFields(object: message, path: field + ".")
        guard let role = try reader.string("role") else { throw APIError.invalid(field + ".role", "\(field).role is required.") }
        switch reader.value("content") {
        case nil:
            guard role == "assistant" else {
                throw APIError.invalid(field + ".content", "\(field).content is required for role \(role).")
            }
        case .string(let text)?:
            if format == .openAI { message["content"] = [["type": "text", "text": .string(text)]] }
        case .array(let parts)?:
            let texts = try textParts(parts, field: field + ".content")
            message["content"] = switch format {
            case .string: .string(texts.joined(separator: "\n"))
            case .openAI: .array(texts.map { ["type": "text", "text": .string($0)] })
            }
        case let other?:
            throw reader.typeError("content", "a string or an array of content parts", other)
        }
        if let calls = try reader.array("tool_calls") {
            message["tool_calls"] = .array(try calls.enumerated().map { (callIndex, call) throws(APIError) in
                try toolCall(call, field: "\(field).tool_calls[\(callIndex)]")
            })
        }
        return .object(message)
    }

    private static func textParts(_ parts: [JinjaValue], field: String) throws(APIError) -> [String] {
        var texts: [String] = []
        for (index, part) in parts.enumerated() {
            let name = "\(field)[\(index)]"
            guard case .object(let object) = part else {
                throw APIError.invalid(name, "\(name) must be a content part object, got \(part.jsonTypeName).")
            }
            let reader = RequestFields(object: object, path: name + ".")
            guard let type = try reader.string("type") else { throw APIError.invalid(name + ".type", "\(name).type is required.") }
            switch type {
            case "text":
                guard let text = try reader.string("text") else {
                    throw APIError.invalid(name + ".text", "\(name).text is required for a text part.")
                }
                texts.append(text)
            case "image_url", "input_audio", "audio_url", "video_url", "input_image", "file":
                throw APIError.invalid(name, "\(name) is of type \(type), and this model takes text only.")
            default:
                throw APIError.invalid(name + ".type", "\(name).type \(type) is not a known content part type.")
            }
        }
        return texts
    }

    /// A tool call whose `function.arguments` arrive as JSON text (OpenAI clients send them so)
    /// and reach the template as an object, as vLLM passes them.
    private static func toolCall(_ call: JinjaValue, field: String) throws(APIError) -> JinjaValue {
        guard case .object(var object) = call else {
            throw APIError.invalid(field, "\(field) must be an object, got \(call.jsonTypeName).")
        }
        guard case .object(var function)? = object["function"] else {
            throw APIError.invalid(field + ".function", "\(field).function must be an object.")
        }
        if case .string(let text)? = function["arguments"] {
            do {
                function["arguments"] = try JinjaValue(json: text)
            } catch {
                throw APIError.invalid(field + ".function.arguments",
                                       "\(field).function.arguments is not valid JSON: \(error.description).")
            }
            object["function"] = .object(function)
        }
        return .object(object)
    }

    /// `tools` for the template; nil when absent or when `tool_choice` is "none". Forced tool
    /// choices need constrained decoding, which this server does not do.
    static func readTools(_ fields: RequestFields) throws(APIError) -> [JinjaValue]? {
        let tools = try fields.array("tools")
        if let tools {
            for (index, tool) in tools.enumerated() {
                guard case .object(let object) = tool, case .object? = object["function"] else {
                    throw APIError.invalid("tools[\(index)]", "tools[\(index)] must be an object with a function object.")
                }
            }
        }
        switch fields.value("tool_choice") {
        case nil, .string("auto")?:
            return tools
        case .string("none")?:
            return nil
        case .string("required")?, .object?:
            throw APIError.invalid("tool_choice", "tool_choice can be auto or none here: forced tool calls are not supported.")
        case let other?:
            throw fields.typeError("tool_choice", "\"auto\", \"none\", \"required\" or an object", other)
        }
    }

    /// vLLM's `continue_final_message`: the text ends where the last message's content ends, so
    /// the model continues it instead of starting a new turn.
    private static func cutAfterFinalMessage(_ text: String, messages: [JinjaValue]) throws(APIError) -> String {
        guard case .object(let last)? = messages.last, case .string(let content)? = last["content"], !content.isEmpty,
              let range = text.range(of: content, options: .backwards) else {
            throw APIError.invalid("continue_final_message",
                                   "continue_final_message needs a last message whose text appears in the rendered prompt.")
        }
        return String(text[..<range.upperBound])
    }

    /// `modalities` and `audio`: this server's models answer in text.
    private static func checkOutputModalities(_ fields: RequestFields) throws(APIError) {
        if let modalities = try fields.strings("modalities"), let other = modalities.first(where: { $0 != "text" }) {
            throw APIError.invalid("modalities", "modalities \(other) is not available: this model answers in text only.")
        }
        if fields.has("audio") {
            throw APIError.invalid("audio", "audio output is not available: this model answers in text only.")
        }
    }

    /// vLLM-Omni's `sampling_params_list` (one object per stage): this model has one stage, so one
    /// object at most, whose fields override the top-level ones.
    private static func mergingSamplingParamsList(_ fields: RequestFields) throws(APIError) -> RequestFields {
        guard let list = try fields.array("sampling_params_list") else { return fields }
        guard list.count <= 1 else {
            throw APIError.invalid("sampling_params_list",
                                   "sampling_params_list has \(list.count) entries, and this model has 1 stage.")
        }
        guard let first = list.first else { return fields }
        guard case .object(let overrides) = first else {
            throw fields.typeError("sampling_params_list[0]", "an object", first)
        }
        var merged = fields.object
        for (key, value) in overrides { merged[key] = value }
        return RequestFields(object: merged, path: fields.path)
    }
}
