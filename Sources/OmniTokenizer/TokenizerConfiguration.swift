import Foundation

/// What tokenizer_config.json (and the chat-template files beside it) say, as transformers reads
/// them. Every field is optional in the file; the defaults are transformers' (v5).
public struct TokenizerConfiguration: Sendable {
    /// A special token named in the config: its text, and its flags when given as an
    /// `AddedToken` object.
    public struct SpecialToken: Sendable, Equatable {
        public var content: String
        public var lstrip = false
        public var rstrip = false
        public var normalized = false
        public var singleWord = false
    }

    public var bosToken: SpecialToken?
    public var eosToken: SpecialToken?
    public var unkToken: SpecialToken?
    public var padToken: SpecialToken?
    /// `additional_special_tokens` / `extra_special_tokens` (list form).
    public var extraSpecialTokens: [SpecialToken] = []
    /// As written in the file. transformers 5 ignores both when tokenizer.json is present (the
    /// tokenizer.json post-processor decides what `addSpecialTokens` adds), and so do we.
    public var addBosToken: Bool?
    public var addEosToken: Bool?
    /// `model_max_length`; nil when absent (transformers' "very large" default).
    public var modelMaxLength: Int?
    /// `clean_up_tokenization_spaces` (default false).
    public var cleanUpTokenizationSpaces = false
    /// transformers 5 applies the clean-up to a BPE model only with this flag also set.
    public var cleanUpTokenizationSpacesForBPE = false
    /// `split_special_tokens`: special tokens in the text are encoded as plain text.
    public var splitSpecialTokens = false
    public var tokenizerClass: String?
    /// Chat templates by name; a single template is named "default". Sources, highest first:
    /// `chat_template.jinja` (+ `additional_chat_templates/*.jinja`), `chat_template.json`,
    /// tokenizer_config.json `chat_template` (a string, or a list of `{name, template}`).
    public var chatTemplates: [String: String] = [:]
    /// `added_tokens_decoder`, by id.
    var addedTokensDecoder: [AddedToken] = []

    public init() {}

    /// Reads `tokenizer_config.json` (if present) and the chat-template files of `directory`.
    public init(directory: URL) throws(TokenizerError) {
        let file = "tokenizer_config.json"
        let url = directory.appendingPathComponent(file)
        if FileManager.default.fileExists(atPath: url.path) {
            try self.init(json: JSONValue.parse(try TokenizerFile.read(url), file: file), file: file)
        } else {
            self.init()
        }
        try loadChatTemplateFiles(directory: directory)
    }

    init(json: JSONValue, file: String) throws(TokenizerError) {
        func special(_ key: String) throws(TokenizerError) -> SpecialToken? {
            guard let value = json[key], !value.isNull else { return nil }
            return try Self.specialToken(value, file: file, field: key)
        }
        bosToken = try special("bos_token")
        eosToken = try special("eos_token")
        unkToken = try special("unk_token")
        padToken = try special("pad_token")
        for key in ["additional_special_tokens", "extra_special_tokens"] {
            if let list = json[key]?.array {
                for (i, item) in list.enumerated() {
                    extraSpecialTokens.append(try Self.specialToken(item, file: file, field: "\(key)[\(i)]"))
                }
            }
        }
        addBosToken = json["add_bos_token"]?.bool
        addEosToken = json["add_eos_token"]?.bool
        if let max = json["model_max_length"]?.int, max < 1_000_000_000_000 { modelMaxLength = max }
        cleanUpTokenizationSpaces = json["clean_up_tokenization_spaces"]?.bool ?? false
        cleanUpTokenizationSpacesForBPE =
            json["clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output"]?.bool ?? false
        splitSpecialTokens = json["split_special_tokens"]?.bool ?? false
        tokenizerClass = json["tokenizer_class"]?.string
        if let decoder = json["added_tokens_decoder"]?.members {
            for (key, value) in decoder {
                guard let id = Int(key) else {
                    throw TokenizerError.invalidField(file: file, field: "added_tokens_decoder[\"\(key)\"]", expected: "keyed by an integer id")
                }
                addedTokensDecoder.append(try AddedToken.from(json: value, id: id, file: file, field: "added_tokens_decoder[\"\(key)\"]"))
            }
            addedTokensDecoder.sort { $0.id < $1.id }
        }
        if let template = json["chat_template"] {
            chatTemplates = try Self.templates(template, file: file, field: "chat_template")
        }
    }

