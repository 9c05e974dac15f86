import ArgumentParser
import Foundation
import OmniBench

extension Bench {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Drive a running OpenAI-compatible server (streaming /v1/completions) and report TTFT, TPOT, ITL and E2E latency, as `vllm bench serve` does.")

        @Option(help: "The server's base URL.")
        var baseUrl: String = "http://127.0.0.1:8000"

        @Option(help: "Model id to request. Default: the first one /v1/models lists.")
        var model: String?

        @Option(help: "Requests to send.")
        var numPrompts: Int = 100

        @Option(help: "Requests per second (Poisson arrivals), or inf to send all at once.")
        var requestRate: String = "inf"

        @Option(help: "Most requests in flight at once. Default: no limit.")
        var maxConcurrency: Int?

        @Option(help: "Prompt length in tokens (random token ids).")
        var inputLen: Int = 128

        @Option(help: "Output tokens per request (max_tokens with ignore_eos).")
        var outputLen: Int = 128

        @Option(help: "Prompt token ids are drawn below this; keep it under the model's vocabulary size.")
        var tokenIdRange: Int = 10_000

        @Option(help: "Seed for prompts and arrival times.")
        var seed: Int = 0

        @Option(help: "API key sent as a bearer token.")
        var apiKey: String?

        @Flag(help: "Print one JSON record instead of a table.")
        var json = false

        var rate: Double? { requestRate == "inf" ? .infinity : Double(requestRate).flatMap { $0 > 0 ? $0 : nil } }

        func validate() throws {
            guard rate != nil else { throw ValidationError("--request-rate must be inf or a positive number, got \(requestRate)") }
            guard URL(string: baseUrl)?.host != nil else { throw ValidationError("--base-url must be a URL such as http://127.0.0.1:8000") }
            guard numPrompts >= 1 else { throw ValidationError("--num-prompts must be at least 1") }
            guard inputLen >= 1, outputLen >= 1 else { throw ValidationError("--input-len and --output-len must be at least 1") }
            guard tokenIdRange >= 1 else { throw ValidationError("--token-id-range must be at least 1") }
            if let maxConcurrency, maxConcurrency < 1 { throw ValidationError("--max-concurrency must be at least 1") }
        }

        func run() async throws {
            let bench = ServeBenchmark(baseURL: URL(string: baseUrl)!, model: model, apiKey: apiKey, numPrompts: numPrompts,
                                       requestRate: rate!, maxConcurrency: maxConcurrency, inputLength: inputLen,
                                       outputLength: outputLen, tokenIdUpperBound: tokenIdRange, seed: UInt64(max(seed, 0)))
            let r = try await bench.run(progress: Bench.progress)
            guard r.completed > 0 else {
                throw BenchError.server("no request succeeded; the first error: \(r.errors.first ?? "none reported")")
            }
            if json {
                for error in r.errors { Bench.progress("error: \(error)") }
                return Bench.printJSON(r.records)
            }
            print(Self.report(r))
        }

        /// The table `vllm bench serve` prints, line for line.
        static func report(_ r: ServeBenchmark.Result) -> String {
            var lines = ["============ Serving Benchmark Result ============"]
            func row(_ name: String, _ value: String) { lines.append(name.padding(toLength: 40, withPad: " ", startingAt: 0) + value) }
            func section(_ title: String) {
                let pad = max(0, 50 - title.count - 2) / 2
                lines.append(String(repeating: "-", count: pad) + title + String(repeating: "-", count: max(0, 50 - title.count - pad)))
            }
            row("Successful requests:", "\(r.completed)")
            if r.failed > 0 { row("Failed requests:", "\(r.failed)") }
            row("Request rate configured (RPS):", r.requestRate)
            if let c = r.maxConcurrency { row("Maximum request concurrency:", "\(c)") }
            row("Benchmark duration (s):", String(format: "%.2f", r.durationSeconds))
            row("Total input tokens:", "\(r.totalInputTokens)")
            row("Total generated tokens:", "\(r.totalOutputTokens)")
            row("Request throughput (req/s):", String(format: "%.2f", r.requestThroughput))
            row("Output token throughput (tok/s):", String(format: "%.2f", r.outputThroughput))
            row("Total Token throughput (tok/s):", String(format: "%.2f", r.totalTokenThroughput))
            for (title, name, s) in [("Time to First Token", "TTFT", r.ttft), ("Time per Output Token (excl. 1st token)", "TPOT", r.tpot),
                                     ("Inter-token Latency", "ITL", r.itl), ("End-to-end Latency", "E2EL", r.e2el)] {
                section(title)
                row("Mean \(name) (ms):", String(format: "%.2f", s.mean))
                row("Median \(name) (ms):", String(format: "%.2f", s.median))
                row("P99 \(name) (ms):", String(format: "%.2f", s.p99))
            }
            lines.append(String(repeating: "=", count: 50))
            for error in r.errors { lines.append("error: \(error)") }
            return lines.joined(separator: "\n")
        }
    }
}
