import Foundation
import Testing
@testable import OmniEngine

/// Sampler on hand-made logits with values worked out by hand (vLLM's formulas).
@Suite struct SamplerTests {
    private let negativeInfinity = -Float.infinity

    private func state(_ params: SamplingParams, prompt: [Int] = [], output: [Int] = [], stopIds: [Int] = [], seed: UInt64 = 1) -> SamplerState {
        var state = SamplerState(params: params, promptTokenIds: prompt, minTokensStopIds: stopIds, seed: seed)
        for token in output { state.record(token) }
        return state
    }

    private func processed(_ logits: [Float], _ params: SamplingParams, prompt: [Int] = [], output: [Int] = [], stopIds: [Int] = []) -> [Float] {
        var sampler = Sampler()
        return sampler.processedLogits(logits, params: params, state: state(params, prompt: prompt, output: output, stopIds: stopIds))
    }

    @Test func greedyTakesTheFirstMaximumAndDrawsNothing() throws {
        let params = try SamplingParams(temperature: 0)
        var sampler = Sampler()
        var samplerState = state(params)
        let before = samplerState.generator
        #expect(sampler.sample(logits: [1, 3, 3, 2], params: params, state: &samplerState).tokenId == 1)
        #expect(samplerState.generator.next() == { var g = before; return g.next() }(), "greedy leaves the generator alone")
    }

    /// argmax finds the largest 16 lanes at a time, then its first position: against the plain
    /// scan (first strictly larger wins, NaN never does) on rows of every length around the lanes,
    /// with ties, NaN, signed zeros and the maximum in the tail.
    @Test func argmaxIsTheFirstLargestAsAPlainScanFindsIt() {
        func scan(_ v: [Float]) -> Int {
            var best = 0, bestValue = -Float.infinity
            for (i, x) in v.enumerated() where x > bestValue { best = i; bestValue = x }
            return best
        }
        var generator = SystemRandomNumberGenerator()
        var rows: [[Float]] = [[], [.nan], [-.infinity, -.infinity], [.nan, -.infinity, 2, .nan, 2], [-0.0, 0.0, -1], [0.0, -0.0]]
        for count in [1, 15, 16, 17, 31, 33, 200] {
            for _ in 0..<20 {
                var row = (0..<count).map { _ in Float(Int.random(in: -4...4, using: &generator)) }
                if Bool.random(using: &generator) { row[Int.random(in: 0..<count, using: &generator)] = .nan }
                rows.append(row)
            }
            rows.append(Array(repeating: 1, count: count - 1) + [5])
        }
        for row in rows {
            let got = row.withUnsafeBufferPointer { Sampler.argmax($0) }
            #expect(got == scan(row), "argmax of \(row)")
        }
    }

    @Test func repetitionPenaltyDividesPositiveAndMultipliesNegativeLogits() throws {
        let params = try SamplingParams(temperature: 0, repetitionPenalty: 2)
        // Token 0 is in the prompt, token 1 in the output, tokens 2 and 3 in neither.
        #expect(processed([2, -2, 1, 0.5], params, prompt: [0], output: [1]) == [1, -4, 1, 0.5])
    }

    @Test func frequencyAndPresencePenalizeOutputTokensOnly() throws {
        let params = try SamplingParams(temperature: 0, presencePenalty: 0.25, frequencyPenalty: 0.5)
        #expect(processed([1, 1, 1, 1], params, prompt: [0, 3], output: [1, 1, 2]) == [1, -0.25, 0.25, 1])
    }

    @Test func repetitionPenaltyComesBeforeFrequencyPenalty() throws {
        let params = try SamplingParams(temperature: 0, frequencyPenalty: 1, repetitionPenalty: 2)
        #expect(processed([2, 2, 2], params, prompt: [0], output: [1]) == [1, 0, 2])
    }

    @Test func minTokensMasksStopIdsUntilReached() throws {
        let params = try SamplingParams(temperature: 0, minTokens: 2)
        #expect(processed([0, 1, 2, 9], params, output: [1], stopIds: [3]) == [0, 1, 2, negativeInfinity])
        #expect(processed([0, 1, 2, 9], params, output: [1, 1], stopIds: [3]) == [0, 1, 2, 9])
    }

