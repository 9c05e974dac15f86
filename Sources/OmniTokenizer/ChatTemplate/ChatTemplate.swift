/// A model's chat template: turns a conversation into the prompt text the model was trained on,
/// byte for byte as transformers' `tokenizer.apply_chat_template(..., tokenize=False)` does.
///
/// ```swift
/// let template = try ChatTemplate(source: configTemplateText)
/// let prompt = try template.render(
///     messages: [["role": "user", "content": "Hello!"]],
///     addGenerationPrompt: true,
///     specialTokens: ["bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"],
///     extraContext: ["enable_thinking": false])
/// ```
public struct ChatTemplate: Sendable {
    /// Names the template always receives; `extraContext` may not override them.
    public static let reservedNames: Set<String> = ["messages", "tools", "documents", "add_generation_prompt"]

    public let template: JinjaTemplate

    /// Parses the template once; render it as often as needed.
    public init(source: String) throws(ChatTemplateError) {
        template = try JinjaTemplate(source: source)
    }

    public var source: String { template.source }

    /// Renders a conversation.
    ///
    /// The messages are prepared as transformers prepares them: keys whose value is `none` are
    /// dropped (many templates print "None" otherwise), and a message's reasoning, given as
    /// `reasoning_content`, `thinking` or `reasoning`, is also passed as `thinking` (first key)
    /// and `reasoning_content` (last key), the names templates read it from.
    /// - Parameters:
    ///   - messages: objects with at least `role` and `content`; tool calls with `arguments`
    ///     as objects (decode JSON strings first, as vLLM does).
    ///   - tools: JSON schemas of the tools (`{"type": "function", "function": {...}}`); the
    ///     template sees `none` when nil.
    ///   - documents: retrieval documents (`{"title": ..., "text": ...}`); `none` when nil.
    ///   - addGenerationPrompt: append the header that starts the assistant's turn.
    ///   - specialTokens: the tokenizer's named special tokens (`bos_token`, `eos_token`, ...).
    ///   - extraContext: further template variables (`chat_template_kwargs` such as
    ///     `enable_thinking`); they override special tokens of the same name.
    ///   - limits: bounds on the render.
    ///   - clock: the time `strftime_now` reads.
    public func render(
        messages: [JinjaValue],
        tools: [JinjaValue]? = nil,
        documents: [JinjaValue]? = nil,
        addGenerationPrompt: Bool = false,
        specialTokens: [String: String] = [:],
        extraContext: [String: JinjaValue] = [:],
        limits: JinjaTemplate.Limits = JinjaTemplate.Limits(),
        clock: RenderClock = RenderClock()
    ) throws(ChatTemplateError) -> String {
        if let clash = extraContext.keys.sorted().first(where: Self.reservedNames.contains) {
            throw .invalidArgument("'\(clash)' is set by the renderer and cannot be passed as an extra template variable")
        }
        var context = JinjaObject()
        for name in specialTokens.keys.sorted() { context[name] = .string(specialTokens[name]!) }
        for name in extraContext.keys.sorted() { context[name] = extraContext[name]! }
        context["messages"] = .array(try messages.enumerated().map { index, message throws(ChatTemplateError) in
            try Self.prepare(message, at: index)
        })
        context["tools"] = tools.map { JinjaValue.array($0) } ?? JinjaValue.none
        context["documents"] = documents.map { JinjaValue.array($0) } ?? JinjaValue.none
        context["add_generation_prompt"] = .bool(addGenerationPrompt)
        return try template.render(context, limits: limits, clock: clock)
    }

    private static let reasoningFields = ["reasoning_content", "thinking", "reasoning"]

    /// transformers' `_normalize_chat_messages` and `_alias_reasoning_fields`.
    static func prepare(_ message: JinjaValue, at index: Int) throws(ChatTemplateError) -> JinjaValue {
        guard case .object(let fields) = message else {
            throw .invalidArgument("message \(index) is a \(message.typeName), not an object with 'role' and 'content'")
        }
        var kept = JinjaObject()
        for (key, value) in fields {
            if case .none = value { continue }
            kept[key] = value
        }
        guard let reasoning = reasoningFields.lazy.compactMap({ kept[$0] }).first else { return .object(kept) }
        var aliased = JinjaObject()
        aliased["thinking"] = reasoning
        for (key, value) in kept { aliased[key] = value }
        aliased["reasoning_content"] = reasoning
        return .object(aliased)
    }
}
