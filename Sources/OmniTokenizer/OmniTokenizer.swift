/// Tokenizers (tokenizer.json byte-level BPE, added/special tokens), the incremental
/// detokenizer and Jinja chat templates live in this module (DESIGN.md §2). It builds with the
/// text-generation issue; until then it declares only the seam the engine will depend on.
public protocol Tokenizer: Sendable {
    func encode(_ text: String, addSpecialTokens: Bool) throws -> [Int]
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String
}
