import ArgumentParser
import Foundation
import OmniBench
import OmniTensor

extension Bench {
    struct Throughput: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "nano-vllm's protocol: random token-id prompts and output lengths, ignore_eos, all submitted at once.")

        @Argument(help: "A transformers model directory (Qwen2/2.5, Qwen3, Llama).")
        var modelDir: String

        @Option(help: "Threads. Default: physical cores.")
        var threads: Int = ThreadPool.physicalCores

        @Option(help: "Requests, all submitted at once.")
        var requests: Int = 64

        @Option(help: "Shortest prompt, in tokens.")
        var minInput: Int = 100

        @Option(help: "Longest prompt, in tokens.")
        var maxInput: Int = 1024

        @Option(help: "Fewest output tokens of a request.")
        var minOutput: Int = 100

        @Option(help: "Most output tokens of a request.")
        var maxOutput: Int = 1024

        @Option(help: "Seed for the prompts and lengths.")
        var seed: Int = 0

        @Flag(help: "Print one JSON record instead of a table.")
        var json = false

        func validate() throws {
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
            guard requests >= 1 else { throw ValidationError("--requests must be at least 1") }
            guard minInput >= 1, minInput <= maxInput else { throw ValidationError("need 1 <= --min-input <= --max-input") }
            guard minOutput >= 1, minOutput <= maxOutput else { throw ValidationError("need 1 <= --min-output <= --max-output") }
        }

        func run() async throws {
            let bench = ThroughputBenchmark(modelDirectory: modelDir, threads: threads, requests: requests,
                                            inputRange: minInput...maxInput, outputRange: minOutput...maxOutput,
                                            seed: UInt64(max(seed, 0)))
            let r = try await bench.run(progress: Bench.progress)
            if json { return Bench.printJSON(r.records) }
            print(String(format: "%d requests, %d prompt + %d output tokens in %.2f s", r.requests, r.promptTokens, r.outputTokens, r.seconds))
            print(String(format: "output: %.1f tok/s, total: %.1f tok/s", r.outputTokensPerSecond, r.totalTokensPerSecond))
            print(String(format: "%.1f GFLOP/s = %.0f%% of the %@-weight GEMM rate measured in this run (%.1f GFLOP/s)",
                         r.gflopsPerSecond, 100 * r.roofFraction, r.dtype, r.gemmGFLOPs))
        }
    }
}
