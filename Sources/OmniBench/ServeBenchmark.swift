import Dispatch
import Foundation

/// A client load test of a running OpenAI-compatible server, as `vllm bench serve` runs its random
/// dataset: `numPrompts` prompts of `inputLength` random token ids, each streamed through
/// `/v1/completions` with ignore_eos and max_tokens = `outputLength`, sent at Poisson arrival times
/// (`requestRate` per second, or all at once), at most `maxConcurrency` in flight.
public struct ServeBenchmark: Sendable {
    public var baseURL: URL
    /// The model id to ask for; nil takes the first one `/v1/models` lists.
    public var model: String?
    public var apiKey: String?
    public var numPrompts: Int
    public var requestRate: Double
    public var maxConcurrency: Int?
    public var inputLength: Int
    public var outputLength: Int
    /// Prompt token ids are drawn from [0, this); keep it below the served model's vocabulary.
    public var tokenIdUpperBound: Int
    public var seed: UInt64

    public init(baseURL: URL, model: String? = nil, apiKey: String? = nil, numPrompts: Int = 100, requestRate: Double = .infinity,
                maxConcurrency: Int? = nil, inputLength: Int = 128, outputLength: Int = 128, tokenIdUpperBound: Int = 10_000,
                seed: UInt64 = 0) {
        self.baseURL = baseURL
        self.model = model
        self.apiKey = apiKey
        self.numPrompts = numPrompts
        self.requestRate = requestRate
        self.maxConcurrency = maxConcurrency
        self.inputLength = inputLength
        self.outputLength = outputLength
        self.tokenIdUpperBound = tokenIdUpperBound
        self.seed = seed
    }

    public struct Result: Codable, Sendable {
        public var model: String
        public var completed: Int
        public var failed: Int
        /// The first few failures' messages.
        public var errors: [String]
        public var durationSeconds: Double
        public var totalInputTokens: Int
        public var totalOutputTokens: Int
        public var requestThroughput: Double
        public var outputThroughput: Double
        public var totalTokenThroughput: Double
        /// Milliseconds.
        public var ttft: LatencySummary
        public var tpot: LatencySummary
        public var itl: LatencySummary
        public var e2el: LatencySummary
        public var requestRate: String
        public var maxConcurrency: Int?

        public init(model: String, traces: [RequestTrace], durationSeconds: Double, requestRate: Double, maxConcurrency: Int?) {
            let done = traces.filter(\.isSuccess)
            self.model = model
            completed = done.count
            failed = traces.count - done.count
            errors = Array(traces.compactMap(\.error).prefix(5))
            self.durationSeconds = durationSeconds
            totalInputTokens = done.map(\.promptTokens).reduce(0, +)
            totalOutputTokens = done.map(\.outputTokens).reduce(0, +)
            requestThroughput = durationSeconds > 0 ? Double(completed) / durationSeconds : 0
            outputThroughput = durationSeconds > 0 ? Double(totalOutputTokens) / durationSeconds : 0
            totalTokenThroughput = durationSeconds > 0 ? Double(totalInputTokens + totalOutputTokens) / durationSeconds : 0
            ttft = LatencySummary(done.map(\.timeToFirstToken)).scaled(by: 1000)
            // vLLM's TPOT: a request's decode time over its output tokens after the first.
            tpot = LatencySummary(done.filter { $0.outputTokens > 1 }.map {
                ($0.latency - $0.timeToFirstToken) / Double($0.outputTokens - 1)
            }).scaled(by: 1000)
            itl = LatencySummary(done.flatMap(\.interTokenLatencies)).scaled(by: 1000)
            e2el = LatencySummary(done.map(\.latency)).scaled(by: 1000)
            self.requestRate = requestRate.isFinite ? String(requestRate) : "inf"
            self.maxConcurrency = maxConcurrency
        }

        public var records: [BenchmarkRecord] {
            var details: [String: DetailValue] = [
                "completed": .integer(completed), "failed": .integer(failed), "duration_s": .number(durationSeconds),
                "total_input_tokens": .integer(totalInputTokens), "total_output_tokens": .integer(totalOutputTokens),
                "request_throughput": .number(requestThroughput), "total_token_throughput": .number(totalTokenThroughput),
                "request_rate": .string(requestRate),
            ]
            if let maxConcurrency { details["max_concurrency"] = .integer(maxConcurrency) }
            for (name, summary) in [("ttft", ttft), ("tpot", tpot), ("itl", itl), ("e2el", e2el)] {
                details["mean_\(name)_ms"] = .number(summary.mean)
                details["median_\(name)_ms"] = .number(summary.median)
                details["p99_\(name)_ms"] = .number(summary.p99)
            }
            // The server's dtype and threads are not visible to a client.
            return [BenchmarkRecord(benchmark: "serve", model: model, dtype: "unknown", threads: 0, value: outputThroughput,
                                    unit: "tok/s", details: details)]
        }
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Result {
        let client = StreamingCompletionClient(baseURL: baseURL, apiKey: apiKey)
        let model: String
        if let name = self.model { model = name } else { model = try await client.firstModelId() }
        var random = SeededRandom(seed: seed)
        let prompts = (0..<numPrompts).map { _ in random.tokenIds(count: inputLength, upperBound: tokenIdUpperBound) }
        let starts = PoissonArrivals.startTimes(count: numPrompts, rate: requestRate, seed: seed &+ 1)
        let slots = maxConcurrency.map { ConcurrencyLimit($0) }
        progress("\(numPrompts) requests to \(baseURL) (\(model)), rate \(requestRate.isFinite ? String(requestRate) : "inf")/s, max concurrency \(maxConcurrency.map(String.init) ?? "none")")

        let begin = DispatchTime.now().uptimeNanoseconds
        let traces = await withTaskGroup(of: (Int, RequestTrace).self) { group in
            for (i, prompt) in prompts.enumerated() {
                let due = begin + UInt64(starts[i] * 1e9)
                let now = DispatchTime.now().uptimeNanoseconds
                if due > now { try? await Task.sleep(nanoseconds: due - now) }
                group.addTask { [outputLength] in
                    await slots?.acquire()
                    let trace = await client.complete(model: model, promptTokenIds: prompt, maxTokens: outputLength)
                    await slots?.release()
                    return (i, trace)
                }
            }
            var traces = [RequestTrace?](repeating: nil, count: prompts.count)
            for await (i, trace) in group { traces[i] = trace }
            return traces.compactMap { $0 }
        }
        let duration = Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e9
        return Result(model: model, traces: traces, durationSeconds: duration, requestRate: requestRate, maxConcurrency: maxConcurrency)
    }
}

/// At most `limit` requests in flight; the rest wait in arrival order.
actor ConcurrencyLimit {
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(_ limit: Int) { available = limit }

    func acquire() async {
        if available > 0 { available -= 1; return }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty { available += 1 } else { waiters.removeFirst().resume() }
    }
}
