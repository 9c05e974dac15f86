import Foundation

/// A Hugging Face tokenizer: tokenizer.json (BPE model, normalizer, pre-tokenizer, added tokens,
/// post-processor, decoder) with tokenizer_config.json on top, giving the ids and text that
/// `transformers.AutoTokenizer` gives.
public final class PreTrainedTokenizer: Tokenizer {
    public let configuration: TokenizerConfiguration
    /// Things that loaded but may not match HF exactly (an unknown pre-tokenizer regex run by
    /// Swift `Regex`). Empty for the tokenizers of the Qwen, Llama-3 and GPT-2 families.
    public let warnings: [String]
    public let bosTokenID: Int?
    public let eosTokenID: Int?
    public let padTokenID: Int?
    public let unkTokenID: Int?

    let model: BPEModel
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let postProcessor: PostProcessor
    let added: AddedVocabulary
    private let decoding: DecodingVocabulary

    /// Loads `tokenizer.json`, `tokenizer_config.json` and the chat-template files of a model
    /// directory.
    public convenience init(directory: URL) throws(TokenizerError) {
        let url = directory.appendingPathComponent("tokenizer.json")
        guard FileManager.default.fileExists(atPath: url.path) else { throw TokenizerError.missingFile(path: url.path) }
        try self.init(tokenizerJSON: try TokenizerFile.read(url), configuration: try TokenizerConfiguration(directory: directory))
    }

    /// Builds a tokenizer from the bytes of a tokenizer.json.
    public convenience init(tokenizerJSON bytes: [UInt8], configuration: TokenizerConfiguration = .init()) throws(TokenizerError) {
        let file = "tokenizer.json"
        let json = try JSONValue.parse(bytes, file: file)
        var warnings: [String] = []
        guard let modelJSON = json["model"] else {
            throw TokenizerError.invalidField(file: file, field: "model", expected: "an object")
        }
        let model = try BPEModel.from(json: modelJSON, file: file)
        func component<T>(_ key: String, _ make: (JSONValue) throws(TokenizerError) -> T) throws(TokenizerError) -> T? {
            guard let value = json[key], !value.isNull else { return nil }
            return try make(value)
        }
        let normalizer = try component("normalizer") { v throws(TokenizerError) in try Normalizer.from(json: v, file: file, field: "normalizer", warnings: &warnings) }
        let preTokenizer = try component("pre_tokenizer") { v throws(TokenizerError) in try PreTokenizer.from(json: v, file: file, field: "pre_tokenizer", warnings: &warnings) }
        let postProcessor = try component("post_processor") { v throws(TokenizerError) in try PostProcessor.from(json: v, file: file, field: "post_processor") }
        let steps = try component("decoder") { v throws(TokenizerError) in try DecodeStep.steps(json: v, file: file, field: "decoder", warnings: &warnings) }
        var addedTokens: [AddedToken] = []
        for (i, item) in (json["added_tokens"]?.array ?? []).enumerated() {
            guard let id = item["id"]?.int else {
                throw TokenizerError.invalidField(file: file, field: "added_tokens[\(i)].id", expected: "an integer")
            }
            addedTokens.append(try AddedToken.from(json: item, id: id, file: file, field: "added_tokens[\(i)]"))
        }
        // A null post-processor stays null: with tokenizer.json present transformers 5 drops
        // add_bos_token / add_eos_token before building its own.
        self.init(model: model, normalizer: normalizer, preTokenizer: preTokenizer, postProcessor: postProcessor ?? PostProcessor.none,
                  decodeSteps: steps, addedTokens: addedTokens, configuration: configuration, warnings: warnings)
    }

    /// Builds the tokenizer transformers' `TikTokenConverter` makes from a tiktoken ranks file
    /// (e.g. `qwen.tiktoken`): a `Split` on `pattern` (isolated) then byte-level mapping, the
    /// ranks as BPE with `ignore_merges`, `specialTokens` as special added tokens, a ByteLevel
    /// decoder; plus an NFC normalizer when `normalizesNFC` (Qwen normalizes its input to NFC).
    /// With no tokenizer.json, `add_bos_token` / `add_eos_token` of the configuration decide what
    /// `addSpecialTokens` adds (transformers' `update_post_processor`).
    public convenience init(
        tiktokenRanks url: URL, pattern: String = PreTokenizerRegex.qwen2,
        specialTokens: [(content: String, id: Int)], normalizesNFC: Bool = true,
        configuration: TokenizerConfiguration = .init()
    ) throws(TokenizerError) {
        let file = url.lastPathComponent
        let model = try TiktokenRanks.model(ranks: try TiktokenRanks.read(try TokenizerFile.read(url), file: file), file: file)
        var warnings: [String] = []
        let split = try SplitPattern.from(json: .object([("Regex", .string(pattern))]), file: file, field: "pattern", warnings: &warnings)
        self.init(
            model: model, normalizer: normalizesNFC ? .nfc : nil,
            preTokenizer: .sequence([.split(split, behavior: .isolated, invert: false), .byteLevel(addPrefixSpace: false, useRegex: false)]),
            postProcessor: nil, decodeSteps: [.byteLevel],
            addedTokens: specialTokens.map { AddedToken(id: $0.id, content: $0.content, isSpecial: true, normalized: false) },
            configuration: configuration, warnings: warnings)
    }

