import Foundation
import Testing
@testable import OmniTokenizer

/// Loading: what tokenizer_config.json and the chat-template files expose, and the errors a user
/// gets for files we cannot serve.
@Suite final class TokenizerLoadingTests {
    /// The directories a test made, removed when it ends (each test runs on its own instance).
    private var made: [URL] = []
    deinit { for dir in made { try? FileManager.default.removeItem(at: dir) } }

    private func temporaryDirectory(_ files: [String: String]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("omni-tok-\(UUID().uuidString)")
        made.append(dir)
        for (name, content) in files {
            let url = dir.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try content.write(to: url, atomically: true, encoding: .utf8)
        }
        return dir
    }

    private func tokenizerJSON(model: String = #"{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}"#) -> String {
        #"{"version":"1.0","added_tokens":[],"normalizer":null,"pre_tokenizer":null,"post_processor":null,"decoder":null,"model":\#(model)}"#
    }

    /// Config fields as transformers reads them: special tokens as strings or AddedToken
    /// objects, `model_max_length`, `add_bos_token`, a single chat template.
    @Test func readsConfigFields() throws {
        let config = try TokenizerConfiguration(directory: TokenizerFixtures.url("trained"))
        #expect(config.eosToken?.content == "<|im_end|>")
        #expect(config.bosToken == nil)
        #expect(config.padToken?.content == "<|endoftext|>")
        #expect(config.modelMaxLength == 32768)
        #expect(config.addBosToken == false)
        #expect(config.chatTemplates.keys.sorted() == ["default"])
        #expect(config.chatTemplate()?.hasPrefix("{% for message in messages %}") == true)
    }

    /// A list of named templates: `default` unless tools are given and `tool_use` exists.
    @Test func namedChatTemplatesFollowTransformersChoice() throws {
        let config = try TokenizerConfiguration(directory: TokenizerFixtures.url("trained-llama3"))
        #expect(config.chatTemplates.keys.sorted() == ["default", "tool_use"])
        #expect(config.chatTemplate()?.hasPrefix("{% for") == true)
        #expect(config.chatTemplate(hasTools: true) == "{{ tools }}")
        #expect(config.chatTemplate(named: "tool_use") == "{{ tools }}")
        #expect(config.chatTemplate(named: "missing") == nil)
    }