    @Test func temperatureDividesLogits() throws {
        #expect(processed([1, 2], try SamplingParams(temperature: 0.5)) == [2, 4])
    }

    @Test func topKKeepsTheKLargestAndTiesWithTheKth() throws {
        let params = try SamplingParams(temperature: 1, topK: 2)
        #expect(processed([1, 5, 3, 3, 2], params) == [negativeInfinity, 5, 3, 3, negativeInfinity])
    }

    @Test func topPKeepsTokensWhileTheMassAboveThemIsBelowP() throws {
        let logits = [0.5, 0.3, 0.15, 0.05].map { Float(log($0)) }
        let kept = processed(logits, try SamplingParams(temperature: 1, topP: 0.7))
        #expect(kept[0] == logits[0] && kept[1] == logits[1])
        #expect(kept[2] == negativeInfinity && kept[3] == negativeInfinity)
        #expect(processed(logits, try SamplingParams(temperature: 1, topP: 0.1)).filter(\.isFinite).count == 1, "the top token always stays")
    }

    /// Rows that stress the bucketed search: ties, all equal, values spread far past the bucket
    /// range, masked entries, and thousands of tokens sharing the cut's bucket.
    private func stressRows() -> [[Float]] {
        var generator = Xoshiro256StarStar(seed: 11)
        func uniform() -> Float { Float(generator.nextUnitInterval()) }
        return [
            (0..<1000).map { -Float($0) * 0.03 },
            [Float](repeating: 0.5, count: 300),
            (0..<5000).map { _ in uniform() * 200 - 100 },
            (0..<5000).map { _ in Float(Int(uniform() * 8)) },
            (0..<5000).map { i in i % 3 == 0 ? -.infinity : uniform() * 30 },
            [3] + [Float](repeating: -0.001, count: 4000) + (0..<2000).map { _ in uniform() * 0.001 },
        ]
    }

    @Test func topKMatchesAFullSort() {
        var scratch = LogitBuckets.Scratch()
        for (row, logits) in stressRows().enumerated() {
            let finite = logits.filter { $0 > -.infinity }.sorted(by: >)
            for k in [1, 2, 7, 40, 299, 1000, 4999] where k < logits.count {
                var masked = logits
                masked.withUnsafeMutableBufferPointer { Sampler.applyTopK($0, k: k, scratch: &scratch) }
                let expected = k <= finite.count ? logits.map { $0 < finite[k - 1] ? -.infinity : $0 } : logits
                #expect(masked == expected, "row \(row), k \(k)")
            }
        }
    }

    @Test func topPMatchesAFullSort() {
        var scratch = LogitBuckets.Scratch()
        for (row, logits) in stressRows().enumerated() {
            let maximum = logits.max()!
            let weights = logits.map { exp(Double($0 - maximum)) }
            let total = weights.reduce(0, +)
            let order = logits.indices.filter { logits[$0] > -.infinity }
                .sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
            for p in [0.05, 0.5, 0.9, 0.99, 0.999] {
                var expected = [Float](repeating: -.infinity, count: logits.count)
                var above = 0.0
                for i in order where above < p * total {
                    expected[i] = logits[i]
                    above += weights[i]
                }
                var masked = logits
                masked.withUnsafeMutableBufferPointer { Sampler.applyTopP($0, p: p, scratch: &scratch) }
                #expect(masked == expected, "row \(row), p \(p): kept \(masked.filter(\.isFinite).count), want \(expected.filter(\.isFinite).count)")
            }
        }
    }

    @Test func minPDropsTokensBelowAFractionOfTheMostLikely() throws {
        let logits = [0.6, 0.25, 0.1, 0.05].map { Float(log($0)) }
        let kept = processed(logits, try SamplingParams(temperature: 1, minP: 0.2))
        #expect(kept.map(\.isFinite) == [true, true, false, false])
    }