    /// transformers' choice among named templates: the one asked for, else `tool_use` when tools
    /// are given, else `default`. nil when there is none to use.
    public func chatTemplate(named name: String? = nil, hasTools: Bool = false) -> String? {
        if let name { return chatTemplates[name] }
        if hasTools, let t = chatTemplates["tool_use"] { return t }
        return chatTemplates["default"]
    }

    private mutating func loadChatTemplateFiles(directory: URL) throws(TokenizerError) {
        var fromFiles: [String: String] = [:]
        let jinja = directory.appendingPathComponent("chat_template.jinja")
        if FileManager.default.fileExists(atPath: jinja.path) {
            fromFiles["default"] = String(decoding: try TokenizerFile.read(jinja), as: UTF8.self)
        }
        let extraDirectory = directory.appendingPathComponent("additional_chat_templates")
        if let names = try? FileManager.default.contentsOfDirectory(atPath: extraDirectory.path) {
            for name in names.sorted() where name.hasSuffix(".jinja") {
                let url = extraDirectory.appendingPathComponent(name)
                fromFiles[String(name.dropLast(".jinja".count))] = String(decoding: try TokenizerFile.read(url), as: UTF8.self)
            }
        }
        if fromFiles.isEmpty {
            let json = directory.appendingPathComponent("chat_template.json")
            if FileManager.default.fileExists(atPath: json.path) {
                let file = "chat_template.json"
                let value = try JSONValue.parse(try TokenizerFile.read(json), file: file)
                guard let template = value["chat_template"] else {
                    throw TokenizerError.invalidField(file: file, field: "chat_template", expected: "a string or a list of {name, template}")
                }
                fromFiles = try Self.templates(template, file: file, field: "chat_template")
            }
        }
        if !fromFiles.isEmpty { chatTemplates = fromFiles }
    }

    private static func templates(_ value: JSONValue, file: String, field: String) throws(TokenizerError) -> [String: String] {
        if value.isNull { return [:] }
        if let s = value.string { return ["default": s] }
        guard let list = value.array else {
            throw TokenizerError.invalidField(file: file, field: field, expected: "a string or a list of {name, template}")
        }
        var out: [String: String] = [:]
        for (i, item) in list.enumerated() {
            guard let name = item["name"]?.string, let template = item["template"]?.string else {
                throw TokenizerError.invalidField(file: file, field: "\(field)[\(i)]", expected: "{\"name\": ..., \"template\": ...}")
            }
            out[name] = template
        }
        return out
    }

    private static func specialToken(_ value: JSONValue, file: String, field: String) throws(TokenizerError) -> SpecialToken {
        if let s = value.string { return SpecialToken(content: s) }
        guard let content = value["content"]?.string else {
            throw TokenizerError.invalidField(file: file, field: field, expected: "a string or an AddedToken object with \"content\"")
        }
        let special = value["special"]?.bool ?? true
        return SpecialToken(
            content: content, lstrip: value["lstrip"]?.bool ?? false, rstrip: value["rstrip"]?.bool ?? false,
            normalized: value["normalized"]?.bool ?? !special, singleWord: value["single_word"]?.bool ?? false)
    }
}

/// Reads the files of a model directory, with errors that name the file.
enum TokenizerFile {
    static func read(_ url: URL) throws(TokenizerError) -> [UInt8] {
        do {
            return Array(try Data(contentsOf: url))
        } catch {
            throw TokenizerError.unreadableFile(path: url.path, detail: "\(error.localizedDescription)")
        }
    }
}
