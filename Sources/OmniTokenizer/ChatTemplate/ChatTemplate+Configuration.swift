/// A model directory's chat template and the special tokens it reads, from the tokenizer
/// configuration (tokenizer_config.json, chat_template.jinja, chat_template.json).
extension ChatTemplate {
    /// The template transformers picks for this configuration (the one named, else `tool_use`
    /// when tools are given, else `default`), parsed.
    public init(configuration: TokenizerConfiguration, named name: String? = nil, hasTools: Bool = false) throws(ChatTemplateError) {
        guard let source = configuration.chatTemplate(named: name, hasTools: hasTools) else {
            let available = configuration.chatTemplates.keys.sorted().joined(separator: ", ")
            throw .missingTemplate(
                name.map { "the model has no chat template named '\($0)' (it has: \(available.isEmpty ? "none" : available))" }
                    ?? "the model directory has no chat template: add chat_template.jinja, or a chat_template field to tokenizer_config.json")
        }
        try self.init(source: source)
    }
}

extension TokenizerConfiguration {
    /// The named special tokens a chat template can read (`bos_token`, `eos_token`, `unk_token`,
    /// `pad_token`), as transformers passes its `special_tokens_map` to `apply_chat_template`.
    public var chatTemplateSpecialTokens: [String: String] {
        var tokens: [String: String] = [:]
        tokens["bos_token"] = bosToken?.content
        tokens["eos_token"] = eosToken?.content
        tokens["unk_token"] = unkToken?.content
        tokens["pad_token"] = padToken?.content
        return tokens
    }
}
