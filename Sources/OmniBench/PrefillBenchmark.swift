import Dispatch
import Foundation
import OmniEngine
import OmniPipeline

/// Prefill speed of one prompt (random token ids, one engine step when it fits
/// max_num_batched_tokens), timed to its first token, against the bf16/f32 GEMM rate measured in
/// the same run with the same threads: achieved GFLOP/s = (2 x matmul weights x tokens + the
/// lm_head row + causal attention FLOPs) / seconds.
public struct PrefillBenchmark: Sendable {
    public var modelDirectory: String
    public var threads: Int
    public var promptTokens: Int
    /// Timed prefills (each a fresh random prompt, so no prefix-cache hit); the fastest is kept.
    public var repeats: Int
    public var seed: UInt64
    public var probe: RoofProbe

    public init(modelDirectory: String, threads: Int, promptTokens: Int = 512, repeats: Int = 3, seed: UInt64 = 0,
                probe: RoofProbe = RoofProbe()) {
        self.modelDirectory = modelDirectory
        self.threads = threads
        self.promptTokens = promptTokens
        self.repeats = repeats
        self.seed = seed
        self.probe = probe
    }

    public struct Result: Codable, Sendable {
        public var model: String
        public var dtype: String
        public var threads: Int
        public var promptTokens: Int
        /// The fastest of the timed prefills.
        public var seconds: Double
        /// Every timed prefill, in run order.
        public var runSeconds: [Double]
        public var tokensPerSecond: Double
        public var flops: Double
        public var gflopsPerSecond: Double
        /// The GEMM rate with weights in the model's dtype, best of the probes before and after.
        public var gemmGFLOPs: Double
        public var roofFraction: Double

        public var records: [BenchmarkRecord] {
            [BenchmarkRecord(benchmark: "prefill", model: model, dtype: dtype, threads: threads, value: tokensPerSecond,
                             unit: "tok/s", roofFraction: roofFraction, details: [
                                 "prompt_tokens": .integer(promptTokens), "seconds": .number(seconds),
                                 "flops": .number(flops), "gflop_s": .number(gflopsPerSecond), "gemm_gflop_s": .number(gemmGFLOPs),
                                 "median": .number(Double(promptTokens) / LatencySummary(runSeconds).median),
                                 "runs_s": .numbers(runSeconds),
                                 "method": "AsyncOmni.generate of a fresh random prompt with max_tokens 1, timed to its token; best of the runs after a warm-up",
                             ])]
        }
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Result {
        let cost = try DecoderCost(directory: URL(fileURLWithPath: modelDirectory))
        progress("GEMM \(probe.gemmSize)^3 with \(cost.dtypeName) weights, \(threads) threads, before")
        let gemmBefore = probe.gemmRate(threads: threads, dtype: cost.dtype)

        let options = DecodeBenchmark.singleSequenceOptions(threads: threads, maxModelLen: promptTokens + 1, cost: cost)
        let omni = try AsyncOmni(directory: modelDirectory, options: options)
        defer { omni.shutdown() }
        var random = SeededRandom(seed: seed)
        let vocabulary = min(cost.config.vocabularySize, 10_000)
        _ = try await Self.timeToFirstToken(omni, prompt: random.tokenIds(count: min(promptTokens, 64), upperBound: vocabulary))
        var runs = [Double]()
        for _ in 0..<repeats {
            let seconds = try await Self.timeToFirstToken(omni, prompt: random.tokenIds(count: promptTokens, upperBound: vocabulary))
            runs.append(seconds)
            progress(String(format: "  prefill of %d tokens: %.3f s", promptTokens, seconds))
        }

        progress("GEMM again, after")
        let gemm = max(gemmBefore, probe.gemmRate(threads: threads, dtype: cost.dtype))
        let flops = cost.flops(positions: 0..<promptTokens, logitRows: 1)
        let best = runs.min()!
        let rate = flops / best / 1e9
        return Result(model: BenchmarkRecord.absolutePath(modelDirectory), dtype: cost.dtypeName, threads: threads, promptTokens: promptTokens, seconds: best, runSeconds: runs,
                      tokensPerSecond: Double(promptTokens) / best, flops: flops, gflopsPerSecond: rate, gemmGFLOPs: gemm,
                      roofFraction: gemm > 0 ? rate / gemm : 0)
    }

    /// Wall time from submission to the first generated token (the prompt's forward and one sample).
    static func timeToFirstToken(_ omni: AsyncOmni, prompt: [Int]) async throws -> Double {
        let params = try SamplingParams(temperature: 0, maxTokens: 1, ignoreEOS: true)
        let start = DispatchTime.now().uptimeNanoseconds
        for try await output in omni.generate(promptTokenIds: prompt, params: params) where !output.newTokenIds.isEmpty {
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        throw BenchError.noOutput(request: "the prefill request")
    }
}