    /// `chat_template.jinja` (+ `additional_chat_templates/`) wins over tokenizer_config.json;
    /// `chat_template.json` is read when there is no .jinja file.
    @Test func chatTemplateFilesTakePrecedence() throws {
        let jinjaDir = try temporaryDirectory([
            "tokenizer_config.json": #"{"chat_template": "from config"}"#,
            "chat_template.jinja": "from jinja",
            "additional_chat_templates/rag.jinja": "rag template",
            "chat_template.json": #"{"chat_template": "from json"}"#,
        ])
        let fromJinja = try TokenizerConfiguration(directory: jinjaDir)
        #expect(fromJinja.chatTemplates == ["default": "from jinja", "rag": "rag template"])
        let jsonDir = try temporaryDirectory([
            "tokenizer_config.json": #"{"chat_template": "from config"}"#,
            "chat_template.json": #"{"chat_template": "from json"}"#,
        ])
        #expect(try TokenizerConfiguration(directory: jsonDir).chatTemplate() == "from json")
        let configOnly = try temporaryDirectory(["tokenizer_config.json": #"{"chat_template": "from config"}"#])
        #expect(try TokenizerConfiguration(directory: configOnly).chatTemplate() == "from config")
    }

    /// A model type other than BPE is refused with the file, the field and what is supported.
    @Test func unsupportedModelTypeNamesFileAndField() throws {
        let dir = try temporaryDirectory(["tokenizer.json": tokenizerJSON(model: #"{"type":"WordPiece","vocab":{}}"#)])
        #expect {
            _ = try PreTrainedTokenizer(directory: dir)
        } throws: { error in
            "\(error)" == #"tokenizer.json: model.type "WordPiece" is not supported; supported: BPE"#
        }
    }

    /// A missing tokenizer.json, bad JSON, a merge of unknown tokens and an unknown
    /// pre-tokenizer each give a typed error that says where.
    @Test func brokenFilesGiveTypedErrors() throws {
        let empty = try temporaryDirectory([:])
        #expect(throws: TokenizerError.missingFile(path: empty.appendingPathComponent("tokenizer.json").path)) {
            _ = try PreTrainedTokenizer(directory: empty)
        }
        #expect(throws: TokenizerError.self) { _ = try PreTrainedTokenizer(tokenizerJSON: Array("{\"model\": [".utf8)) }
        #expect(throws: TokenizerError.mergeTokenOutOfVocabulary(file: "tokenizer.json", token: "c")) {
            _ = try PreTrainedTokenizer(tokenizerJSON: Array(tokenizerJSON(model: #"{"type":"BPE","vocab":{"a":0},"merges":[["a","c"]]}"#).utf8))
        }
        let unknownPre = tokenizerJSON().replacingOccurrences(of: #""pre_tokenizer":null"#, with: #""pre_tokenizer":{"type":"BertPreTokenizer"}"#)
        #expect {
            _ = try PreTrainedTokenizer(tokenizerJSON: Array(unknownPre.utf8))
        } throws: { error in
            "\(error)".hasPrefix(#"tokenizer.json: pre_tokenizer.type "BertPreTokenizer" is not supported; supported: Sequence, Split"#)
        }
    }

    /// Both merges forms ("a b" and ["a", "b"]) load to the same model; without a decoder HF
    /// joins tokens with spaces.
    @Test func mergesInBothFormsAndNoDecoder() throws {
        let legacy = try PreTrainedTokenizer(tokenizerJSON: Array(tokenizerJSON().utf8))
        let pairs = try PreTrainedTokenizer(tokenizerJSON: Array(tokenizerJSON(model: #"{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":[["a","b"]]}"#).utf8))
        #expect(legacy.encode("abab") == [2, 2])
        #expect(pairs.encode("abab") == [2, 2])
        #expect(legacy.decode([2, 0, 1]) == "ab a b")
    }

    /// Vocabulary keys are compared byte for byte: "é" (U+00E9) and "e" + U+0301 are two tokens.
    @Test func canonicallyEquivalentTokensStayDistinct() throws {
        let model = #"{"type":"BPE","vocab":{"\u00e9":0,"e":1,"\u0301":2,"e\u0301":3},"merges":["e \u0301"]}"#
        let tokenizer = try PreTrainedTokenizer(tokenizerJSON: Array(tokenizerJSON(model: model).utf8))
        #expect(tokenizer.encode("\u{E9}") == [0])
        #expect(tokenizer.encode("e\u{301}") == [3])
        #expect(tokenizer.tokenID(for: "e\u{301}") == 3 && tokenizer.tokenID(for: "\u{E9}") == 0)
    }
}

/// The tiktoken route on a hand-made ranks file, where the expected BPE can be worked out.
@Suite final class TiktokenRanksTests {
    /// The directories a test made, removed when it ends (each test runs on its own instance).
    private var made: [URL] = []
    deinit { for dir in made { try? FileManager.default.removeItem(at: dir) } }

    private func ranksDirectory(config: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("omni-tiktoken-\(UUID().uuidString)")
        made.append(dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // All 256 bytes, then "ab" (256), "abc" (257), "bc" (258), " a" (259).
        var lines = (0..<256).map { "\(Data([UInt8($0)]).base64EncodedString()) \($0)" }
        for (i, token) in ["ab", "abc", "bc", " a"].enumerated() {
            lines.append("\(Data(token.utf8).base64EncodedString()) \(256 + i)")
        }
        try lines.joined(separator: "\n").write(to: dir.appendingPathComponent("test.tiktoken"), atomically: true, encoding: .utf8)
        try config.write(to: dir.appendingPathComponent("tokenizer_config.json"), atomically: true, encoding: .utf8)
        return dir
    }

    /// Merges follow the merged token's rank (" a" loses to "ab"), `ignore_merges` takes whole
    /// vocabulary words, and special tokens are matched before BPE.
    @Test func buildsTikTokenConverterBPE() throws {
        let dir = try ranksDirectory(config: "{}")
        let tokenizer = try PreTrainedTokenizer(
            tiktokenRanks: dir.appendingPathComponent("test.tiktoken"), specialTokens: [("<|end|>", 300)],
            configuration: TokenizerConfiguration(directory: dir))
        #expect(tokenizer.encode("abc", addSpecialTokens: false) == [257])      // a whole word in the vocabulary
        #expect(tokenizer.encode("abcb", addSpecialTokens: false) == [257, 98])  // a+b (256) first, then ab+c
        #expect(tokenizer.encode("bcb", addSpecialTokens: false) == [258, 98])
        #expect(tokenizer.encode("x abc<|end|> ac", addSpecialTokens: false) == [120, 32, 257, 300, 259, 99])
        #expect(tokenizer.decode([120, 32, 257, 300, 259, 99], skipSpecialTokens: true) == "x abc ac")
        #expect(tokenizer.vocabularySize == 261)
    }

    /// Without a tokenizer.json, `add_bos_token` / `add_eos_token` decide what
    /// `addSpecialTokens` adds, as in transformers' `update_post_processor`.
    @Test func configAddsBosAndEosWithoutTokenizerJSON() throws {
        let dir = try ranksDirectory(config: #"{"bos_token": "<|bos|>", "eos_token": "<|end|>", "add_bos_token": true, "add_eos_token": true}"#)
        let tokenizer = try PreTrainedTokenizer(
            tiktokenRanks: dir.appendingPathComponent("test.tiktoken"), specialTokens: [("<|bos|>", 299), ("<|end|>", 300)],
            configuration: TokenizerConfiguration(directory: dir))
        #expect(tokenizer.encode("ab") == [299, 256, 300])
        #expect(tokenizer.encode("ab", addSpecialTokens: false) == [256])
    }
}
