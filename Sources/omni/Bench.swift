import ArgumentParser
import Foundation
import OmniBench
import OmniTensor

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks that report results against this machine's measured roofs.",
        subcommands: [Machine.self, Decode.self, Prefill.self, Throughput.self, Serve.self, Diffusion.self]
    )

    struct Machine: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure read bandwidth and GEMM GFLOP/s (f32 and bf16 weights).")

        @Option(help: "Largest thread count (bandwidth is swept from 1). Default: physical cores.")
        var threads: Int = ThreadPool.physicalCores

        @Option(help: "Read buffer size in MiB (far beyond L3).")
        var bufferMib: Int = 1024

        @Option(help: "GEMM size n for the n x n x n products.")
        var gemmSize: Int = 1024

        @Option(help: "Repetitions; the best is reported.")
        var repeats: Int = 5

        @Flag(help: "Print one JSON object instead of a table.")
        var json = false

        func validate() throws {
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
            guard bufferMib >= 64 else { throw ValidationError("--buffer-mib must be at least 64") }
            guard gemmSize >= 16 else { throw ValidationError("--gemm-size must be at least 16") }
            guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
        }

        func run() async throws {
            let bench = MachineBenchmark(threads: threads, bufferBytes: bufferMib << 20, gemmSize: gemmSize, repeats: repeats)
            let result = bench.run { message in
                FileHandle.standardError.write(Data((message + "\n").utf8))
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(result), as: UTF8.self))
                return
            }
            print("machine: \(result.cpu), \(result.logicalCPUs) logical CPUs, \(result.physicalCores) physical cores, kernels: \(result.isa)")
            for n in 1...result.threads {
                print(String(format: "read bandwidth, %d thread(s): %7.1f GB/s", n, result.readBandwidthGBps[String(n)] ?? 0))
            }
            print(String(format: "GEMM %d^3, f32 weights:  %7.1f GFLOP/s", gemmSize, result.f32GemmGFLOPs))
            print(String(format: "GEMM %d^3, bf16 weights: %7.1f GFLOP/s (%.0f%% of f32)", gemmSize, result.bf16GemmGFLOPs,
                         100 * result.bf16GemmGFLOPs / max(result.f32GemmGFLOPs, 1e-9)))
            print(String(format: "GEMV bf16 weights (batch-1 decode): %7.1f GB/s = %.0f%% of the read roof",
                         result.bf16GemvGBps, 100 * result.bf16GemvShareOfRoof))
            let shares = result.bf16GemvPairedShares
            print(String(format: "GEMV against the probe passes on either side of it: median %.0f%% (%.0f - %.0f%%)",
                         100 * result.bf16GemvPairedShareMedian, 100 * (shares.min() ?? 0), 100 * (shares.max() ?? 0)))
        }
    }

    /// Progress and notes go to stderr, results to stdout.
    @Sendable static func progress(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    /// One JSON record per line, the shape Benchmarks/peers.py reads.
    static func printJSON(_ records: [BenchmarkRecord]) {
        for record in records { print(record.jsonLine()) }
    }
}
