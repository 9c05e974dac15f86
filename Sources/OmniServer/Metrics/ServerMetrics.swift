import CoreMetrics
import Metrics
import OmniEngine
import Prometheus
import Synchronization

/// The server's Prometheus metrics, vLLM's names under an `omni:` prefix, each labelled with
/// `model_name`. Engine gauges and counters are read from the engine when /metrics is scraped;
/// latencies are recorded per completion as requests finish. Metrics go through swift-metrics
/// into this server's own registry (no process-wide bootstrap), so several servers can coexist.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()

    let timeToFirstToken: Metrics.Timer
    let timePerOutputToken: Metrics.Timer
    let requestLatency: Metrics.Timer

    private let running: CoreMetrics.Gauge
    private let waiting: CoreMetrics.Gauge
    private let kvCacheUsage: CoreMetrics.Gauge
    private let kvCacheFreeBlocks: CoreMetrics.Gauge
    private let kvCacheBlocks: CoreMetrics.Gauge
    private let promptTokens: CoreMetrics.Counter
    private let generationTokens: CoreMetrics.Counter
    private let prefixCacheQueries: CoreMetrics.Counter
    private let prefixCacheHits: CoreMetrics.Counter
    private let preemptions: CoreMetrics.Counter
    private let success: [FinishReason: CoreMetrics.Counter]
    /// Image models: images made, and the DiT joint-block evaluations the step cache skipped / ran.
    private let imagesGenerated: CoreMetrics.Counter
    private let skippedBlocks: CoreMetrics.Counter
    private let computedBlocks: CoreMetrics.Counter
    /// The engine counters as of the last scrape, so the Prometheus counters advance by the difference.
    private let lastSeen = Mutex<EngineMetrics?>(nil)

    init(modelName: String) {
        var factory = PrometheusMetricsFactory(registry: registry)
        let latencyBuckets: [Duration] = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160]
            .map { .milliseconds(Int($0 * 1000)) }
        let tokenBuckets: [Duration] = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80]
            .map { .milliseconds(Int($0 * 1000)) }
        factory.durationHistogramBuckets = [
            "omni:time_to_first_token_seconds": latencyBuckets,
            "omni:time_per_output_token_seconds": tokenBuckets,
            "omni:e2e_request_latency_seconds": latencyBuckets,
        ]
        let labels = [("model_name", modelName)]
        func gauge(_ name: String) -> CoreMetrics.Gauge { CoreMetrics.Gauge(label: "omni:" + name, dimensions: labels, factory: factory) }
        func counter(_ name: String, _ extra: [(String, String)] = []) -> CoreMetrics.Counter {
            CoreMetrics.Counter(label: "omni:" + name, dimensions: labels + extra, factory: factory)
        }
        func timer(_ name: String) -> Metrics.Timer { Metrics.Timer(label: "omni:" + name, dimensions: labels, factory: factory) }

        timeToFirstToken = timer("time_to_first_token_seconds")
        timePerOutputToken = timer("time_per_output_token_seconds")
        requestLatency = timer("e2e_request_latency_seconds")
        running = gauge("num_requests_running")
        waiting = gauge("num_requests_waiting")
        kvCacheUsage = gauge("kv_cache_usage_perc")
        kvCacheFreeBlocks = gauge("kv_cache_free_blocks")
        kvCacheBlocks = gauge("kv_cache_blocks")
        promptTokens = counter("prompt_tokens_total")
        generationTokens = counter("generation_tokens_total")
        prefixCacheQueries = counter("prefix_cache_queries_total")
        prefixCacheHits = counter("prefix_cache_hits_total")
        preemptions = counter("num_preemptions_total")
        success = [
            .stop: counter("request_success_total", [("finished_reason", "stop")]),
            .length: counter("request_success_total", [("finished_reason", "length")]),
            .abort: counter("request_success_total", [("finished_reason", "abort")]),
        ]
        imagesGenerated = counter("images_generated_total")
        skippedBlocks = counter("diffusion_skipped_blocks_total")
        computedBlocks = counter("diffusion_computed_blocks_total")
    }

    /// An image request ended: its images and what the step cache did (a request that failed or
    /// was aborted counts as an abort with no images).
    func imagesFinished(images: Int, skippedBlocks skipped: Int, computedBlocks computed: Int, latency: Duration) {
        success[images > 0 ? .stop : .abort]?.increment()
        guard images > 0 else { return }
        requestLatency.recordInterval(latency)
        imagesGenerated.increment(by: images)
        skippedBlocks.increment(by: skipped)
        computedBlocks.increment(by: computed)
    }

    /// The diffusion engine's running batch and queue, for the scrape.
    func diffusionLoad(running r: Int, waiting w: Int) {
        running.record(r)
        waiting.record(w)
    }

    /// A completion ended (vLLM's request_success_total by finish reason).
    func finished(reason: FinishReason) {
        success[reason]?.increment()
    }

    /// Brings the engine's gauges and counters up to `engine` and returns the exposition text.
    func exposition(engine: EngineMetrics?) -> [UInt8] {
        if let engine { update(engine) }
        return registry.emitToBuffer()
    }

    private func update(_ engine: EngineMetrics) {
        running.record(engine.numRunning)
        waiting.record(engine.numWaiting)
        kvCacheUsage.record(engine.kvCacheUsage)
        kvCacheFreeBlocks.record(engine.numFreeBlocks)
        kvCacheBlocks.record(engine.numBlocks)
        lastSeen.withLock { last in
            let before = last
            func advance(_ counter: CoreMetrics.Counter, _ value: KeyPath<EngineMetrics, Int>) {
                let delta = engine[keyPath: value] - (before?[keyPath: value] ?? 0)
                if delta > 0 { counter.increment(by: delta) }
            }
            advance(promptTokens, \.promptTokens)
            advance(generationTokens, \.generationTokens)
            advance(prefixCacheQueries, \.prefixCacheQueries)
            advance(prefixCacheHits, \.prefixCacheHits)
            advance(preemptions, \.numPreemptions)
            last = engine
        }
    }
}

extension Metrics.Timer {
    func recordInterval(_ duration: Duration) { record(duration: duration) }
}
