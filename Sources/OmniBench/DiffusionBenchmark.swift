import Dispatch
import Foundation
import OmniPipeline
import OmniTensor
import OmniWeights

/// Seconds per denoising step and per image of a Z-Image diffusers directory, timed through
/// `ZImagePipeline.generate`'s step callback: a step is the gap between two callbacks (the first
/// step also pays the prompt encoding and is reported apart), the image is the whole call,
/// VAE decode included.
public struct DiffusionBenchmark: Sendable {
    /// `--cache-backend`: the DiT cache acceleration to run with.
    public enum CacheBackend: String, CaseIterable, Codable, Sendable {
        case none
        case firstBlockCache = "first_block_cache"
        case teaCache = "tea_cache"
    }

    public var modelDirectory: String
    public var threads: Int
    public var width: Int
    public var height: Int
    public var steps: Int
    public var cacheBackend: CacheBackend
    public var seed: UInt64
    public var prompt: String

    public init(modelDirectory: String, threads: Int, width: Int = 512, height: Int = 512, steps: Int = 8,
                cacheBackend: CacheBackend = .none, seed: UInt64 = 0,
                prompt: String = "A lighthouse on a cliff at dusk, waves below, photographed on film") {
        self.modelDirectory = modelDirectory
        self.threads = threads
        self.width = width
        self.height = height
        self.steps = steps
        self.cacheBackend = cacheBackend
        self.seed = seed
        self.prompt = prompt
    }

    public struct Result: Codable, Sendable {
        public var model: String
        public var dtype: String
        public var threads: Int
        public var width: Int
        public var height: Int
        public var steps: Int
        public var cacheBackend: String
        /// Mean of the steps after the first (the first when there is only one).
        public var secondsPerStep: Double
        public var stepSeconds: [Double]
        /// Prompt encoding plus the first step.
        public var firstStepSeconds: Double
        public var decodeSeconds: Double
        public var secondsPerImage: Double

        public var records: [BenchmarkRecord] {
            [BenchmarkRecord(benchmark: "dit_step", model: model, dtype: dtype, threads: threads, value: secondsPerStep,
                             unit: "s/step", details: [
                                 "width": .integer(width), "height": .integer(height), "steps": .integer(steps),
                                 "cache_backend": .string(cacheBackend), "step_seconds": .numbers(stepSeconds),
                                 "first_step_seconds": .number(firstStepSeconds), "vae_decode_seconds": .number(decodeSeconds),
                                 "seconds_per_image": .number(secondsPerImage),
                                 "median_s": .number(LatencySummary(stepSeconds).median),
                                 "method": "ZImagePipeline.generate, one image; mean gap between step callbacks after the first step",
                             ])]
        }
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) throws -> Result {
        // The cache backends are being built into the diffusion engine; pass `cacheBackend` on here once they land.
        guard cacheBackend == .none else { throw BenchError.unsupportedCacheBackend(cacheBackend.rawValue) }
        let backend = CPUBackend(threads: threads)
        let pipeline = try ZImagePipeline(directory: URL(fileURLWithPath: modelDirectory), backend: backend)
        var stamps = [UInt64]()
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try pipeline.generate(prompt: prompt, width: width, height: height, steps: steps, seed: seed) { step, _ in
            stamps.append(DispatchTime.now().uptimeNanoseconds)
            progress("  step \(step + 1)/\(steps)")
        }
        let end = DispatchTime.now().uptimeNanoseconds
        let gaps = zip(stamps.dropFirst(), stamps).map { Double($0 - $1) / 1e9 }
        let first = Double((stamps.first ?? end) - start) / 1e9
        let weights = try Checkpoint(directory: URL(fileURLWithPath: modelDirectory), component: "transformer")
        let largest = weights.names.compactMap { weights.info($0) }.max { $0.byteCount < $1.byteCount }
        let dtype = largest?.dtype.map(DecoderCost.torchName) ?? "unknown"
        return Result(model: BenchmarkRecord.absolutePath(modelDirectory), dtype: dtype, threads: threads, width: width, height: height, steps: steps,
                      cacheBackend: cacheBackend.rawValue, secondsPerStep: gaps.isEmpty ? first : gaps.reduce(0, +) / Double(gaps.count),
                      stepSeconds: gaps, firstStepSeconds: first, decodeSeconds: Double(end - (stamps.last ?? start)) / 1e9,
                      secondsPerImage: Double(end - start) / 1e9)
    }
}
