import Testing
@testable import OmniEngine

/// What the engine returns besides token ids: stops, text, logprobs, hidden states. The fake
/// runner's script makes greedy decoding produce chosen tokens.
@Suite struct EngineOutputTests {
    private let pieces: [String] = {
        var table = (0..<48).map { "<\($0)>" }
        table[5] = "<eos>"
        table[10] = "Hel"
        table[11] = "lo S"
        table[12] = "TO"
        table[13] = "P now"
        table[14] = "!"
        return table
    }()

    /// An engine whose greedy continuation of [1, 2, 3] is `continuation`.
    private func scripted(
        _ continuation: [Int], eosTokenId: Int? = nil, generationDefaults: GenerationDefaults = .none
    ) throws -> Engine {
        let (engine, runner) = try makeEngine(
            eosTokenId: eosTokenId, generationDefaults: generationDefaults, detokenizer: fakeDetokenizer(pieces: pieces)
        )
        runner.script = [1, 2, 3] + continuation
        return engine
    }

    private func run(_ engine: Engine, _ params: SamplingParams) throws -> (Completion, [String]) {
        try engine.addRequest(id: "s", promptTokenIds: [1, 2, 3], params: params)
        var completion = Completion()
        var deltas: [String] = []
        while engine.hasUnfinishedRequests {
            for output in try engine.step() {
                completion.absorb(output)
                deltas.append(output.text)
            }
        }
        return (completion, deltas)
    }

    @Test func stopStringAcrossTokensEndsTheTextBeforeIt() throws {
        let (completion, deltas) = try run(scripted([10, 11, 12, 13, 14]), SamplingParams(temperature: 0, maxTokens: 10, stop: ["STOP"]))
        #expect(completion.text == "Hello ")
        #expect(completion.tokens == [10, 11, 12, 13], "the token completing the stop string is kept")
        #expect(completion.finishReason == .stop)
        #expect(completion.stopReason == .string("STOP"))
        #expect(!deltas.contains { $0.contains("S") }, "no part of the stop string is ever emitted: \(deltas)")
    }

    @Test func stopStringIsKeptWhenAskedFor() throws {
        let params = try SamplingParams(temperature: 0, maxTokens: 10, stop: ["STOP"], includeStopStringInOutput: true)
        let (completion, _) = try run(scripted([10, 11, 12, 13, 14]), params)
        #expect(completion.text == "Hello STOP")
    }

    @Test func heldBackTextIsReleasedAtTheEnd() throws {
        let (completion, _) = try run(scripted([10, 11, 12]), SamplingParams(temperature: 0, maxTokens: 3, stop: ["STOPPED"]))
        #expect(completion.text == "Hello STO")
        #expect(completion.finishReason == .length)
    }

    @Test func eosStopsAndItsTextIsDropped() throws {
        let (completion, _) = try run(scripted([10, 5, 12], eosTokenId: 5), SamplingParams(temperature: 0, maxTokens: 8))
        #expect(completion.tokens == [10, 5])
        #expect(completion.text == "Hel")
        #expect(completion.finishReason == .stop)
        #expect(completion.stopReason == .eos)
    }

    @Test func ignoreEOSGeneratesPastIt() throws {
        let (completion, _) = try run(scripted([10, 5, 12], eosTokenId: 5), SamplingParams(temperature: 0, maxTokens: 8, ignoreEOS: true))
        #expect(completion.tokens.count == 8)
        #expect(Array(completion.tokens.prefix(3)) == [10, 5, 12])
        #expect(completion.text.hasPrefix("Hel<eos>TO"))
        #expect(completion.finishReason == .length)
    }

    @Test func stopTokenIdsStop() throws {
        let (completion, _) = try run(scripted([10, 11, 12]), SamplingParams(temperature: 0, maxTokens: 8, stopTokenIds: [11]))
        #expect(completion.tokens == [10, 11])
        #expect(completion.text == "Hel")
        #expect(completion.stopReason == .tokenId(11))
    }

    @Test func generationConfigEOSIdsStopUnlessIgnored() throws {
        let defaults = GenerationDefaults(eosTokenIds: [5, 12])
        let (stopped, _) = try run(scripted([10, 12, 5], eosTokenId: 5, generationDefaults: defaults), SamplingParams(temperature: 0, maxTokens: 8))
        #expect(stopped.tokens == [10, 12])
        #expect(stopped.stopReason == .tokenId(12))
        let (ignored, _) = try run(
            scripted([10, 12, 5], eosTokenId: 5, generationDefaults: defaults),
            SamplingParams(temperature: 0, maxTokens: 4, ignoreEOS: true)
        )
        #expect(Array(ignored.tokens.prefix(3)) == [10, 12, 5])
    }

