import Foundation
@testable import OmniTokenizer

/// Tests/Fixtures/tokenizer, written by tools/reference/make_tokenizer_fixtures.py from HF
/// `transformers` 5 / `tokenizers` 0.23.
enum TokenizerFixtures {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tokenizer")

    static let trainedVariants = ["trained", "trained-llama3", "trained-gpt2", "trained-metaspace", "trained-fallback"]

    static func url(_ path: String) -> URL { root.appendingPathComponent(path) }

    static let corpus: [String] = {
        // JSONDecoder keeps strings exactly as written (no normalization).
        try! JSONDecoder().decode([String].self, from: Data(contentsOf: url("corpus.json")))
    }()

    static func golden(_ variant: String) throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: Data(contentsOf: url("\(variant)/golden.json")))
    }

    static func tokenizer(_ variant: String) throws -> PreTrainedTokenizer {
        try PreTrainedTokenizer(directory: url(variant))
    }

    struct Golden: Decodable {
        struct Entry: Decodable {
            var ids: [Int]
            /// HF `decode(ids)` when it differs from the corpus text.
            var decoded: String?
            /// HF `decode(ids, skip_special_tokens=True)` when it differs from `decoded`.
            var decoded_skip: String?
            /// HF `encode(text)` (add_special_tokens=True), for some entries.
            var ids_special: [Int]?
        }
        struct RandomSequence: Decodable {
            var ids: [Int]
            var decoded: String
            var decoded_skip: String
        }
        struct SpecialToken: Decodable {
            var content: String
            var id: Int
            init(from decoder: any Decoder) throws {
                var c = try decoder.unkeyedContainer()
                content = try c.decode(String.self)
                id = try c.decode(Int.self)
            }
        }
        var entries: [Entry]
        var random: [RandomSequence]
        var vocab_size: Int
        var bos_token_id: Int?
        var eos_token_id: Int?
        var pad_token_id: Int?
        var special_tokens: [SpecialToken]?
        var pattern: String?
        var ranks_file: String?
    }

    /// Streams `ids` through a fresh detokenizer and returns the pieces it emitted.
    static func stream(_ tokenizer: PreTrainedTokenizer, _ ids: [Int], skipSpecialTokens: Bool = false) -> [String] {
        var detokenizer = tokenizer.makeIncrementalDetokenizer(skipSpecialTokens: skipSpecialTokens)
        var pieces = ids.map { detokenizer.append($0) }
        pieces.append(detokenizer.finish())
        return pieces
    }

    /// A readable description of the first difference between two id lists.
    static func firstDifference(_ a: [Int], _ b: [Int]) -> String {
        let i = (0..<min(a.count, b.count)).first(where: { a[$0] != b[$0] }) ?? min(a.count, b.count)
        return "first difference at \(i): ours \(Array(a[i..<min(a.count, i + 6)])) vs HF \(Array(b[i..<min(b.count, i + 6)])) (lengths \(a.count) vs \(b.count))"
    }
}