    @Test func minPAppliesAfterTemperature() throws {
        // exp(-1) < 0.5 would drop token 1; at temperature 2 its ratio is exp(-0.5) > 0.5.
        #expect(processed([0, -1], try SamplingParams(temperature: 2, minP: 0.5)) == [0, -0.5])
        #expect(processed([0, -1], try SamplingParams(temperature: 1, minP: 0.5)) == [0, negativeInfinity])
    }

    @Test func kthLargestAgreesWithSorting() {
        var generator = Xoshiro256StarStar(seed: 9)
        var buffer: [Float] = []
        for trial in 0..<50 {
            let count = 1 + trial * 7
            let values: [Float] = (0..<count).map { _ in
                let draw = generator.next() % 20
                return draw == 0 ? -.infinity : Float(draw % 7)
            }
            let sorted = values.sorted(by: >)
            for k in [1, (count + 1) / 2, count] {
                let kth = values.withUnsafeBufferPointer { Sampler.kthLargest($0, k: k, buffer: &buffer) }
                #expect(kth == sorted[k - 1], "trial \(trial), k \(k)")
            }
        }
    }

    @Test func sameSeedGivesTheSameDrawsAndAnotherSeedDoesNot() throws {
        let params = try SamplingParams(temperature: 1)
        let logits = [Float](repeating: 0, count: 16)
        func draws(seed: UInt64) -> [Int] {
            var sampler = Sampler()
            var samplerState = state(params, seed: seed)
            return (0..<50).map { _ in sampler.sample(logits: logits, params: params, state: &samplerState).tokenId }
        }
        #expect(draws(seed: 42) == draws(seed: 42))
        #expect(draws(seed: 42) != draws(seed: 43))
    }

    @Test func drawsFollowTheSoftmax() throws {
        let params = try SamplingParams(temperature: 1)
        let logits = [0.7, 0.2, 0.1].map { Float(log($0)) }
        var sampler = Sampler()
        var samplerState = state(params, seed: 2024)
        var counts = [0, 0, 0]
        for _ in 0..<20_000 { counts[sampler.sample(logits: logits, params: params, state: &samplerState).tokenId] += 1 }
        for (count, probability) in zip(counts, [0.7, 0.2, 0.1]) {
            #expect(abs(Double(count) / 20_000 - probability) < 0.015, "\(counts)")
        }
    }

    @Test func drawsNeverPickAMaskedToken() throws {
        let params = try SamplingParams(temperature: 1.5, topK: 2)
        var sampler = Sampler()
        var samplerState = state(params, seed: 5)
        let logits: [Float] = [0, 3, -1, 2.5, 1]
        for _ in 0..<500 {
            #expect([1, 3].contains(sampler.sample(logits: logits, params: params, state: &samplerState).tokenId))
        }
    }

    @Test func logprobsAreTheLogSoftmaxOfTheRawLogits() throws {
        let logits: [Float] = [1, 2, 3, 0]
        let logSumExp = log(exp(1.0) + exp(2.0) + exp(3.0) + exp(0.0))
        let result = Logprobs.of(0, in: logits, top: 2)
        #expect(result.token.tokenId == 0 && result.token.rank == 3)
        #expect(abs(Double(result.token.logprob) - (1 - logSumExp)) < 1e-6)
        #expect(result.top.map(\.tokenId) == [2, 1])
        #expect(result.top.map(\.rank) == [1, 2])
        #expect(abs(Double(result.top[0].logprob) - (3 - logSumExp)) < 1e-6)
        #expect(Logprobs.of(1, in: [2, 2, 1], top: 0) == TokenLogprobs(
            token: TokenLogprob(tokenId: 1, logprob: Float(2 - log(2 * exp(2.0) + exp(1.0))), rank: 2), top: []
        ), "ties count as ranked before")

        // Temperature and penalties change the draw, not the reported logprobs.
        let params = try SamplingParams(temperature: 0.5, repetitionPenalty: 1.5, seed: 1, logprobs: 2)
        var sampler = Sampler()
        var samplerState = state(params, prompt: [2])
        let sampled = sampler.sample(logits: logits, params: params, state: &samplerState)
        #expect(sampled.logprobs == Logprobs.of(sampled.tokenId, in: logits, top: 2))
    }
}
