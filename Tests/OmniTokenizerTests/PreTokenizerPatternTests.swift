import Foundation
import Testing
@testable import OmniTokenizer

/// The hand-written matchers of the Qwen2, Llama-3, GPT-2 and Qwen3.5 pre-tokenizer regexes
/// against HF's `Split(Regex(...), "isolated")` (Oniguruma) on 400 random strings drawn from
/// tricky characters (contraction letters incl. ſ and K, every kind of whitespace, marks,
/// digits of several scripts, emoji with ZWJ and skin tones).
@Suite struct PreTokenizerPatternTests {
    struct Golden: Decodable {
        var strings: [String]
        var qwen2: [[Int]]
        var llama3: [[Int]]
        var gpt2: [[Int]]
        var qwen35: [[Int]]
    }

    static let golden: Golden = try! JSONDecoder().decode(
        Golden.self, from: Data(contentsOf: TokenizerFixtures.url("pretokenizer/golden.json")))

    /// Compares the scalar lengths of the pieces our matcher cuts with HF's, string by string.
    @Test(arguments: ["qwen2", "llama3", "gpt2", "qwen35"])
    func piecesMatchOniguruma(pattern: String) throws {
        let (regex, expected): (String, [[Int]]) = switch pattern {
        case "qwen2": (PreTokenizerRegex.qwen2, Self.golden.qwen2)
        case "llama3": (PreTokenizerRegex.llama3, Self.golden.llama3)
        case "gpt2": (PreTokenizerRegex.gpt2, Self.golden.gpt2)
        default: (PreTokenizerRegex.qwen35, Self.golden.qwen35)
        }
        let splitter = try #require(WordSplitter(pattern: regex))
        for (string, lengths) in zip(Self.golden.strings, expected) {
            let text = Array(string.unicodeScalars)
            let pieces = SplitPattern.words(splitter).pieces(of: text).map { $0.range.count }.filter { $0 > 0 }
            #expect(pieces == lengths, "\(pattern): \(string.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    /// Swift Regex, which the fallback uses, agrees with our matcher on the corpus for the
    /// Qwen2 pattern (a cross-check of the fallback path, not of HF).
    @Test func fallbackRegexAgreesWithMatcherOnCorpus() throws {
        let regex = try FallbackRegex(pattern: PreTokenizerRegex.qwen2)
        for text in TokenizerFixtures.corpus {
            let scalars = Array(text.unicodeScalars)
            #expect(regex.matches(in: scalars) == WordSplitter.qwen2.matches(in: scalars), "\(text.debugDescription)")
        }
    }
}

/// `\p{L}`, `\p{N}`, `\p{M}` and `\s` as Oniguruma in HF `tokenizers` has them, for every
/// Unicode scalar. The stdlib's tables are newer (Unicode 17 in Swift 6.3, 16 in Oniguruma), so
/// scalars assigned after Unicode 16 must count as unassigned for the splits to agree.
@Suite struct ScalarClassTests {
    struct Ranges: Decodable { var L: [[UInt32]]; var N: [[UInt32]]; var M: [[UInt32]]; var S: [[UInt32]] }

    @Test func classesMatchOnigurumaForEveryScalar() throws {
        let ranges = try JSONDecoder().decode(
            Ranges.self, from: Data(contentsOf: TokenizerFixtures.url("pretokenizer/unicode_classes.json")))
        for (name, list, predicate) in [
            ("L", ranges.L, ScalarClass.isLetter), ("N", ranges.N, ScalarClass.isNumber),
            ("M", ranges.M, ScalarClass.isMark), ("S", ranges.S, ScalarClass.isWhitespace),
        ] as [(String, [[UInt32]], (Unicode.Scalar) -> Bool)] {
            var expected = [Bool](repeating: false, count: 0x110000)
            for r in list { for v in r[0]...r[1] { expected[Int(v)] = true } }
            var mismatches: [String] = []
            for v in 0..<UInt32(0x110000) {
                guard let s = Unicode.Scalar(v) else { continue }
                if predicate(s) != expected[Int(v)] { mismatches.append(String(v, radix: 16)) }
            }
            #expect(mismatches.isEmpty, "\\p{\(name)}: \(mismatches.count) scalars differ, first \(mismatches.prefix(10))")
        }
    }
}
