import ArgumentParser
import Foundation
import OmniBench
import OmniTensor

extension Bench {
    struct Decode: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Batch-1 greedy decode tok/s (EOS ignored, prefill excluded) against the read-bandwidth roof measured in the same run.")

        @Argument(help: "A transformers model directory (Qwen2/2.5, Qwen3, Llama).")
        var modelDir: String

        @Option(help: "Threads (the largest count with --sweep-threads). Default: physical cores.")
        var threads: Int = ThreadPool.physicalCores

        @Option(help: "Tokens to generate per run (the first, from the prefill, is not timed).")
        var tokens: Int = 128

        @Option(help: "Random prompt tokens before decoding.")
        var promptTokens: Int = 16

        @Flag(help: "Measure every thread count from 1 to --threads.")
        var sweepThreads = false

        @Option(help: "Timed runs per thread count; the fastest is kept.")
        var repeats: Int = 1

        @Option(help: "Read-bandwidth probe buffer in MiB (far beyond L3).")
        var bufferMib: Int = 1024

        @Option(help: "Seed for the random prompt.")
        var seed: Int = 0

        @Flag(help: "Print one JSON record per thread count instead of a table.")
        var json = false

        @Option(help: "Also draw tok/s and the roof per thread count into this PNG file.")
        var plot: String?

        func validate() throws {
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
            guard tokens >= 2 else { throw ValidationError("--tokens must be at least 2 (the first token comes from the prefill)") }
            guard promptTokens >= 1 else { throw ValidationError("--prompt-tokens must be at least 1") }
            guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
            guard bufferMib >= 64 else { throw ValidationError("--buffer-mib must be at least 64") }
        }

        func run() async throws {
            let bench = DecodeBenchmark(modelDirectory: modelDir, threadCounts: sweepThreads ? Array(1...threads) : [threads],
                                        tokens: tokens, promptTokens: promptTokens, repeats: repeats, seed: UInt64(max(seed, 0)),
                                        probe: RoofProbe(bufferBytes: bufferMib << 20))
            let result = try await bench.run(progress: Bench.progress)
            if let plot {
                let name = URL(fileURLWithPath: modelDir).lastPathComponent
                let chart = LineChart(
                    title: "Decode, \(name), \(result.dtype), \(CPUBackend.MatmulPrecision.fromEnvironment == .bfloat16 ? "bf16" : "f32") matmul",
                    xLabel: "threads", yLabel: "tokens per second",
                    series: [
                        .init(name: "swift-omni decode", points: result.measurements.map { (Double($0.threads), $0.tokensPerSecond) },
                              pointLabels: result.measurements.map { String(format: "%.1f (%.0f%%)", $0.tokensPerSecond, 100 * $0.roofFraction) }),
                        .init(name: String(format: "read roof: bandwidth / %.3f GB per token", result.bytesPerToken / 1e9),
                              points: result.measurements.map { (Double($0.threads), $0.roofTokensPerSecond) }, isDashed: true),
                    ])
                try chart.writePNG(to: URL(fileURLWithPath: plot))
                Bench.progress("wrote \(plot)")
            }
            if json { return Bench.printJSON(result.records) }
            print(String(format: "%@ (%@): %.3f GB read per token = weights %.3f GB + KV %.4f GB at mean context %.0f",
                         modelDir, result.dtype, result.bytesPerToken / 1e9, Double(result.weightBytesPerToken) / 1e9,
                         result.kvBytesPerToken / 1e9, result.meanContext))
            print("threads   tok/s   read GB/s   roof tok/s   % of roof   each run against the probes around it, median (range):")
            print("                                                          % of their best pass   % of their mean pass")
            for m in result.measurements {
                let best = m.pairedRoofFractions, mean = m.pairedMeanRoofFractions
                print(String(format: "%7d %7.1f %11.1f %12.1f %10.0f%%   %9.0f%% (%.0f - %.0f%%) %11.0f%% (%.0f - %.0f%%)", m.threads,
                             m.tokensPerSecond, m.readBandwidthGBps, m.roofTokensPerSecond, 100 * m.roofFraction,
                             100 * LatencySummary(best).median, 100 * (best.min() ?? 0), 100 * (best.max() ?? 0),
                             100 * LatencySummary(mean).median, 100 * (mean.min() ?? 0), 100 * (mean.max() ?? 0)))
            }
            print("windows as long as a run, just before and after each (the probe's patterns in turn, each over the window):")
            for m in result.measurements {
                let each = m.windowRoofFractions
                print(String(format: "%7d threads: window GB/s %@; fastest run / fastest window %.0f%%; each run / the two around it %.0f%% (%.0f - %.0f%%)",
                             m.threads, m.windowBandwidthGBps.map { String(format: "%.1f", $0) }.joined(separator: " "),
                             100 * m.windowBestRoofFraction, 100 * LatencySummary(each).median, 100 * (each.min() ?? 0),
                             100 * (each.max() ?? 0)))
            }
        }
    }
}
