import Foundation
import OmniEngine
import OmniModels
import OmniTensor
import OmniWeights
import Testing

/// The engine driving a real (tiny, random) transformers checkpoint through DecoderModelRunner:
/// what a request produces must not depend on what else is in the batch, on preemption, on
/// chunking or on prefix-cache hits.
private let lmFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures/lm").standardized
private let backend = CPUBackend(threads: 2)

private func loadModel(_ name: String) throws -> DecoderOnlyLM {
    try CausalLMLoader.load(directory: lmFixtures.appendingPathComponent(name), backend: backend)
}

private func greedy(_ maxTokens: Int) throws -> SamplingParams {
    try SamplingParams(temperature: 0, maxTokens: maxTokens, ignoreEOS: true)
}

/// Runs requests to completion on a fresh engine; returns each request's generated tokens.
private func run(_ model: DecoderOnlyLM, prompts: [[Int]], params: [SamplingParams], blocks: Int = 256, blockSize: Int = 4,
                 maxNumBatchedTokens: Int = 64, maxNumSeqs: Int = 32, prefixCaching: Bool = true) throws -> (tokens: [[Int]], metrics: EngineMetrics) {
    let runner = DecoderModelRunner(model: model, numBlocks: blocks, blockSize: blockSize)
    let config = try EngineConfig(numKVBlocks: blocks, maxModelLen: min(blocks * blockSize, 256), blockSize: blockSize,
                                  maxNumSeqs: maxNumSeqs, maxNumBatchedTokens: maxNumBatchedTokens, enablePrefixCaching: prefixCaching)
    let engine = Engine(config: config, runner: runner)
    for (i, prompt) in prompts.enumerated() {
        try engine.addRequest(id: "r\(i)", promptTokenIds: prompt, params: params[i])
    }
    var tokens = [[Int]](repeating: [], count: prompts.count)
    var steps = 0
    while engine.hasUnfinishedRequests {
        for output in try engine.step() {
            tokens[Int(output.requestId.dropFirst())!] += output.newTokenIds
        }
        steps += 1
        precondition(steps < 10_000, "engine did not finish")
    }
    #expect(engine.metrics.numFreeBlocks == blocks, "all KV blocks are free after the last request")
    return (tokens, engine.metrics)
}

/// Deterministic prompts of mixed lengths (1...37 tokens) over the fixture vocabulary.
private func mixedPrompts(count: Int, vocabulary: Int, sharedPrefix: [Int] = []) -> [[Int]] {
    var state: UInt64 = 0x2545_F491_4F6C_DD1D
    func next() -> Int {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return Int(state % UInt64(vocabulary))
    }
    return (0..<count).map { i in sharedPrefix + (0..<(1 + (i * 11) % 37)).map { _ in next() } }
}

@Suite struct RealModelEngineTests {
    /// Once a request has run, the same request again takes every result and scratch buffer of its
    /// prefill and of each of its 39 decode steps from blocks freed before (CPUBackend.buffers):
    /// no tensor memory is allocated per token. In both matmul modes (bf16 mode packs the weights,
    /// keeps a bf16 KV cache and runs other kernels).
    @Test(arguments: [CPUBackend.MatmulPrecision.float32, .bfloat16])
    func decodeStepsAllocateNoNewBuffersOnceWarm(precision: CPUBackend.MatmulPrecision) throws {
        let own = CPUBackend(threads: 2, matmulPrecision: precision)
        let model = try CausalLMLoader.load(directory: lmFixtures.appendingPathComponent("qwen3-bf16-tied-gqa2"), backend: own)
        let prompt = Array(3..<12)
        let first = try run(model, prompts: [prompt], params: [try greedy(40)]).tokens
        let before = own.freshBufferAllocations
        let again = try run(model, prompts: [prompt], params: [try greedy(40)]).tokens
        let fresh = own.freshBufferAllocations - before
        #expect(again == first && fresh == 0, "\(precision): \(fresh) buffers allocated anew in a warm run of 40 tokens")
        print("\(precision): \(before) buffers allocated in the first run, \(fresh) in the second")
    }

