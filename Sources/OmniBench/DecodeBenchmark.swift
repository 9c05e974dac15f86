import Dispatch
import Foundation
import OmniEngine
import OmniPipeline

/// Batch-1 greedy decode speed (EOS ignored, prefill excluded) for one or more thread counts, each
/// against the read-bandwidth roof measured in the same run with the same threads:
/// roof tok/s = read bandwidth / bytes read per token (weights in their stored dtype, lm_head
/// included, plus the KV cache at the mean context).
///
/// Roofs: the best probe of the whole run (`probe.repeats` passes before the runs and as many
/// after), against the fastest run; and, for each run, `bracketPasses` passes just before it and as
/// many just after it, against that run's own rate: their best (`pairedRoofFractions`) and their
/// mean (`pairedMeanRoofFractions`; each pass is the fastest of the probe's patterns). The host's
/// bandwidth drifts by a third within minutes and, in its unsteady phases, halves or doubles from
/// one 40 ms pass to the next, so the best of many passes catches moments a run of seconds
/// averages over: the first roof compares a run with the best moment of several minutes, the
/// second with the best of the seconds around it, the third with their typical rate.
///
/// And windows: just before each run (after the passes that follow the run before it) and once
/// after the last, the probe reads for as long as a run takes (the first window as long as the
/// warm-up's rate says, each later one as long as the run before it took; `ReadProbe.window`: the
/// patterns in turn, each pattern's rate over the whole window), so the roof averages over the
/// host's swings as the run does. The fastest run against the fastest window
/// (`windowBestRoofFraction`) compares like with like: the best of a few spans of equal length,
/// taken in turn in the same minutes; each run is also given against the mean of the two windows
/// around it (`windowRoofFractions`).
public struct DecodeBenchmark: Sendable {
    public var modelDirectory: String
    public var threadCounts: [Int]
    /// Tokens generated per run; the first comes from the prefill and is not counted.
    public var tokens: Int
    public var promptTokens: Int
    /// Timed runs per thread count; the fastest is kept.
    public var repeats: Int
    public var seed: UInt64
    public var probe: RoofProbe

    public init(modelDirectory: String, threadCounts: [Int], tokens: Int = 128, promptTokens: Int = 16, repeats: Int = 1,
                seed: UInt64 = 0, probe: RoofProbe = RoofProbe()) {
        self.modelDirectory = modelDirectory
        self.threadCounts = threadCounts
        self.tokens = tokens
        self.promptTokens = promptTokens
        self.repeats = repeats
        self.seed = seed
        self.probe = probe
    }

    public struct Measurement: Codable, Sendable {
        public var threads: Int
        /// The fastest of the timed runs.
        public var tokensPerSecond: Double
        /// Every timed run's rate, in run order.
        public var runTokensPerSecond: [Double]
        /// Wall time from the first generated token to the last (the fastest run).
        public var decodeSeconds: Double
        public var decodedTokens: Int
        /// Read bandwidth with these threads, best of the probes before and after (GB/s).
        public var readBandwidthGBps: Double
        public var roofTokensPerSecond: Double
        public var roofFraction: Double
        /// The probe's best pass just before each run, and just after the last (GB/s): run i lies
        /// between entries i and i + 1.
        public var bracketBandwidthGBps: [Double]
        /// The same probes' mean pass (GB/s).
        public var bracketMeanBandwidthGBps: [Double]
        /// Each run's read rate (tok/s x bytes per token) over the best pass of the probes around it.
        public var pairedRoofFractions: [Double]
        /// Each run's read rate over the mean pass of the probes around it.
        public var pairedMeanRoofFractions: [Double]
        /// The probe's rate over a window as long as a run, just before each run and just after the
        /// last (GB/s): run i lies between entries i and i + 1.
        public var windowBandwidthGBps: [Double]
        /// Each run's read rate over the mean of the two windows around it.
        public var windowRoofFractions: [Double]
        /// The fastest run's read rate over the fastest window.
        public var windowBestRoofFraction: Double
    }

    public struct Result: Codable, Sendable {
        public var model: String
        public var dtype: String
        public var parameters: Int
        public var weightBytesPerToken: Int
        public var kvBytesPerToken: Double
        public var meanContext: Double
        public var bytesPerToken: Double
        public var promptTokens: Int
        public var tokens: Int
        public var bandwidthBeforeGBps: [String: Double]
        public var bandwidthAfterGBps: [String: Double]
        public var measurements: [Measurement]

        static let method = "AsyncOmni.generate, greedy, ignore_eos, one request; (tokens - 1) / time from the first token to the last; best of the runs after a warm-up"

