/// Text <-> token ids, as the engine, the server and the chat templates need it (DESIGN.md §2).
/// `PreTrainedTokenizer` is the implementation: Hugging Face's tokenizer.json + tokenizer_config.json.
public protocol Tokenizer: Sendable {
    /// The ids of `text`; with `addSpecialTokens`, the post-processor's tokens around them
    /// (transformers' `encode(text, add_special_tokens=...)`).
    func encode(_ text: String, addSpecialTokens: Bool) -> [Int]
    /// The text of `ids` (transformers' `decode`). Ids outside the vocabulary are skipped.
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String
    /// A decoder for ids that arrive one at a time; its pieces add up to `decode(ids)`.
    func makeStreamingDetokenizer(skipSpecialTokens: Bool) -> any StreamingDetokenizer

    /// The id of a token's text (added tokens first, then the model's vocabulary).
    func tokenID(for token: String) -> Int?
    /// The text of one token as stored in the vocabulary (byte-level form for byte-level BPE).
    func token(for id: Int) -> String?
    /// Model vocabulary plus added tokens (Python's `len(tokenizer)`).
    var vocabularySize: Int { get }
    var bosTokenID: Int? { get }
    var eosTokenID: Int? { get }
    var padTokenID: Int? { get }
    var unkTokenID: Int? { get }
    /// tokenizer_config.json and the chat-template files: special tokens, `model_max_length`,
    /// chat templates.
    var configuration: TokenizerConfiguration { get }
}

extension Tokenizer {
    public func encode(_ text: String) -> [Int] { encode(text, addSpecialTokens: true) }
    public func decode(_ ids: [Int]) -> String { decode(ids, skipSpecialTokens: false) }
}
