import ArgumentParser
import Foundation
import OmniBench
import OmniEngine
import OmniTensor

extension Bench {
    struct Diffusion: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Seconds per denoising step and per image of a Z-Image diffusers directory, or per DiT forward of its transformer/ folder alone.")

        @Argument(help: "A diffusers directory (model_index.json) of a Z-Image pipeline, or a DiT folder alone (as Benchmarks/peers.py dit-step times it).")
        var modelDir: String

        @Option(help: "Image size WxH.")
        var size: String = "512x512"

        @Option(help: "Denoising steps.")
        var steps: Int = 8

        @Option(help: "DiT cache acceleration: none, first_block_cache or tea_cache.")
        var cacheBackend: String = "none"

        @Option(help: "JSON settings for --cache-backend.")
        var cacheConfig: String?

        @Option(help: "DiT folder alone: caption tokens per forward.")
        var captionTokens: Int = 128

        @Option(help: "DiT folder alone: timed forwards after the warm-up (the best is reported).")
        var repeats: Int = 3

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
            do {
                _ = try DiffusionCacheConfig(backend: cacheBackend, json: cacheConfig)
            } catch {
                throw ValidationError("--cache-backend/--cache-config: \(error)")
            }
            guard captionTokens >= 1, repeats >= 1 else { throw ValidationError("--caption-tokens and --repeats must be at least 1") }
        }

        func run() async throws {
            let bench = DiffusionBenchmark(modelDirectory: modelDir, threads: threads, width: dimensions!.width, height: dimensions!.height,
                                           steps: steps, cache: try DiffusionCacheConfig(backend: cacheBackend, json: cacheConfig),
                                           seed: UInt64(max(seed, 0)), captionTokens: captionTokens, repeats: repeats)
            let r = try bench.run(progress: Bench.progress)
            if json { return Bench.printJSON(r.records) }
            if bench.isTransformerOnly {
                print(String(format: "DiT forward at %dx%d (%d caption tokens), %@, %d threads: %.3f s per step (best of %d; median %.3f s)",
                             r.width, r.height, captionTokens, r.dtype, r.threads, r.secondsPerStep, r.stepSeconds.count,
                             LatencySummary(r.stepSeconds).median))
                return
            }
            print(String(format: "%dx%d, %d steps, %@, cache %@, %d threads", r.width, r.height, r.steps, r.dtype, r.cacheBackend, r.threads))
            print(String(format: "%.3f s per step (steps 2-%d; the first, with the prompt encoding: %.3f s)", r.secondsPerStep, r.steps, r.firstStepSeconds))
            print(String(format: "%.3f s per image (VAE decode %.3f s)", r.secondsPerImage, r.decodeSeconds))
            if r.cacheBackend != "none" {
                let total = max(r.skippedBlocks + r.computedBlocks, 1)
                print(String(format: "%@ skipped %d of %d joint-block evaluations (%.0f%%)", r.cacheBackend, r.skippedBlocks, total,
                             100 * Double(r.skippedBlocks) / Double(total)))
            }
        }
    }
}