    private init(
        model: BPEModel, normalizer: Normalizer?, preTokenizer: PreTokenizer?, postProcessor: PostProcessor?,
        decodeSteps: [DecodeStep]?, addedTokens: [AddedToken], configuration: TokenizerConfiguration, warnings: [String]
    ) {
        var added = AddedVocabulary()
        // tokenizer.json's list; a token whose text the model has takes the model's id, as in HF.
        added.add(addedTokens.map { t in var t = t; t.id = model.id(of: t.content) ?? t.id; return t }, normalizer: normalizer)
        // transformers then adds tokenizer_config.json's `added_tokens_decoder` entries (new flags
        // win) and the named special tokens that are not added tokens yet (the flags of one that
        // is stay as they are, as transformers 5 leaves them).
        func nextID() -> Int {
            let vocabSize = model.vocab.count
            guard let maxAdded = added.tokens.map(\.id).max() else { return vocabSize }
            return maxAdded >= vocabSize || vocabSize == 0 ? maxAdded + 1 : vocabSize
        }
        func existingID(_ content: String) -> Int? { added.id(of: content) ?? model.id(of: content) }
        for t in configuration.addedTokensDecoder {
            var t = t
            t.id = existingID(t.content) ?? nextID()
            added.add([t], normalizer: normalizer)
        }
        let named = [configuration.bosToken, configuration.eosToken, configuration.unkToken, configuration.padToken].compactMap { $0 }
            + configuration.extraSpecialTokens
        for s in named where added.id(of: s.content) == nil {
            let token = AddedToken(id: existingID(s.content) ?? nextID(), content: s.content, isSpecial: true,
                                   lstrip: s.lstrip, rstrip: s.rstrip, normalized: s.normalized, singleWord: s.singleWord)
            added.add([token], normalizer: normalizer)
        }
        added.encodeSpecialTokens = configuration.splitSpecialTokens

        self.model = model
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.added = added
        self.configuration = configuration
        self.warnings = warnings
        func id(_ s: TokenizerConfiguration.SpecialToken?) -> Int? { s.flatMap { existingID($0.content) } }
        bosTokenID = id(configuration.bosToken)
        eosTokenID = id(configuration.eosToken)
        padTokenID = id(configuration.padToken)
        unkTokenID = id(configuration.unkToken)
        // transformers 5 ignores add_bos_token/add_eos_token when tokenizer.json has a
        // post-processor; without one it builds `bos? $A eos?` from them.
        self.postProcessor = postProcessor ?? .bosEos(
            bos: configuration.addBosToken == true ? bosTokenID : nil,
            eos: configuration.addEosToken == true ? eosTokenID : nil)
        // transformers 5 skips the clean-up for BPE models unless told to corrupt the output.
        let cleansUp = configuration.cleanUpTokenizationSpaces && configuration.cleanUpTokenizationSpacesForBPE
        decoding = DecodingVocabulary(model: model, added: added, steps: decodeSteps ?? [], cleansUpSpaces: cleansUp)
    }

    // MARK: Encoding

    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(text.utf8.count / 3)
        for segment in added.extractAndNormalize(Array(text.unicodeScalars), normalizer: normalizer) {
            switch segment {
            case .token(let id):
                ids.append(id)
            case .text(let scalars, let startsAtOrigin):
                var pieces = [TextPiece(text: scalars, startsAtOrigin: startsAtOrigin)]
                preTokenizer?.preTokenize(&pieces)
                for piece in pieces { model.tokenize(piece.text, into: &ids) }
            }
        }
        return addSpecialTokens ? postProcessor.process(ids) : ids
    }

    // MARK: Decoding

    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var detokenizer = IncrementalDetokenizer(vocabulary: decoding, skipSpecialTokens: skipSpecialTokens)
        var text = ""
        for id in ids { text += detokenizer.append(id) }
        return text + detokenizer.finish()
    }

    public func makeStreamingDetokenizer(skipSpecialTokens: Bool = false) -> any StreamingDetokenizer {
        makeIncrementalDetokenizer(skipSpecialTokens: skipSpecialTokens)
    }

    /// The concrete streaming detokenizer (no existential box).
    public func makeIncrementalDetokenizer(skipSpecialTokens: Bool = false) -> IncrementalDetokenizer {
        IncrementalDetokenizer(vocabulary: decoding, skipSpecialTokens: skipSpecialTokens)
    }

    // MARK: Vocabulary

    public func tokenID(for token: String) -> Int? { added.id(of: token) ?? model.id(of: token) }
    public func token(for id: Int) -> String? { added.text(of: id) ?? model.token(of: id) }

    public var vocabularySize: Int {
        model.vocab.count + added.tokens.filter { model.token(of: $0.id) == nil }.count
    }

    /// The added tokens (tokenizer.json `added_tokens` and what tokenizer_config.json adds).
    public var addedTokens: [AddedToken] { added.tokens.sorted { $0.id < $1.id } }

    /// Ids of the added tokens marked special (what `skipSpecialTokens` drops).
    public var specialTokenIDs: Set<Int> { Set(added.tokens.filter(\.isSpecial).map(\.id)) }
}
