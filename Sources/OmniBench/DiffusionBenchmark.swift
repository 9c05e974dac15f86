import Dispatch
import Foundation
import OmniEngine
import OmniModels
import OmniPipeline
import OmniTensor
import OmniWeights

/// Seconds per denoising step and per image of a Z-Image diffusers directory, timed through
/// `ZImagePipeline.generate`'s step callback: a step is the gap between two callbacks (the first
/// step also pays the prompt encoding and is reported apart), the image is the whole call,
/// VAE decode included. With a step cache, the joint-block evaluations it skipped are reported.
///
/// Given a DiT folder alone (a diffusers `transformer/` directory, as Benchmarks/peers.py's
/// `dit-step` times it), it times the transformer's forward on seeded random latents of the size
/// and `captionTokens` random caption features: the same step peers.py measures with diffusers.
public struct DiffusionBenchmark: Sendable {
    public var modelDirectory: String
    public var threads: Int
    public var width: Int
    public var height: Int
    public var steps: Int
    public var cache: DiffusionCacheConfig
    /// Caption features per step when timing a DiT folder alone.
    public var captionTokens: Int
    /// Forward passes timed when timing a DiT folder alone (the best and the median are kept).
    public var repeats: Int
    public var seed: UInt64
    public var prompt: String

    public init(modelDirectory: String, threads: Int, width: Int = 512, height: Int = 512, steps: Int = 8,
                cache: DiffusionCacheConfig = DiffusionCacheConfig(), seed: UInt64 = 0, captionTokens: Int = 128, repeats: Int = 3,
                prompt: String = "A lighthouse on a cliff at dusk, waves below, photographed on film") {
        self.modelDirectory = modelDirectory
        self.threads = threads
        self.width = width
        self.height = height
        self.steps = steps
        self.cache = cache
        self.seed = seed
        self.captionTokens = captionTokens
        self.repeats = repeats
        self.prompt = prompt
    }

    /// Whether the directory is a DiT folder alone (no `model_index.json`).
    public var isTransformerOnly: Bool {
        !FileManager.default.fileExists(atPath: URL(fileURLWithPath: modelDirectory).appendingPathComponent("model_index.json").path)
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
        /// Joint-block evaluations the step cache skipped and ran.
        public var skippedBlocks: Int
        public var computedBlocks: Int

        public var records: [BenchmarkRecord] {
            [BenchmarkRecord(benchmark: "dit_step", model: model, dtype: dtype, threads: threads, value: secondsPerStep,
                             unit: "s/step", details: [
                                 "width": .integer(width), "height": .integer(height), "steps": .integer(steps),
                                 "cache_backend": .string(cacheBackend), "step_seconds": .numbers(stepSeconds),
                                 "first_step_seconds": .number(firstStepSeconds), "vae_decode_seconds": .number(decodeSeconds),
                                 "seconds_per_image": .number(secondsPerImage),
                                 "skipped_blocks": .integer(skippedBlocks), "computed_blocks": .integer(computedBlocks),
                                 "median_s": .number(LatencySummary(stepSeconds).median),
                                 "method": "ZImagePipeline.generate, one image; mean gap between step callbacks after the first step",
                             ])]
        }
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) throws -> Result {
        let backend = CPUBackend(threads: threads)
        if isTransformerOnly { return try runTransformer(backend: backend, progress: progress) }
        let pipeline = try ZImagePipeline(directory: URL(fileURLWithPath: modelDirectory), backend: backend)
        var stamps = [UInt64]()
        let start = DispatchTime.now().uptimeNanoseconds
        let request = ImageRequest(prompt: prompt, width: width, height: height, steps: steps, seed: seed, cache: cache)
        let output = try pipeline.generate(request) { step, _ in
            stamps.append(DispatchTime.now().uptimeNanoseconds)
            progress("  step \(step + 1)/\(steps)")
        }
        let end = DispatchTime.now().uptimeNanoseconds
        let gaps = zip(stamps.dropFirst(), stamps).map { Double($0 - $1) / 1e9 }
        let first = Double((stamps.first ?? end) - start) / 1e9
        return Result(model: BenchmarkRecord.absolutePath(modelDirectory), dtype: try Self.weightDType(modelDirectory, component: "transformer"),
                      threads: threads, width: width, height: height, steps: steps,
                      cacheBackend: cache.kind.rawValue, secondsPerStep: gaps.isEmpty ? first : gaps.reduce(0, +) / Double(gaps.count),
                      stepSeconds: gaps, firstStepSeconds: first, decodeSeconds: Double(end - (stamps.last ?? start)) / 1e9,
                      secondsPerImage: Double(end - start) / 1e9,
                      skippedBlocks: output.cache.skippedBlocks, computedBlocks: output.cache.computedBlocks)
    }

    /// One DiT forward per repeat (after a warm-up) on random latents `[C, 1, H/8, W/8]` at a mid
    /// timestep, as peers.py's `dit-step`: what a denoising step costs without CFG.
    private func runTransformer(backend: CPUBackend, progress: @escaping @Sendable (String) -> Void) throws -> Result {
        let transformer = try ZImageTransformer(directory: URL(fileURLWithPath: modelDirectory), backend: backend)
        let c = transformer.config
        var generator = TorchGenerator(seed: seed)
        let latents = generator.randn([c.inChannels, 1, height / 8, width / 8])
        let caption = generator.randn([captionTokens, c.captionFeatureDim])
        func step() throws -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try transformer(latents: [latents], timesteps: [0.5], captions: [caption])
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        progress("  warm-up step")
        let first = try step()
        var times = [Double]()
        for i in 0..<repeats {
            times.append(try step())
            progress("  step \(i + 1)/\(repeats): \(String(format: "%.3f", times.last!)) s")
        }
        let layers = (c.layers + 2 * c.refinerLayers)
        return Result(model: BenchmarkRecord.absolutePath(modelDirectory), dtype: try Self.weightDType(modelDirectory, component: nil),
                      threads: threads, width: width, height: height, steps: repeats, cacheBackend: "none",
                      secondsPerStep: times.min() ?? first, stepSeconds: times, firstStepSeconds: first, decodeSeconds: 0,
                      secondsPerImage: 0, skippedBlocks: 0, computedBlocks: layers * repeats)
    }

    /// The dtype of the DiT's largest tensor, as torch names it.
    static func weightDType(_ directory: String, component: String?) throws -> String {
        let url = URL(fileURLWithPath: directory)
        let weights = try component.map { try Checkpoint(directory: url, component: $0) } ?? Checkpoint(directory: url)
        let largest = weights.names.compactMap { weights.info($0) }.max { $0.byteCount < $1.byteCount }
        return largest?.dtype.map(DecoderCost.torchName) ?? "unknown"
    }
}