    @Test(arguments: ["qwen2-f32-untied-gqa2", "qwen3-bf16-tied-gqa2"])
    func greedyThroughEngineMatchesTransformers(name: String) throws {
        let model = try loadModel(name)
        let reference = try SafeTensorsFile(url: lmFixtures.appendingPathComponent(name).appendingPathComponent("reference.safetensors"))
        let prompts = try (0..<3).map { try reference.tensor("prompt_\($0)").toInts() }
        let (tokens, _) = try run(model, prompts: prompts, params: try prompts.map { _ in try greedy(32) })
        for i in 0..<3 {
            let expected = try reference.tensor("greedy_\(i)").toInts(), margins = try reference.tensor("margin_\(i)").toFloats()
            let comparable = margins.firstIndex { $0 < 1e-3 } ?? expected.count
            #expect(Array(tokens[i].prefix(comparable)) == Array(expected.prefix(comparable)),
                    "\(name) prompt \(i): engine tokens differ from generate() within the first \(comparable) steps")
        }
    }

    @Test func sixteenConcurrentGreedyRequestsMatchEachAlone() throws {
        let model = try loadModel("qwen3-f32-headdim-gqa3")
        let prompts = mixedPrompts(count: 16, vocabulary: model.config.vocabularySize)
        let params = try (0..<16).map { try greedy(8 + $0 % 9) }
        let alone = try prompts.indices.map { try run(model, prompts: [prompts[$0]], params: [params[$0]]).tokens[0] }
        let together = try run(model, prompts: prompts, params: params)
        #expect(together.tokens == alone)
    }

    /// Seeded temperature sampling, drawn for the whole step on the runner's threads: each request
    /// gets the tokens it gets alone (its own generator), with top-k / top-p / penalties mixed in.
    @Test func seededSamplingInParallelMatchesEachAlone() throws {
        let model = try loadModel("qwen3-f32-headdim-gqa3")
        let prompts = mixedPrompts(count: 12, vocabulary: model.config.vocabularySize)
        let params = try (0..<12).map { i in
            try SamplingParams(temperature: 0.7 + 0.1 * Double(i % 3), topP: i % 2 == 0 ? 0.9 : 1, topK: i % 4 == 1 ? 20 : 0,
                               repetitionPenalty: i % 3 == 2 ? 1.2 : 1, seed: 100 + i, maxTokens: 6 + i % 5, ignoreEOS: true)
        }
        let alone = try prompts.indices.map { try run(model, prompts: [prompts[$0]], params: [params[$0]]).tokens[0] }
        let together = try run(model, prompts: prompts, params: params)
        #expect(together.tokens == alone)
    }

    @Test func preemptedRequestsFinishWithTheirSoloTokens() throws {
        let model = try loadModel("qwen2-f32-untied-gqa2")
        let prompts = mixedPrompts(count: 16, vocabulary: model.config.vocabularySize)
        let params = try (0..<16).map { try greedy(12 + $0 % 5) }
        let alone = try prompts.indices.map { try run(model, prompts: [prompts[$0]], params: [params[$0]]).tokens[0] }
        // 64 tokens of KV for 16 requests that need up to 53 each: the scheduler must preempt.
        let tight = try run(model, prompts: prompts, params: params, blocks: 16, blockSize: 4, maxNumBatchedTokens: 32)
        #expect(tight.metrics.numPreemptions > 0, "the KV budget was meant to force preemption")
        #expect(tight.tokens == alone)
    }

    @Test func prefixCacheHitsGiveTheSameTokens() throws {
        let model = try loadModel("qwen3-bf16-tied-gqa2")
        let shared = Array(mixedPrompts(count: 3, vocabulary: model.config.vocabularySize)[2].prefix(20))
        let prompts = mixedPrompts(count: 8, vocabulary: model.config.vocabularySize, sharedPrefix: shared)
        let params = try (0..<8).map { try greedy(6 + $0) }
        let alone = try prompts.indices.map { try run(model, prompts: [prompts[$0]], params: [params[$0]]).tokens[0] }
        let cached = try run(model, prompts: prompts, params: params)
        #expect(cached.metrics.prefixCacheHits > 0, "requests sharing a 20-token prefix should hit the prefix cache")
        #expect(cached.tokens == alone)
        let uncached = try run(model, prompts: prompts, params: params, prefixCaching: false)
        #expect(uncached.metrics.prefixCacheHits == 0)
        #expect(uncached.tokens == alone)
    }

    @Test func chunkedPrefillGivesTheSameTokensAsOnePass() throws {
        let model = try loadModel("llama-f32-llama3rope")
        let prompts = mixedPrompts(count: 4, vocabulary: model.config.vocabularySize).map { $0 + $0 + $0 }
        let params = try prompts.map { _ in try greedy(10) }
        let wide = try run(model, prompts: prompts, params: params, maxNumBatchedTokens: 512)
        let narrow = try run(model, prompts: prompts, params: params, maxNumBatchedTokens: 7, maxNumSeqs: 4)
        #expect(wide.tokens == narrow.tokens)
    }
}