        public var records: [BenchmarkRecord] {
            measurements.map { m in
                BenchmarkRecord(benchmark: "decode", model: model, dtype: dtype, threads: m.threads, value: m.tokensPerSecond,
                                unit: "tok/s", roofFraction: m.roofFraction, details: [
                                    "batch": 1, "prompt_tokens": .integer(promptTokens), "new_tokens": .integer(tokens),
                                    "decode_seconds": .number(m.decodeSeconds), "read_bandwidth_gbps": .number(m.readBandwidthGBps),
                                    "bytes_per_token": .number(bytesPerToken), "weight_bytes_per_token": .integer(weightBytesPerToken),
                                    "kv_bytes_per_token": .number(kvBytesPerToken), "roof_tok_s": .number(m.roofTokensPerSecond),
                                    "median": .number(LatencySummary(m.runTokensPerSecond).median),
                                    "runs_tok_s": .numbers(m.runTokensPerSecond),
                                    "bracket_read_gbps": .numbers(m.bracketBandwidthGBps),
                                    "paired_roof_fractions": .numbers(m.pairedRoofFractions),
                                    "paired_roof_fraction_median": .number(LatencySummary(m.pairedRoofFractions).median),
                                    "bracket_read_mean_gbps": .numbers(m.bracketMeanBandwidthGBps),
                                    "paired_mean_roof_fractions": .numbers(m.pairedMeanRoofFractions),
                                    "paired_mean_roof_fraction_median": .number(LatencySummary(m.pairedMeanRoofFractions).median),
                                    "window_read_gbps": .numbers(m.windowBandwidthGBps),
                                    "window_roof_fractions": .numbers(m.windowRoofFractions),
                                    "window_roof_fraction_median": .number(LatencySummary(m.windowRoofFractions).median),
                                    "window_best_roof_fraction": .number(m.windowBestRoofFraction),
                                    "method": .string(Self.method),
                                ])
            }
        }
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Result {
        let cost = try DecoderCost(directory: URL(fileURLWithPath: modelDirectory))
        let context = DecoderCost.meanDecodeContext(promptTokens: promptTokens, newTokens: tokens)
        let bytesPerToken = cost.bytesPerToken(context: context)
        progress(String(format: "%@: %.3f GB read per token (weights %.3f GB %@, KV %.4f GB at mean context %.0f)",
                        modelDirectory, bytesPerToken / 1e9, Double(cost.weightBytesPerToken) / 1e9, cost.dtypeName,
                        (bytesPerToken - Double(cost.weightBytesPerToken)) / 1e9, context))
        progress("read roof before: filling \(probe.bufferBytes >> 20) MiB with random bytes")
        let reads = ReadProbe(bytes: probe.bufferBytes, fillThreads: threadCounts.max() ?? 1)
        let before = probe.readBandwidth(reads, threadCounts: threadCounts, progress: progress)

        var random = SeededRandom(seed: seed)
        let prompt = random.tokenIds(count: promptTokens, upperBound: min(cost.config.vocabularySize, 10_000))
        var timings = [(threads: Int, seconds: Double, tokens: Int, rates: [Double], bracket: [[Double]], windows: [Double])]()
        for threads in threadCounts {
            let omni = try AsyncOmni(directory: modelDirectory, options: Self.singleSequenceOptions(
                threads: threads, maxModelLen: promptTokens + tokens, cost: cost))
            defer { omni.shutdown() }
            let warmUp = try await Self.timeDecode(omni, prompt: prompt, tokens: min(tokens, 8))
            var best: (seconds: Double, tokens: Int)?
            var rates = [Double]()
            var bracket = [reads.passes(threads: threads, count: Self.bracketPasses)]
            // The first window as long as the warm-up's rate says a run will take, then as the last run took.
            var windows = [reads.window(threads: threads, seconds: warmUp.seconds / Double(warmUp.tokens) * Double(tokens - 1))]
            for _ in 0..<repeats {
                let run = try await Self.timeDecode(omni, prompt: prompt, tokens: tokens)
                rates.append(Double(run.tokens) / run.seconds)
                if best == nil || rates.last! > Double(best!.tokens) / best!.seconds { best = run }
                bracket.append(reads.passes(threads: threads, count: Self.bracketPasses))
                windows.append(reads.window(threads: threads, seconds: run.seconds))
                let around = bracket.suffix(2).joined().map { String(format: "%.1f", $0) }.joined(separator: " ")
                progress(String(format: "  %d thread(s): %.1f tok/s = %.1f GB/s; probe passes around it: %@ GB/s; windows: %.1f, %.1f GB/s",
                                threads, rates.last!, rates.last! * bytesPerToken / 1e9, around, windows[windows.count - 2], windows.last!))
            }
            timings.append((threads, best!.seconds, best!.tokens, rates, bracket, windows))
        }

        progress("read roof after:")
        let after = probe.readBandwidth(reads, threadCounts: threadCounts, progress: progress)
        let bandwidth = RoofProbe.best(before, after)
        let measurements = timings.map { t -> Measurement in
            let rate = Double(t.tokens) / t.seconds
            let roof = (bandwidth[t.threads] ?? 0) * 1e9 / bytesPerToken
            let bytes = bytesPerToken / 1e9
            // Each run's read rate over the roof `around(i)` gives run i (0 where there is none).
            func fractions(_ around: (Int) -> Double) -> [Double] {
                t.rates.indices.map { i in around(i) > 0 ? t.rates[i] * bytes / around(i) : 0 }
            }
            let best = { (passes: [Double]) in passes.max() ?? 0 }
            let mean = { (passes: [Double]) in passes.reduce(0, +) / Double(max(passes.count, 1)) }
            func paired(_ roof: ([Double]) -> Double) -> [Double] { fractions { roof(t.bracket[$0] + t.bracket[$0 + 1]) } }
            let fastestWindow = best(t.windows)
            return Measurement(threads: t.threads, tokensPerSecond: rate, runTokensPerSecond: t.rates, decodeSeconds: t.seconds, decodedTokens: t.tokens,
                               readBandwidthGBps: bandwidth[t.threads] ?? 0, roofTokensPerSecond: roof,
                               roofFraction: roof > 0 ? rate / roof : 0, bracketBandwidthGBps: t.bracket.map(best),
                               bracketMeanBandwidthGBps: t.bracket.map(mean), pairedRoofFractions: paired(best),
                               pairedMeanRoofFractions: paired(mean), windowBandwidthGBps: t.windows, windowRoofFractions: fractions { (t.windows[$0] + t.windows[$0 + 1]) / 2 },
                               windowBestRoofFraction: fastestWindow > 0 ? rate * bytes / fastestWindow : 0)
        }
        func named(_ d: [Int: Double]) -> [String: Double] { Dictionary(uniqueKeysWithValues: d.map { (String($0.key), $0.value) }) }
        return Result(model: BenchmarkRecord.absolutePath(modelDirectory), dtype: cost.dtypeName, parameters: cost.parameters,
                      weightBytesPerToken: cost.weightBytesPerToken, kvBytesPerToken: bytesPerToken - Double(cost.weightBytesPerToken),
                      meanContext: context, bytesPerToken: bytesPerToken, promptTokens: promptTokens, tokens: tokens,
                      bandwidthBeforeGBps: named(before), bandwidthAfterGBps: named(after), measurements: measurements)
    }

