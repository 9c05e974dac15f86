import ArgumentParser
import Foundation
import OmniBench
import OmniTensor

extension Bench {
    struct Prefill: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Prefill tok/s and GFLOP/s against the GEMM rate (weights in the model's dtype) measured in the same run.")

        @Argument(help: "A transformers model directory (Qwen2/2.5, Qwen3, Llama).")
        var modelDir: String

        @Option(help: "Threads. Default: physical cores.")
        var threads: Int = ThreadPool.physicalCores

        @Option(help: "Random prompt tokens, prefilled in one step.")
        var promptTokens: Int = 512

        @Option(help: "Timed prefills (fresh random prompts); the fastest is kept.")
        var repeats: Int = 3

        @Option(help: "GEMM size n of the n x n x n roof probe.")
        var gemmSize: Int = 1024

        @Option(help: "Seed for the random prompts.")
        var seed: Int = 0

        @Flag(help: "Print one JSON record instead of a table.")
        var json = false

        func validate() throws {
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
            guard promptTokens >= 1 else { throw ValidationError("--prompt-tokens must be at least 1") }
            guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
            guard gemmSize >= 16 else { throw ValidationError("--gemm-size must be at least 16") }
        }

        func run() async throws {
            let bench = PrefillBenchmark(modelDirectory: modelDir, threads: threads, promptTokens: promptTokens, repeats: repeats,
                                         seed: UInt64(max(seed, 0)), probe: RoofProbe(gemmSize: gemmSize))
            let r = try await bench.run(progress: Bench.progress)
            if json { return Bench.printJSON(r.records) }
            print(String(format: "prefill of %d tokens, %@, %d threads: %.3f s = %.1f tok/s", r.promptTokens, r.dtype, r.threads,
                         r.seconds, r.tokensPerSecond))
            print(String(format: "%.1f GFLOP/s = %.0f%% of the %@-weight GEMM rate measured in this run (%.1f GFLOP/s)",
                         r.gflopsPerSecond, 100 * r.roofFraction, r.dtype, r.gemmGFLOPs))
        }
    }
}