    @Test func minTokensHoldsBackEOSUntilReached() throws {
        let params = try SamplingParams(temperature: 0, maxTokens: 8, minTokens: 4)
        let (completion, _) = try run(scripted([10, 11, 5, 12, 5], eosTokenId: 5), params)
        #expect(completion.tokens.count == 5)
        #expect(completion.tokens[2] != 5, "EOS is masked while fewer than 4 tokens exist")
        #expect(completion.tokens[3] == 12)
        #expect(completion.tokens.last == 5)
        #expect(completion.stopReason == .eos)
    }

    @Test func sampledTokensCarryRawLogprobs() throws {
        let (engine, runner) = try makeEngine()
        let promptTokens = prompt(6, salt: 900)
        let params = try SamplingParams(temperature: 0.7, seed: 3, maxTokens: 4, ignoreEOS: true, logprobs: 3)
        try engine.addRequest(id: "lp", promptTokenIds: promptTokens, params: params)
        let completion = try engine.runToCompletion()[CompletionKey(requestId: "lp", index: 0)]!
        #expect(completion.logprobs.count == 4)
        var tokens = promptTokens
        for (token, logprobs) in zip(completion.tokens, completion.logprobs) {
            let row = runner.logitsRow(state: FakeModelRunner.states(of: tokens).last!, position: tokens.count - 1)
            #expect(logprobs == Logprobs.of(token, in: row, top: 3), "logprobs of the raw row, before temperature")
            #expect(logprobs.token.tokenId == token)
            #expect(logprobs.top.map(\.rank) == [1, 2, 3])
            tokens.append(token)
        }
    }

    @Test func promptLogprobsCoverEveryPromptTokenAcrossChunksAndSkipTheCache() throws {
        let (engine, runner) = try makeEngine(blockSize: 4, maxNumBatchedTokens: 16)
        let promptTokens = prompt(20, salt: 910)
        try engine.addRequest(id: "warm", promptTokenIds: promptTokens, params: SamplingParams(temperature: 0, maxTokens: 1))
        try engine.runToCompletion()
        try engine.addRequest(id: "pl", promptTokenIds: promptTokens, params: SamplingParams(temperature: 0, maxTokens: 1, promptLogprobs: 2))
        let completion = try engine.runToCompletion()[CompletionKey(requestId: "pl", index: 0)]!

        #expect(runner.computedTokensByRequest["pl"] == 20, "prompt logprobs need every position's logits")
        let logprobs = try #require(completion.promptLogprobs)
        #expect(logprobs.count == 20)
        #expect(logprobs[0] == nil)
        let states = FakeModelRunner.states(of: promptTokens)
        for position in 1..<20 {
            let row = runner.logitsRow(state: states[position - 1], position: position - 1)
            #expect(logprobs[position] == Logprobs.of(promptTokens[position], in: row, top: 2), "position \(position)")
        }
    }

    @Test func hiddenStatesArriveOncePerPositionEvenAfterPreemption() throws {
        let (engine, _) = try makeEngine(numBlocks: 12, blockSize: 4, maxModelLen: 48, maxNumSeqs: 4, maxNumBatchedTokens: 8)
        for i in 0..<3 {
            try engine.addRequest(
                id: "load\(i)", promptTokenIds: prompt(8, salt: 920 + i),
                params: SamplingParams(temperature: 0, maxTokens: 12, ignoreEOS: true)
            )
        }
        // Added last, so it is the newest: the first to be preempted.
        try engine.addRequest(
            id: "h", promptTokenIds: prompt(10, salt: 930),
            params: SamplingParams(temperature: 0, maxTokens: 12, ignoreEOS: true), hiddenStateLayers: [0, 3]
        )
        let completion = try engine.runToCompletion()[CompletionKey(requestId: "h", index: 0)]!
        #expect(engine.metrics.numPreemptions > 0)
        #expect(completion.tokens.count == 12)
        for layer in [0, 3] {
            let chunks = completion.hiddenStates.filter { $0.layer == layer }
            var positions: [Int] = []
            for chunk in chunks {
                #expect(chunk.hiddenSize == 3)
                for row in 0..<chunk.numPositions {
                    #expect(chunk.values[row * 3 + 1] == Float(chunk.startPosition + row))
                    #expect(chunk.values[row * 3 + 2] == Float(layer))
                    positions.append(chunk.startPosition + row)
                }
            }
            #expect(positions == Array(0..<(10 + 12 - 1)), "layer \(layer): every computed position exactly once")
        }
    }
}