    /// Probe passes just before and just after each run (each pass the fastest of the probe's three
    /// patterns: about 0.6 s in all at 25 GB/s over 1 GiB).
    static let bracketPasses = 5

    /// One request at a time with a KV cache just large enough for `maxModelLen` (rounded up to
    /// whole blocks), and no prefix cache, so every run prefills.
    static func singleSequenceOptions(threads: Int, maxModelLen: Int, cost: DecoderCost) -> EngineOptions {
        var options = EngineOptions()
        options.threads = threads
        options.maxNumSeqs = 1
        options.maxModelLen = maxModelLen
        options.maxNumBatchedTokens = max(options.maxNumBatchedTokens, maxModelLen)
        let blocks = (maxModelLen + options.blockSize - 1) / options.blockSize
        options.kvCacheMemory = blocks * options.blockSize * cost.kvBytesPerPosition
        options.enablePrefixCaching = false
        return options
    }

    /// Seconds from the first generated token to the last, and the tokens generated after the first.
    static func timeDecode(_ omni: AsyncOmni, prompt: [Int], tokens: Int) async throws -> (seconds: Double, tokens: Int) {
        let params = try SamplingParams(temperature: 0, maxTokens: tokens, ignoreEOS: true)
        var first: UInt64?, last: UInt64 = 0, count = 0
        for try await output in omni.generate(promptTokenIds: prompt, params: params) where !output.newTokenIds.isEmpty {
            let now = DispatchTime.now().uptimeNanoseconds
            if first == nil { first = now } else { count += output.newTokenIds.count }
            last = now
        }
        guard let first, count > 0 else { throw BenchError.tooFewTokens(tokens) }
        return (Double(last - first) / 1e9, count)
    }
}
