import Foundation
import OmniEngine
import OmniPipeline
import OmniTokenizer
import Testing

private let demo = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../models/demo-qwen3").standardized.path

private func collect(_ stream: AsyncThrowingStream<SequenceOutput, Error>, n: Int = 1) async throws -> [(tokens: [Int], text: String, reason: FinishReason?)] {
    var out = [(tokens: [Int], text: String, reason: FinishReason?)](repeating: ([], "", nil), count: n)
    for try await delta in stream {
        out[delta.index].tokens += delta.newTokenIds
        out[delta.index].text += delta.text
        if let r = delta.finishReason { out[delta.index].reason = r }
    }
    return out
}

@Suite struct AsyncOmniTests {
    @Test func streamedTextEqualsDecodeOfTheTokens() async throws {
        let omni = try AsyncOmni(directory: demo)
        defer { omni.shutdown() }
        let prompt = try omni.chatPromptTokenIds(messages: [["role": "user", "content": "Hello, how are you?"]])
        let params = try SamplingParams(n: 3, temperature: 1.0, seed: 42, maxTokens: 24, ignoreEOS: true)
        let results = try await collect(omni.generate(promptTokenIds: prompt, params: params), n: 3)
        for r in results {
            #expect(r.tokens.count == 24)
            #expect(r.reason == .length)
            #expect(r.text == omni.tokenizer.decode(r.tokens, skipSpecialTokens: true))
        }
    }

    @Test func sameSeedGivesSameTokens() async throws {
        let omni = try AsyncOmni(directory: demo)
        defer { omni.shutdown() }
        let prompt = omni.tokenizer.encode("The quick brown fox", addSpecialTokens: true)
        let params = try SamplingParams(temperature: 0.8, topP: 0.9, seed: 7, maxTokens: 16, ignoreEOS: true)
        async let a = collect(omni.generate(promptTokenIds: prompt, params: params))
        async let b = collect(omni.generate(promptTokenIds: prompt, params: params))
        let (x, y) = try await (a, b)
        #expect(x[0].tokens == y[0].tokens)
    }

    @Test func cancellingTheConsumerFreesEveryBlock() async throws {
        let omni = try AsyncOmni(directory: demo)
        defer { omni.shutdown() }
        let total = omni.metrics.numBlocks
        let prompt = omni.tokenizer.encode(String(repeating: "tokens and more tokens ", count: 20), addSpecialTokens: true)
        let params = try SamplingParams(temperature: 0, maxTokens: 1000, ignoreEOS: true)
        let task = Task {
            var seen = 0
            for try await _ in omni.generate(promptTokenIds: prompt, params: params) {
                seen += 1
                if seen == 3 { break }   // dropping the stream aborts the request
            }
        }
        try await task.value
        let settled = await omni.settledMetrics()
        #expect(settled.numFreeBlocks == total, "KV blocks back to idle after the consumer went away")
        #expect(settled.numRunning == 0 && settled.numWaiting == 0)
    }

    @Test func unsupportedDirectoryNamesTheProblem() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("omni-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(#"{"architectures": ["BertModel"]}"#.utf8).write(to: dir.appendingPathComponent("config.json"))
        #expect {
            _ = try AsyncOmni(directory: dir.path)
        } throws: { error in
            "\(error)".contains("BertModel") && "\(error)".contains("Qwen2ForCausalLM")
        }
    }
}
