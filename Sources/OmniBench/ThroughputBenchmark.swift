import Dispatch
import Foundation
import OmniEngine
import OmniPipeline

/// nano-vllm's bench.py protocol: `requests` prompts of random token ids (uniform in [0, 10000))
/// with random lengths in [minInput, maxInput], each with a random max_tokens in
/// [minOutput, maxOutput], temperature 0.6 and ignore_eos, all submitted at once; output tokens per
/// second of wall time is the figure. Its roof share is the achieved GFLOP/s (every prompt and
/// output position's FLOPs) against the GEMM rate measured in the same run.
public struct ThroughputBenchmark: Sendable {
    public var modelDirectory: String
    public var threads: Int
    public var requests: Int
    public var inputRange: ClosedRange<Int>
    public var outputRange: ClosedRange<Int>
    public var seed: UInt64
    public var probe: RoofProbe

    public init(modelDirectory: String, threads: Int, requests: Int = 64, inputRange: ClosedRange<Int> = 100...1024,
                outputRange: ClosedRange<Int> = 100...1024, seed: UInt64 = 0, probe: RoofProbe = RoofProbe()) {
        self.modelDirectory = modelDirectory
        self.threads = threads
        self.requests = requests
        self.inputRange = inputRange
        self.outputRange = outputRange
        self.seed = seed
        self.probe = probe
    }

    /// One request of the workload.
    public struct Request: Sendable, Equatable {
        public var promptTokenIds: [Int]
        public var maxTokens: Int
    }

    /// The workload for a seed: the same prompts and lengths in every run.
    public static func workload(requests: Int, inputRange: ClosedRange<Int>, outputRange: ClosedRange<Int>, seed: UInt64,
                                vocabulary: Int = 10_000) -> [Request] {
        var random = SeededRandom(seed: seed)
        return (0..<requests).map { _ in
            let input = Int.random(in: inputRange, using: &random)
            let prompt = random.tokenIds(count: input, upperBound: vocabulary)
            return Request(promptTokenIds: prompt, maxTokens: Int.random(in: outputRange, using: &random))
        }
    }

    public struct Result: Codable, Sendable {
        public var model: String
        public var dtype: String
        public var threads: Int
        public var requests: Int
        public var promptTokens: Int
        public var outputTokens: Int
        public var seconds: Double
        public var outputTokensPerSecond: Double
        public var totalTokensPerSecond: Double
        public var gflopsPerSecond: Double
        public var gemmGFLOPs: Double
        public var roofFraction: Double

        public var records: [BenchmarkRecord] {
            [BenchmarkRecord(benchmark: "throughput", model: model, dtype: dtype, threads: threads, value: outputTokensPerSecond,
                             unit: "tok/s", roofFraction: roofFraction, details: [
                                 "requests": .integer(requests), "prompt_tokens": .integer(promptTokens),
                                 "output_tokens": .integer(outputTokens), "seconds": .number(seconds),
                                 "total_tok_s": .number(totalTokensPerSecond), "gflop_s": .number(gflopsPerSecond),
                                 "gemm_gflop_s": .number(gemmGFLOPs),
                                 "method": "nano-vllm bench.py: all requests submitted at once through AsyncOmni, temperature 0.6, ignore_eos; output tokens / wall time, one run after a warm-up",
                             ])]
        }
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Result {
        let cost = try DecoderCost(directory: URL(fileURLWithPath: modelDirectory))
        let work = Self.workload(requests: requests, inputRange: inputRange, outputRange: outputRange, seed: seed,
                                 vocabulary: min(10_000, cost.config.vocabularySize))
        progress("GEMM \(probe.gemmSize)^3 with \(cost.dtypeName) weights, \(threads) threads, before")
        let gemmBefore = probe.gemmRate(threads: threads, dtype: cost.dtype)

        var options = EngineOptions()
        options.threads = threads
        options.maxModelLen = inputRange.upperBound + outputRange.upperBound
        let omni = try AsyncOmni(directory: modelDirectory, options: options)
        defer { omni.shutdown() }
        // Warm-up, as nano-vllm's `llm.generate(["Benchmark: "], SamplingParams())`.
        _ = try await Self.generateAll(omni, [Request(promptTokenIds: Array(0..<8), maxTokens: 4)])
        progress("\(requests) requests, \(work.map(\.promptTokenIds.count).reduce(0, +)) prompt tokens, \(work.map(\.maxTokens).reduce(0, +)) output tokens")
        let start = DispatchTime.now().uptimeNanoseconds
        let outputTokens = try await Self.generateAll(omni, work)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9

        progress("GEMM again, after")
        let gemm = max(gemmBefore, probe.gemmRate(threads: threads, dtype: cost.dtype))
        // Each request computes its prompt and every output position but the last in some step, and
        // one logit row per output token.
        let flops = work.reduce(0.0) { total, r in
            total + cost.flops(positions: 0..<(r.promptTokenIds.count + r.maxTokens - 1), logitRows: r.maxTokens)
        }
        let promptTokens = work.map(\.promptTokenIds.count).reduce(0, +)
        let rate = flops / seconds / 1e9
        return Result(model: BenchmarkRecord.absolutePath(modelDirectory), dtype: cost.dtypeName, threads: threads, requests: requests,
                      promptTokens: promptTokens, outputTokens: outputTokens, seconds: seconds,
                      outputTokensPerSecond: Double(outputTokens) / seconds,
                      totalTokensPerSecond: Double(promptTokens + outputTokens) / seconds,
                      gflopsPerSecond: rate, gemmGFLOPs: gemm, roofFraction: gemm > 0 ? rate / gemm : 0)
    }

    /// Submits every request at once and waits for all; returns the output tokens generated.
    static func generateAll(_ omni: AsyncOmni, _ work: [Request]) async throws -> Int {
        try await withThrowingTaskGroup(of: Int.self) { group in
            for (i, request) in work.enumerated() {
                let params = try SamplingParams(temperature: 0.6, seed: i, maxTokens: request.maxTokens, ignoreEOS: true)
                let stream = omni.generate(promptTokenIds: request.promptTokenIds, params: params)
                group.addTask {
                    var count = 0
                    for try await output in stream { count += output.newTokenIds.count }
                    return count
                }
            }
            return try await group.reduce(0, +)
        }
    }
}
