import ArgumentParser
import Foundation
import OmniBench
import OmniTensor

extension Bench {
    struct Diffusion: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Seconds per denoising step and per image of a Z-Image diffusers directory.")

        @Argument(help: "A diffusers directory (model_index.json) of a Z-Image pipeline.")
        var modelDir: String

        @Option(help: "Image size WxH.")
        var size: String = "512x512"

        @Option(help: "Denoising steps.")
        var steps: Int = 8

        @Option(help: "DiT cache acceleration: none, first_block_cache or tea_cache.")
        var cacheBackend: String = "none"

        @Option(help: "Threads. Default: physical cores.")
        var threads: Int = ThreadPool.physicalCores

        @Option(help: "Seed for the initial latents.")
        var seed: Int = 0

        @Flag(help: "Print one JSON record instead of a table.")
        var json = false

        var dimensions: (width: Int, height: Int)? {
            let parts = size.lowercased().split(separator: "x").compactMap { Int($0) }
            return parts.count == 2 && parts.allSatisfy({ $0 > 0 }) ? (parts[0], parts[1]) : nil
        }

        func validate() throws {
            guard dimensions != nil else { throw ValidationError("--size must be WIDTHxHEIGHT, e.g. 512x512, got \(size)") }
            guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
            guard DiffusionBenchmark.CacheBackend(rawValue: cacheBackend) != nil else {
                throw ValidationError("--cache-backend must be one of \(DiffusionBenchmark.CacheBackend.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }

        func run() async throws {
            let bench = DiffusionBenchmark(modelDirectory: modelDir, threads: threads, width: dimensions!.width, height: dimensions!.height,
                                           steps: steps, cacheBackend: DiffusionBenchmark.CacheBackend(rawValue: cacheBackend)!,
                                           seed: UInt64(max(seed, 0)))
            let r = try bench.run(progress: Bench.progress)
            if json { return Bench.printJSON(r.records) }
            print(String(format: "%dx%d, %d steps, %@, cache %@, %d threads", r.width, r.height, r.steps, r.dtype, r.cacheBackend, r.threads))
            print(String(format: "%.3f s per step (steps 2-%d; the first, with the prompt encoding: %.3f s)", r.secondsPerStep, r.steps, r.firstStepSeconds))
            print(String(format: "%.3f s per image (VAE decode %.3f s)", r.secondsPerImage, r.decodeSeconds))
        }
    }
}
