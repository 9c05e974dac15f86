import Testing
@testable import OmniEngine

@Suite struct SamplingParamsTests {
    @Test func defaultsAreVLLMs() throws {
        let params = SamplingParams()
        #expect(params == (try SamplingParams()))
        #expect(params.n == 1 && params.temperature == 1 && params.topP == 1 && params.topK == 0 && params.minP == 0)
        #expect(params.presencePenalty == 0 && params.frequencyPenalty == 0 && params.repetitionPenalty == 1)
        #expect(params.seed == nil && params.maxTokens == nil && params.minTokens == 0)
        #expect(params.stop.isEmpty && params.stopTokenIds.isEmpty && !params.ignoreEOS)
        #expect(!params.includeStopStringInOutput && params.skipSpecialTokens)
        #expect(params.logprobs == nil && params.promptLogprobs == nil)
        #expect(!params.isGreedy)
    }

    @Test func outOfRangeFieldsAreRejectedByTheirRequestName() {
        let cases: [(String, () throws -> SamplingParams)] = [
            ("n", { try SamplingParams(n: 0) }),
            ("n", { try SamplingParams(n: SamplingParams.maxN + 1) }),
            ("temperature", { try SamplingParams(temperature: -0.1) }),
            ("temperature", { try SamplingParams(temperature: 2.5) }),
            ("temperature", { try SamplingParams(temperature: .nan) }),
            ("top_p", { try SamplingParams(topP: 0) }),
            ("top_p", { try SamplingParams(topP: 1.01) }),
            ("top_k", { try SamplingParams(topK: -2) }),
            ("min_p", { try SamplingParams(minP: 1.5) }),
            ("min_p", { try SamplingParams(minP: -0.1) }),
            ("presence_penalty", { try SamplingParams(presencePenalty: 2.5) }),
            ("frequency_penalty", { try SamplingParams(frequencyPenalty: -2.5) }),
            ("frequency_penalty", { try SamplingParams(frequencyPenalty: .nan) }),
            ("repetition_penalty", { try SamplingParams(repetitionPenalty: 0) }),
            ("repetition_penalty", { try SamplingParams(repetitionPenalty: .infinity) }),
            ("max_tokens", { try SamplingParams(maxTokens: 0) }),
            ("min_tokens", { try SamplingParams(minTokens: -1) }),
            ("min_tokens", { try SamplingParams(maxTokens: 3, minTokens: 4) }),
            ("logprobs", { try SamplingParams(logprobs: 21) }),
            ("logprobs", { try SamplingParams(logprobs: -1) }),
            ("prompt_logprobs", { try SamplingParams(promptLogprobs: 21) }),
            ("stop", { try SamplingParams(stop: ["ok", ""]) }),
            ("stop_token_ids", { try SamplingParams(stopTokenIds: [3, -4]) }),
            ("n", { try SamplingParams(n: 2, temperature: 0) }),
        ]
        for (parameter, make) in cases {
            do {
                _ = try make()
                Issue.record("accepted an invalid \(parameter)")
            } catch let error as SamplingParamsError {
                #expect(error.parameter == parameter)
                #expect(error.description.hasPrefix(parameter), "\(error)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
    }

    @Test func boundaryValuesAreAccepted() throws {
        _ = try SamplingParams(temperature: 2, topP: 1, topK: -1, minP: 1, presencePenalty: -2, frequencyPenalty: 2, logprobs: 20)
        _ = try SamplingParams(maxTokens: 3, minTokens: 3, logprobs: 0, promptLogprobs: 0)
        #expect(try SamplingParams(topK: -1).topK == 0, "-1 is read as disabled")
    }

    @Test func greedyTurnsOffTruncation() throws {
        let params = try SamplingParams(temperature: 0, topP: 0.5, topK: 3, minP: 0.2)
        #expect(params.isGreedy)
        #expect(params.topP == 1 && params.topK == 0 && params.minP == 0)
    }

    @Test func tinyTemperatureIsRaisedAndSeedMinusOneMeansNone() throws {
        #expect(try SamplingParams(temperature: 1e-6).temperature == SamplingParams.minimumTemperature)
        #expect(try SamplingParams(seed: -1).seed == nil)
        #expect(try SamplingParams(seed: 5).seed == 5)
        #expect(try SamplingParams(seed: -2).seed == UInt64.max - 1)
    }

    @Test func stopTokenIdsAreDeduplicatedInOrder() throws {
        #expect(try SamplingParams(stopTokenIds: [7, 3, 7, 1, 3]).stopTokenIds == [7, 3, 1])
    }

    @Test func generationDefaultsFillOnlyWhatTheRequestLeavesUnset() throws {
        let defaults = GenerationDefaults(temperature: 0.7, topP: 0.8, topK: 20, minP: 0.05, repetitionPenalty: 1.05, maxTokens: 512)
        let unset = try SamplingParams(defaults: defaults)
        #expect(unset.temperature == 0.7 && unset.topP == 0.8 && unset.topK == 20)
        #expect(unset.minP == 0.05 && unset.repetitionPenalty == 1.05)
        #expect(unset.maxTokens == nil && unset.defaultMaxTokens == 512)
        let set = try SamplingParams(temperature: 1, topP: 1, topK: 0, minP: 0, repetitionPenalty: 1, maxTokens: 9, defaults: defaults)
        #expect(set.temperature == 1 && set.topP == 1 && set.topK == 0 && set.minP == 0 && set.repetitionPenalty == 1)
        #expect(set.maxTokens == 9)
    }

    @Test func generationConfigValuesEqualToTransformersDefaultsAreDropped() {
        let qwen = GenerationDefaults.fromGenerationConfig(
            temperature: 0.7, topP: 0.8, topK: 20, minP: nil, repetitionPenalty: 1.05, maxNewTokens: nil, eosTokenIds: [151645, 151643]
        )
        #expect(qwen == GenerationDefaults(temperature: 0.7, topP: 0.8, topK: 20, repetitionPenalty: 1.05, eosTokenIds: [151645, 151643]))
        let neutral = GenerationDefaults.fromGenerationConfig(
            temperature: 1.0, topP: 1.0, topK: 50, minP: 0, repetitionPenalty: 1.0, maxNewTokens: 64, eosTokenIds: nil
        )
        #expect(neutral == GenerationDefaults(minP: 0, maxTokens: 64))
    }
}
