import Hummingbird
import OmniTokenizer

extension APIRoutes {
    /// `POST /tokenize`: `prompt` (with `add_special_tokens`, default true) or `messages` through
    /// the chat template (with `add_generation_prompt`, `tools`, `chat_template_kwargs`;
    /// `add_special_tokens` default false) -> `{count, max_model_len, tokens}`, as vLLM answers.
    func tokenize(_ request: Request, context: OmniRequestContext) async throws -> Response {
        var request = request
        let model = try host.model()
        let fields = try RequestFields(body: try await body(of: &request))
        _ = try model.check(fields)
        let ids: [Int]
        if fields.has("messages") {
            ids = try ChatCompletionRequest.renderPrompt(fields, model: model).tokenIds
        } else if let prompt = try fields.string("prompt") {
            ids = model.omni.tokenizer.encode(prompt, addSpecialTokens: try fields.bool("add_special_tokens") ?? true)
        } else {
            throw APIError.invalid("prompt", "Give prompt (a string) or messages.")
        }
        context.record.update { $0.promptTokens = ids.count }
        var answer: JinjaObject = .of([
            "count": .int(ids.count), "max_model_len": .int(model.omni.maxModelLen),
            "tokens": .array(ids.map(JinjaValue.int)),
        ])
        if try fields.bool("return_token_strs") ?? false {
            answer["token_strs"] = .array(ids.map { .optional(model.omni.tokenizer.token(for: $0)) })
        }
        return json(.object(answer))
    }

    /// `POST /detokenize`: `tokens` -> `{prompt}`.
    func detokenize(_ request: Request, context: OmniRequestContext) async throws -> Response {
        var request = request
        let model = try host.model()
        let fields = try RequestFields(body: try await body(of: &request))
        _ = try model.check(fields)
        guard let ids = try fields.ints("tokens") else { throw APIError.invalid("tokens", "tokens is required.") }
        try model.checkTokenIds(ids, field: "tokens")
        return json(["prompt": .string(model.omni.tokenizer.decode(ids))])
    }
}
