import Testing
@testable import OmniEngine

/// The whole engine over the fake runner: scheduling, KV bookkeeping, sampling and stopping
/// together. "Solo" runs put one request alone in a roomy engine: the reference for batch
/// invariance, preemption and prefix sharing.
@Suite struct EngineTests {
    private func greedy(_ maxTokens: Int?) throws -> SamplingParams {
        try SamplingParams(temperature: 0, maxTokens: maxTokens, ignoreEOS: true)
    }

    private func solo(_ id: String, _ promptTokens: [Int], _ params: SamplingParams, hidden: [Int] = []) throws -> Completion {
        let (engine, _) = try makeEngine(numBlocks: 512, maxModelLen: 256, maxNumBatchedTokens: 512)
        try engine.addRequest(id: id, promptTokenIds: promptTokens, params: params, hiddenStateLayers: hidden)
        return try engine.runToCompletion()[CompletionKey(requestId: id, index: 0)]!
    }

    @Test func greedyRequestRunsToMaxTokensAndFreesItsBlocks() throws {
        let (engine, runner) = try makeEngine()
        let promptTokens = prompt(10, salt: 1)
        try engine.addRequest(id: "a", promptTokenIds: promptTokens, params: greedy(5))
        let completion = try engine.runToCompletion()[CompletionKey(requestId: "a", index: 0)]!

        // The same five tokens, worked out from the fake model directly.
        var tokens = promptTokens
        for _ in 0..<5 {
            let row = runner.logitsRow(state: FakeModelRunner.states(of: tokens).last!, position: tokens.count - 1)
            tokens.append(row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }!)
        }
        #expect(completion.tokens == Array(tokens[10...]))
        #expect(completion.finishReason == .length)
        #expect(runner.numComputedTokens == 10 + 4, "the last token is never fed back")
        #expect(engine.blockManager.numFreeBlocks == 64)
        #expect(!engine.hasUnfinishedRequests)
        #expect(engine.metrics.promptTokens == 10)
        #expect(engine.metrics.generationTokens == 5)
    }

    @Test func concurrentRequestsEachGiveTheirSoloTokens() throws {
        let (engine, runner) = try makeEngine(numBlocks: 128, maxNumSeqs: 8, maxNumBatchedTokens: 32)
        var expected: [String: Completion] = [:]
        for i in 0..<16 {
            let promptTokens = prompt(1 + (i * 7) % 40, salt: 100 + i)
            let params = i % 3 == 0
                ? try SamplingParams(temperature: 0.8, topK: 20, seed: i, maxTokens: 3 + i % 9, ignoreEOS: true)
                : try greedy(3 + i % 9)
            try engine.addRequest(id: "r\(i)", promptTokenIds: promptTokens, params: params)
            expected["r\(i)"] = try solo("r\(i)", promptTokens, params)
        }
        let completions = try engine.runToCompletion()
        for (id, want) in expected {
            #expect(completions[CompletionKey(requestId: id, index: 0)]?.tokens == want.tokens, "\(id)")
        }
        #expect(runner.largestBatch > 1)
        #expect(engine.blockManager.numFreeBlocks == 128)
    }

    @Test(arguments: [true, false])
    func preemptedRequestsFinishWithTheTokensTheyGiveAlone(prefixCaching: Bool) throws {
        // 16 blocks of 4 = 64 tokens of KV for 8 requests of up to 40 tokens each.
        let (engine, _) = try makeEngine(
            numBlocks: 16, blockSize: 4, maxModelLen: 64, maxNumSeqs: 8, maxNumBatchedTokens: 16,
            enablePrefixCaching: prefixCaching
        )
        var expected: [String: Completion] = [:]
        for i in 0..<8 {
            let promptTokens = prompt(6 + i, salt: 200 + i)
            let params = i.isMultiple(of: 2)
                ? try greedy(20 + i)
                : try SamplingParams(temperature: 1, topP: 0.9, seed: 1000 + i, maxTokens: 20 + i, ignoreEOS: true)
            try engine.addRequest(id: "p\(i)", promptTokenIds: promptTokens, params: params)
            expected["p\(i)"] = try solo("p\(i)", promptTokens, params)
        }
        let completions = try engine.runToCompletion()
        #expect(engine.metrics.numPreemptions > 0)
        for (id, want) in expected {
            let got = completions[CompletionKey(requestId: id, index: 0)]
            #expect(got?.tokens == want.tokens, "\(id)")
            #expect(got?.finishReason == .length)
        }
        #expect(engine.blockManager.numFreeBlocks == 16)
    }

    @Test func requestsSharingPrefixesUnderPreemptionGiveTheirSoloTokens() throws {
        // 20 blocks of 4 for 16 requests of ~30 tokens: prefix hits, preemption and recompute at once.
        let (engine, _) = try makeEngine(numBlocks: 20, blockSize: 4, maxModelLen: 80, maxNumSeqs: 8, maxNumBatchedTokens: 16)
        let system = prompt(12, salt: 1000)
        var expected: [String: Completion] = [:]
        for i in 0..<16 {
            let promptTokens = i % 4 == 3 ? system + prompt(4, salt: 1001) : system + prompt(1 + i % 5, salt: 1100 + i)
            let params = i.isMultiple(of: 2)
                ? try greedy(8 + i % 5)
                : try SamplingParams(temperature: 0.9, minP: 0.05, seed: 50 + i, maxTokens: 8 + i % 5, ignoreEOS: true)
            try engine.addRequest(id: "s\(i)", promptTokenIds: promptTokens, params: params)
            expected["s\(i)"] = try solo("s\(i)", promptTokens, params)
        }
        let completions = try engine.runToCompletion()
        for (id, want) in expected {
            #expect(completions[CompletionKey(requestId: id, index: 0)]?.tokens == want.tokens, "\(id)")
        }
        #expect(engine.metrics.prefixCacheHits >= 15 * 12)
        #expect(engine.metrics.numPreemptions > 0)
        #expect(engine.blockManager.numFreeBlocks == 20)
    }

    @Test func sharedPrefixIsComputedOnceAndCounted() throws {
        let (engine, runner) = try makeEngine(numBlocks: 64, blockSize: 4)
        let first = prompt(32, salt: 300)
        let second = Array(first[0..<24]) + prompt(16, salt: 301)
        var completions: [CompletionKey: Completion] = [:]
        try engine.addRequest(id: "first", promptTokenIds: first, params: greedy(10))
        try engine.step(into: &completions)
        try engine.addRequest(id: "second", promptTokenIds: second, params: greedy(2))
        try engine.step(into: &completions)

        // While both run, the six shared blocks are held twice.
        let holders = engine.scheduler.running
        #expect(holders.count == 2)
        #expect(Array(holders[0].blockTable[0..<6]) == Array(holders[1].blockTable[0..<6]))
        #expect(holders[0].blockTable[0..<6].allSatisfy { engine.blockManager.refCount(of: $0) == 2 })

        try engine.runToCompletion(into: &completions)
        #expect(runner.computedTokensByRequest["second"] == (40 - 24) + 1)
        #expect(completions[CompletionKey(requestId: "second", index: 0)]?.numCachedPromptTokens == 24)
        #expect(engine.metrics.prefixCacheHits == 24)
        #expect(engine.metrics.prefixCacheQueries == 32 + 40)
        #expect(completions[CompletionKey(requestId: "second", index: 0)]?.tokens == (try solo("second", second, greedy(2))).tokens)
        #expect(engine.blockManager.numFreeBlocks == 64)
    }

    @Test func abortFreesBlocksAtOnceWhereverTheRequestIs() throws {
        let (engine, _) = try makeEngine(numBlocks: 32, maxNumSeqs: 2)
        for i in 0..<3 { try engine.addRequest(id: "r\(i)", promptTokenIds: prompt(9, salt: 400 + i), params: greedy(8)) }
        var completions: [CompletionKey: Completion] = [:]
        try engine.step(into: &completions)
        try engine.step(into: &completions)
        #expect(engine.metrics.numRunning == 2 && engine.metrics.numWaiting == 1)

        let held = engine.scheduler.running.first { $0.requestId == "r0" }!.blockTable.count
        let freeBefore = engine.blockManager.numFreeBlocks
        #expect(engine.abort(requestId: "r0"))
        #expect(engine.blockManager.numFreeBlocks == freeBefore + held)
        #expect(!engine.abort(requestId: "r0"), "an aborted request is gone")
        #expect(engine.abort(requestId: "r2"), "a waiting request can be aborted too")
        #expect(engine.metrics.numWaiting == 0)

        try engine.runToCompletion(into: &completions)
        #expect(Set(completions.keys.map(\.requestId)) == ["r0", "r1"], "r0 produced tokens before its abort")
        #expect(completions[CompletionKey(requestId: "r0", index: 0)]?.tokens.count == 2)
        #expect(completions[CompletionKey(requestId: "r0", index: 0)]?.finishReason == nil)
        #expect(completions[CompletionKey(requestId: "r1", index: 0)]?.tokens.count == 8)
        #expect(engine.blockManager.numFreeBlocks == 32)
        #expect(engine.metrics.kvCacheUsage == 0)
    }

    @Test func unfittableAndInvalidRequestsAreRejectedAtAdd() throws {
        #expect(throws: EngineError.kvCacheTooSmall(capacityTokens: 28, maxModelLen: 32)) {
            try EngineConfig(numKVBlocks: 7, maxModelLen: 32, blockSize: 4)
        }
        let (engine, _) = try makeEngine(numBlocks: 8, blockSize: 4, maxModelLen: 32)
        #expect(throws: EngineError.promptTooLong(promptTokens: 32, maxModelLen: 32)) {
            try engine.addRequest(id: "long", promptTokenIds: prompt(32, salt: 1), params: greedy(1))
        }
        #expect(throws: EngineError.contextLengthExceeded(promptTokens: 20, maxTokens: 13, maxModelLen: 32)) {
            try engine.addRequest(id: "greedy", promptTokenIds: prompt(20, salt: 1), params: greedy(13))
        }
        #expect(throws: EngineError.tokenIdOutOfRange(tokenId: 48, vocabularySize: 48)) {
            try engine.addRequest(id: "vocab", promptTokenIds: [1, 48], params: greedy(1))
        }
        #expect(throws: EngineError.tokenIdOutOfRange(tokenId: -1, vocabularySize: 48)) {
            try engine.addRequest(id: "negative", promptTokenIds: [-1], params: greedy(1))
        }
        #expect(throws: EngineError.emptyPrompt) {
            try engine.addRequest(id: "empty", promptTokenIds: [], params: greedy(1))
        }
        #expect(throws: EngineError.stopStringsNeedDetokenizer) {
            try engine.addRequest(id: "stop", promptTokenIds: [1], params: SamplingParams(stop: ["x"]))
        }
        #expect(throws: EngineError.invalidHiddenStateLayer(layer: 4, layerCount: 4)) {
            try engine.addRequest(id: "hidden", promptTokenIds: [1], params: greedy(1), hiddenStateLayers: [0, 4])
        }
        #expect(engine.metrics.numWaiting == 0, "a refused request queues nothing")

        // Unset max_tokens runs until the context is full; 20 + 12 fits exactly.
        try engine.addRequest(id: "fits", promptTokenIds: prompt(20, salt: 1), params: greedy(12))
        #expect(throws: EngineError.duplicateRequestId("fits")) {
            try engine.addRequest(id: "fits", promptTokenIds: [1], params: greedy(1))
        }
        try engine.addRequest(id: "unset", promptTokenIds: prompt(20, salt: 2), params: greedy(nil))
        let completions = try engine.runToCompletion()
        #expect(completions[CompletionKey(requestId: "fits", index: 0)]?.tokens.count == 12)
        #expect(completions[CompletionKey(requestId: "unset", index: 0)]?.tokens.count == 12)
        #expect(completions[CompletionKey(requestId: "unset", index: 0)]?.finishReason == .length)
        #expect(EngineError.contextLengthExceeded(promptTokens: 20, maxTokens: 13, maxModelLen: 32).isInvalidRequest)
    }

    @Test func generationConfigMaxNewTokensCapsEveryRequest() throws {
        let (engine, _) = try makeEngine()
        let params = try SamplingParams(temperature: 0, maxTokens: 10, ignoreEOS: true, defaults: GenerationDefaults(maxTokens: 3))
        try engine.addRequest(id: "capped", promptTokenIds: prompt(5, salt: 3), params: params)
        #expect(try engine.runToCompletion()[CompletionKey(requestId: "capped", index: 0)]?.tokens.count == 3)
    }

    @Test func parallelSamplingSharesThePromptAndMatchesSeededSoloRuns() throws {
        let (engine, runner) = try makeEngine(numBlocks: 64, blockSize: 4)
        let promptTokens = prompt(20, salt: 500)
        let params = try SamplingParams(n: 3, temperature: 1, seed: 100, maxTokens: 6, ignoreEOS: true)
        try engine.addRequest(id: "n3", promptTokenIds: promptTokens, params: params)
        let completions = try engine.runToCompletion()
        #expect(completions.count == 3)
        for index in 0..<3 {
            // Sequence i of a seeded request samples as a lone request seeded seed + i (as vLLM).
            let alone = try solo("n3", promptTokens, SamplingParams(temperature: 1, seed: 100 + index, maxTokens: 6, ignoreEOS: true))
            #expect(completions[CompletionKey(requestId: "n3", index: index)]?.tokens == alone.tokens, "index \(index)")
        }
        #expect(Set((0..<3).map { completions[CompletionKey(requestId: "n3", index: $0)]!.tokens }).count > 1)
        // The leader computes the prompt; each sibling finds its 4 full blocks (16 tokens) cached.
        #expect(engine.metrics.prefixCacheHits == 2 * 16)
        #expect(runner.computedTokensByRequest["n3"] == (20 + 5) + 2 * (4 + 5))
        #expect(engine.blockManager.numFreeBlocks == 64)
    }

    @Test func seededSamplingIgnoresWhatElseIsInTheBatch() throws {
        let seeded = try SamplingParams(
            temperature: 0.9, topP: 0.95, topK: 30, minP: 0.01, presencePenalty: 0.5, frequencyPenalty: 0.3,
            repetitionPenalty: 1.2, seed: 7, maxTokens: 16, ignoreEOS: true
        )
        let promptTokens = prompt(12, salt: 600)
        let alone = try solo("seeded", promptTokens, seeded)

        let (engine, _) = try makeEngine(maxNumBatchedTokens: 24)
        for i in 0..<5 {
            try engine.addRequest(
                id: "noise\(i)", promptTokenIds: prompt(3 + 5 * i, salt: 610 + i),
                params: SamplingParams(temperature: 1.2, maxTokens: 4 + i, ignoreEOS: true)
            )
        }
        try engine.addRequest(id: "seeded", promptTokenIds: promptTokens, params: seeded)
        let completions = try engine.runToCompletion()
        #expect(completions[CompletionKey(requestId: "seeded", index: 0)]?.tokens == alone.tokens)
    }

    @Test func runnerFailureAdvancesNothing() throws {
        let (engine, runner) = try makeEngine(maxNumBatchedTokens: 16)
        let promptTokens = prompt(30, salt: 700)
        try engine.addRequest(id: "a", promptTokenIds: promptTokens, params: greedy(6))
        #expect(try engine.step().isEmpty, "a first chunk of the prompt samples nothing")
        runner.failNextStep = true
        #expect(throws: FakeModelRunner.Failure.injected) { try engine.step() }
        let completions = try engine.runToCompletion()
        #expect(completions[CompletionKey(requestId: "a", index: 0)]?.tokens == (try solo("a", promptTokens, greedy(6))).tokens)
    }

    @Test func malformedRunnerOutputIsAnError() throws {
        final class ShortRunner: ModelRunner {
            let vocabularySize = 8
            let hiddenStateLayerCount = 1
            func execute(_ batch: ModelBatch) throws -> ModelOutput { ModelOutput(logits: [0, 1]) }
        }
        let engine = Engine(config: try EngineConfig(numKVBlocks: 8, maxModelLen: 32, blockSize: 4), runner: ShortRunner())
        try engine.addRequest(id: "a", promptTokenIds: [1, 2], params: greedy(2))
        #expect(throws: EngineError.invalidRunnerOutput("2 logits for 1 rows of 8")) { try engine.step() }
    }

    @Test func metricsCountRequestsTokensAndUsage() throws {
        let (engine, _) = try makeEngine(numBlocks: 32, blockSize: 4, maxNumSeqs: 1)
        try engine.addRequest(id: "a", promptTokenIds: prompt(8, salt: 800), params: greedy(3))
        try engine.addRequest(id: "b", promptTokenIds: prompt(5, salt: 801), params: greedy(4))
        _ = try engine.step()
        var metrics = engine.metrics
        #expect(metrics.numRunning == 1 && metrics.numWaiting == 1)
        #expect(metrics.numFreeBlocks == 30 && metrics.numBlocks == 32)
        #expect(abs(metrics.kvCacheUsage - 2.0 / 32) < 1e-12)
        try engine.runToCompletion()
        metrics = engine.metrics
        #expect(metrics.numRunning == 0 && metrics.numWaiting == 0 && metrics.kvCacheUsage == 0)
        #expect(metrics.promptTokens == 13)
        #expect(metrics.generationTokens == 7)
    }
}
