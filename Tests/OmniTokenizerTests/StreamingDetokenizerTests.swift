import Foundation
import Testing
@testable import OmniTokenizer

/// Properties of the incremental detokenizer beyond the HF comparisons of the fidelity suites.
@Suite struct StreamingDetokenizerTests {
    /// Text is released as soon as it is final: after every prefix whose full decode does not end
    /// in a held-back partial character, the pieces so far equal `decode(prefix)` (byte-level
    /// layouts without clean-up), and no piece holds a U+FFFD that the full decode does not have.
    @Test(arguments: ["trained", "trained-llama3"])
    func releasesTextAsSoonAsCharactersComplete(variant: String) throws {
        let tokenizer = try TokenizerFixtures.tokenizer(variant)
        for text in TokenizerFixtures.corpus where !text.isEmpty {
            let ids = tokenizer.encode(text, addSpecialTokens: false)
            let full = tokenizer.decode(ids)
            var detokenizer = tokenizer.makeIncrementalDetokenizer()
            var streamed = ""
            for k in ids.indices {
                streamed += detokenizer.append(ids[k])
                let prefix = tokenizer.decode(Array(ids[...k]))
                if !prefix.unicodeScalars.contains("\u{FFFD}") {
                    #expect(streamed == prefix, "\(variant): after \(k + 1) of \(ids.count) ids of \(text.debugDescription)")
                } else {
                    #expect(!streamed.unicodeScalars.contains("\u{FFFD}") || full.unicodeScalars.contains("\u{FFFD}"))
                }
            }
            streamed += detokenizer.finish()
            #expect(streamed == full)
        }
    }

    /// A character split over byte tokens is not emitted until its last byte arrives.
    @Test func holdsPartialCharacter() throws {
        let tokenizer = try TokenizerFixtures.tokenizer("trained")
        // "𝄞" is four bytes the tiny trained vocabulary has never seen: one token per byte.
        let ids = tokenizer.encode("𝄞", addSpecialTokens: false)
        try #require(ids.count >= 2)
        var detokenizer = tokenizer.makeIncrementalDetokenizer()
        for id in ids.dropLast() { #expect(detokenizer.append(id) == "") }
        #expect(detokenizer.append(ids.last!) == "𝄞")
        #expect(detokenizer.finish() == "")
    }

    /// An unfinished character at the end becomes U+FFFD on `finish`, as in HF's decode.
    @Test func finishReplacesUnfinishedCharacter() throws {
        let tokenizer = try TokenizerFixtures.tokenizer("trained")
        let ids = tokenizer.encode("a𝄞", addSpecialTokens: false)
        try #require(ids.count >= 3)
        let truncated = Array(ids.dropLast())
        let pieces = TokenizerFixtures.stream(tokenizer, truncated)
        #expect(pieces.joined() == tokenizer.decode(truncated))
        #expect(pieces.last?.unicodeScalars.last == "\u{FFFD}")
        #expect(!pieces.dropLast().joined().unicodeScalars.contains("\u{FFFD}"))
    }

    /// Ids outside the vocabulary (negative, just past it, huge) decode to nothing and do not
    /// disturb the text around them, in `decode` and in streaming.
    @Test(arguments: TokenizerFixtures.trainedVariants)
    func idsBeyondVocabularyDecodeToNothing(variant: String) throws {
        let tokenizer = try TokenizerFixtures.tokenizer(variant)
        let ids = tokenizer.encode("Hello world 😀 你好", addSpecialTokens: false)
        let junk = [-1, tokenizer.vocabularySize, tokenizer.vocabularySize + 7, Int(Int32.max), Int.max]
        var mixed: [Int] = []
        for (i, id) in ids.enumerated() { mixed.append(id); mixed.append(junk[i % junk.count]) }
        #expect(tokenizer.decode(mixed) == tokenizer.decode(ids))
        #expect(TokenizerFixtures.stream(tokenizer, mixed).joined() == tokenizer.decode(ids))
        #expect(tokenizer.decode(junk) == "")
        #expect(tokenizer.token(for: Int.max) == nil && tokenizer.token(for: -1) == nil)
    }

    /// `clean_up_tokenization_spaces` on a stream: random texts over the characters its ten
    /// replacements involve, cut into random chunks, give the same text as the clean-up of the
    /// whole (Python's chained `str.replace`).
    @Test func cleanUpStreamEqualsWholeCleanUp() {
        var rng = SplitMix(seed: 7)
        let alphabet: [Unicode.Scalar] = [" ", " ", " ", "'", "'", "n", "t", "s", "m", "v", "e", "r", ".", "?", "!", ",", "x"]
        for _ in 0..<3000 {
            let text = (0..<Int(rng.next() % 24)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            var stream = CleanupStream()
            var out: [Unicode.Scalar] = []
            var i = 0
            while i < text.count {
                let n = 1 + Int(rng.next() % 4)
                out += stream.feed(Array(text[i..<min(text.count, i + n)]), final: false)
                i += n
            }
            out += stream.feed([], final: true)
            #expect(out == CleanupStream.cleanUp(text), "\(Normalizer.string(text).debugDescription)")
        }
    }

    /// Python's `clean_up_tokenization` on fixed examples (values computed with Python).
    @Test func cleanUpMatchesPythonExamples() {
        let cases: [(String, String)] = [
            ("Hello , world !", "Hello, world!"), ("I do n't know", "I don't know"), ("it 's  . x", "it's . x"),
            (" ' s", "'s"), ("a ' ' b", "a'' b"), ("  .", " ."),
        ]
        for (input, expected) in cases {
            #expect(Normalizer.string(CleanupStream.cleanUp(Array(input.unicodeScalars))) == expected, "\(input)")
        }
    }
}

/// A small deterministic generator for property tests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
