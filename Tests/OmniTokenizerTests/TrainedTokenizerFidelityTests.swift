import Foundation
import Testing
@testable import OmniTokenizer

/// Small BPE tokenizers trained with HF `tokenizers` in five layouts (Qwen2, Llama-3, GPT-2,
/// Llama-2/Metaspace with byte fallback, an unknown regex), each checked on the whole corpus
/// against the ids and strings `transformers.AutoTokenizer` produced.
@Suite struct TrainedTokenizerFidelityTests {
    /// Compares `encode(text, addSpecialTokens: false)` with HF's ids, entry by entry.
    @Test(arguments: TokenizerFixtures.trainedVariants)
    func encodeMatchesHFOnCorpus(variant: String) throws {
        let tokenizer = try TokenizerFixtures.tokenizer(variant)
        let golden = try TokenizerFixtures.golden(variant)
        #expect(golden.entries.count == TokenizerFixtures.corpus.count && golden.entries.count > 100)
        for (text, entry) in zip(TokenizerFixtures.corpus, golden.entries) {
            let ids = tokenizer.encode(text, addSpecialTokens: false)
            #expect(ids == entry.ids, "\(variant): \(text.debugDescription): \(TokenizerFixtures.firstDifference(ids, entry.ids))")
        }
    }

    /// Compares `encode(text)` (post-processor on: BOS for the Llama layouts) with HF's ids.
    @Test(arguments: TokenizerFixtures.trainedVariants)
    func encodeWithSpecialTokensMatchesHF(variant: String) throws {
        let tokenizer = try TokenizerFixtures.tokenizer(variant)
        let golden = try TokenizerFixtures.golden(variant)
        var checked = 0
        for (text, entry) in zip(TokenizerFixtures.corpus, golden.entries) {
            guard let expected = entry.ids_special else { continue }
            #expect(tokenizer.encode(text) == expected, "\(variant): \(text.debugDescription)")
            checked += 1
        }
        #expect(checked > 5)
    }

    /// Compares `decode(ids)` and `decode(ids, skipSpecialTokens: true)` with HF's strings.
    @Test(arguments: TokenizerFixtures.trainedVariants)
    func decodeMatchesHFOnCorpus(variant: String) throws {
        let tokenizer = try TokenizerFixtures.tokenizer(variant)
        let golden = try TokenizerFixtures.golden(variant)
        for (text, entry) in zip(TokenizerFixtures.corpus, golden.entries) {
            let expected = entry.decoded ?? text
            let expectedSkip = entry.decoded_skip ?? expected
            #expect(Array(tokenizer.decode(entry.ids).unicodeScalars) == Array(expected.unicodeScalars),
                    "\(variant): decode of \(text.debugDescription)")
            #expect(Array(tokenizer.decode(entry.ids, skipSpecialTokens: true).unicodeScalars) == Array(expectedSkip.unicodeScalars),
                    "\(variant): decode(skip) of \(text.debugDescription)")
        }
    }

    /// Decodes random id sequences (broken UTF-8, special tokens, ids past the vocabulary) and
    /// compares with HF's strings, U+FFFD for U+FFFD.
    @Test(arguments: TokenizerFixtures.trainedVariants)
    func decodeOfRandomIDsMatchesHF(variant: String) throws {
        let tokenizer = try TokenizerFixtures.tokenizer(variant)
        for sequence in try TokenizerFixtures.golden(variant).random {
            #expect(Array(tokenizer.decode(sequence.ids).unicodeScalars) == Array(sequence.decoded.unicodeScalars), "\(variant): \(sequence.ids)")
            #expect(Array(tokenizer.decode(sequence.ids, skipSpecialTokens: true).unicodeScalars) == Array(sequence.decoded_skip.unicodeScalars),
                    "\(variant): skip \(sequence.ids)")
        }
    }

    /// The concatenation of the streaming detokenizer's pieces equals HF's `decode(ids)` for
    /// every corpus entry and every random sequence, with and without special tokens.
    @Test(arguments: TokenizerFixtures.trainedVariants)
    func streamingConcatenationEqualsHFDecode(variant: String) throws {
        let tokenizer = try TokenizerFixtures.tokenizer(variant)
        let golden = try TokenizerFixtures.golden(variant)
        var cases: [(ids: [Int], decoded: String, skip: String)] = []
        for (text, entry) in zip(TokenizerFixtures.corpus, golden.entries) {
            let decoded = entry.decoded ?? text
            cases.append((entry.ids, decoded, entry.decoded_skip ?? decoded))
        }
        cases += golden.random.map { ($0.ids, $0.decoded, $0.decoded_skip) }
        for c in cases {
            let pieces = TokenizerFixtures.stream(tokenizer, c.ids)
            #expect(Array(pieces.joined().unicodeScalars) == Array(c.decoded.unicodeScalars), "\(variant): \(c.ids)")
            let skipped = TokenizerFixtures.stream(tokenizer, c.ids, skipSpecialTokens: true)
            #expect(Array(skipped.joined().unicodeScalars) == Array(c.skip.unicodeScalars), "\(variant): skip \(c.ids)")
        }
    }

    /// Vocabulary size with added tokens (`len(tokenizer)`) and the bos/eos/pad ids match HF.
    @Test(arguments: TokenizerFixtures.trainedVariants)
    func vocabularyAndSpecialIDsMatchHF(variant: String) throws {
        let tokenizer = try TokenizerFixtures.tokenizer(variant)
        let golden = try TokenizerFixtures.golden(variant)
        #expect(tokenizer.vocabularySize == golden.vocab_size)
        #expect(tokenizer.bosTokenID == golden.bos_token_id)
        #expect(tokenizer.eosTokenID == golden.eos_token_id)
        #expect(tokenizer.padTokenID == golden.pad_token_id)
    }

    /// The hand-written pre-tokenizer patterns load without the Swift Regex fallback; the
    /// unknown one falls back and says so.
    @Test func onlyUnknownRegexFallsBackWithWarning() throws {
        for variant in TokenizerFixtures.trainedVariants {
            let warnings = try TokenizerFixtures.tokenizer(variant).warnings
            if variant == "trained-fallback" {
                #expect(warnings.count == 1 && warnings[0].contains("Swift Regex"))
            } else {
                #expect(warnings.isEmpty, "\(variant): \(warnings)")
            }
        }
    }
}
