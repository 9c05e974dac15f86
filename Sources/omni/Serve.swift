import ArgumentParser
import Foundation
import Logging
import OmniEngine
import OmniPipeline
import OmniServer
import OmniTensor

/// Options every command that loads a model shares (DESIGN.md §5). Each also reads
/// `OMNI_<FLAG>` from the environment; a flag on the command line wins.
struct ModelOptions: ParsableArguments {
    @Argument(help: "A local model directory in the Hugging Face layout.")
    var modelDir: String

    @Option(help: "cpu or cuda.")
    var device: String = EnvironmentDefault.string("DEVICE") ?? "cpu"

    @Option(help: "auto, float32, bfloat16 or float16 (weight storage dtype).")
    var dtype: String = EnvironmentDefault.string("DTYPE") ?? "auto"

    @Option(help: "Threads for CPU kernels. Default: physical cores.")
    var threads: Int?

    @Option(help: "float32 or bfloat16: what products with bf16 weights compute in on the CPU. float32 keeps f32 activations (results as the f32 reference over the stored weights); bfloat16 rounds activations to bf16 and multiplies with AVX512-BF16, as torch's bf16 matmul, at twice the rate.")
    var matmulPrecision: String = EnvironmentDefault.string("MATMUL_PRECISION") ?? "float32"

    func validate() throws {
        guard ["cpu", "cuda"].contains(device) else { throw ValidationError("--device must be cpu or cuda, got \(device)") }
        guard ["auto", "float32", "bfloat16", "float16"].contains(dtype) else {
            throw ValidationError("--dtype must be auto, float32, bfloat16 or float16, got \(dtype)")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        guard precision != nil else {
            throw ValidationError("--matmul-precision must be float32 or bfloat16, got \(matmulPrecision)")
        }
    }

    var precision: CPUBackend.MatmulPrecision? { CPUBackend.MatmulPrecision(rawValue: matmulPrecision) }

    /// The options every model command sets from these flags.
    func apply(to options: inout EngineOptions) {
        options.threads = threads
        options.matmulPrecision = precision ?? .float32
    }
}

/// Options of diffusion models (`serve` and `generate`): the step batch and the step cache.
struct DiffusionOptions: ParsableArguments {
    @Option(help: "none, tea_cache or first_block_cache: diffusion step caching (env OMNI_CACHE_BACKEND).")
    var cacheBackend: String = EnvironmentDefault.string("CACHE_BACKEND") ?? "none"

    @Option(help: "JSON settings for --cache-backend, e.g. '{\"residual_diff_threshold\": 0.1}' (env OMNI_CACHE_CONFIG).")
    var cacheConfig: String?

    @Option(help: "Diffusion requests denoised together, step by step (env OMNI_DIFFUSION_BATCH_SIZE).")
    var diffusionBatchSize: Int = EnvironmentDefault.int("DIFFUSION_BATCH_SIZE") ?? 4

    var resolvedCacheConfig: String? { cacheConfig ?? EnvironmentDefault.string("CACHE_CONFIG") }


    /// The step cache the flags ask for.
    func cache() throws -> DiffusionCacheConfig {
        do {
            return try DiffusionCacheConfig(backend: cacheBackend, json: resolvedCacheConfig)
        } catch {
            throw ValidationError("--cache-backend/--cache-config: \(error)")
        }
    }

    func validate() throws {
        _ = try cache()
        guard diffusionBatchSize >= 1 else { throw ValidationError("--diffusion-batch-size must be at least 1, got \(diffusionBatchSize)") }
    }

    func apply(to options: inout EngineOptions) throws {
        options.diffusionCache = try cache()
        options.maxDiffusionBatchSize = diffusionBatchSize
    }
}

enum EnvironmentDefault {
    static func string(_ flag: String) -> String? { ProcessInfo.processInfo.environment["OMNI_" + flag] }
    static func int(_ flag: String) -> Int? { string(flag).flatMap(Int.init) }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve a model behind the OpenAI-compatible HTTP API.")

    @OptionGroup var model: ModelOptions

    @Option(help: "Address to listen on (env OMNI_HOST).")
    var host: String = EnvironmentDefault.string("HOST") ?? "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free one (env OMNI_PORT).")
    var port: Int = EnvironmentDefault.int("PORT") ?? 8000

    @Option(help: "Model id in the API (env OMNI_SERVED_MODEL_NAME). Default: MODEL_DIR as given.")
    var servedModelName: String?

    @Option(help: "Require `Authorization: Bearer KEY` on every route but /health (env OMNI_API_KEY).")
    var apiKey: String?

    @Option(help: "Longest prompt + completion (env OMNI_MAX_MODEL_LEN). Default: the model's, within the KV cache.")
    var maxModelLen: Int?

    @Option(help: "Sequences in the running batch (env OMNI_MAX_NUM_SEQS).")
    var maxNumSeqs: Int = EnvironmentDefault.int("MAX_NUM_SEQS") ?? 256

    @Option(help: "Tokens per engine step (env OMNI_MAX_NUM_BATCHED_TOKENS).")
    var maxNumBatchedTokens: Int = EnvironmentDefault.int("MAX_NUM_BATCHED_TOKENS") ?? 2048

    @Option(help: "Bytes of KV cache (env OMNI_KV_CACHE_MEMORY). Default: a quarter of free memory, at most 4 GiB.")
    var kvCacheMemory: Int?

    @Option(help: "Sequences that may wait beyond --max-num-seqs before requests get 429 (env OMNI_MAX_QUEUED_SEQS).")
    var maxQueuedSeqs: Int = EnvironmentDefault.int("MAX_QUEUED_SEQS") ?? 1024

    @Option(help: "Largest request body in bytes; larger ones get 413 (env OMNI_MAX_BODY_BYTES).")
    var maxBodyBytes: Int = EnvironmentDefault.int("MAX_BODY_BYTES") ?? 32 << 20

    @Option(help: "Seconds of silence before a stream gets a `: ping` comment (env OMNI_KEEP_ALIVE).")
    var keepAlive: Double = EnvironmentDefault.string("KEEP_ALIVE").flatMap(Double.init) ?? 10

    @Option(help: "Seconds requests in flight may run on after SIGTERM/SIGINT before they are aborted (env OMNI_SHUTDOWN_TIMEOUT).")
    var shutdownTimeout: Double = EnvironmentDefault.string("SHUTDOWN_TIMEOUT").flatMap(Double.init) ?? 30

    @Option(help: "trace, debug, info, notice, warning, error or critical (env OMNI_LOG_LEVEL).")
    var logLevel: String = EnvironmentDefault.string("LOG_LEVEL") ?? "info"

    @Option(help: "A stage-graph YAML overriding the model's built-in one (env OMNI_STAGE_CONFIG).")
    var stageConfig: String?

    @OptionGroup var diffusion: DiffusionOptions

    var resolvedServedModelName: String { servedModelName ?? EnvironmentDefault.string("SERVED_MODEL_NAME") ?? model.modelDir }
    var resolvedAPIKey: String? { apiKey ?? EnvironmentDefault.string("API_KEY") }
    var resolvedMaxModelLen: Int? { maxModelLen ?? EnvironmentDefault.int("MAX_MODEL_LEN") }
    var resolvedKVCacheMemory: Int? { kvCacheMemory ?? EnvironmentDefault.int("KV_CACHE_MEMORY") }
    var resolvedStageConfig: String? { stageConfig ?? EnvironmentDefault.string("STAGE_CONFIG") }

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535, got \(port)") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be trace, debug, info, notice, warning, error or critical, got \(logLevel)")
        }
        if let maxModelLen = resolvedMaxModelLen, maxModelLen < 2 { throw ValidationError("--max-model-len must be at least 2, got \(maxModelLen)") }
        guard maxNumSeqs >= 1 else { throw ValidationError("--max-num-seqs must be at least 1, got \(maxNumSeqs)") }
        guard maxNumBatchedTokens >= 1 else {
            throw ValidationError("--max-num-batched-tokens must be at least 1, got \(maxNumBatchedTokens)")
        }
        if let kvCacheMemory = resolvedKVCacheMemory, kvCacheMemory < 1 { throw ValidationError("--kv-cache-memory must be positive, got \(kvCacheMemory)") }
        guard maxQueuedSeqs >= 0 else { throw ValidationError("--max-queued-seqs must be at least 0, got \(maxQueuedSeqs)") }
        guard maxBodyBytes >= 1024 else { throw ValidationError("--max-body-bytes must be at least 1024, got \(maxBodyBytes)") }
        guard keepAlive > 0, shutdownTimeout >= 0 else {
            throw ValidationError("--keep-alive must be positive and --shutdown-timeout at least 0")
        }
        guard model.device == "cpu" else { throw ValidationError("--device cuda: this build runs on the CPU only") }
        if resolvedStageConfig != nil { throw ValidationError("--stage-config: text models run as one built-in stage; no override is supported yet") }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: logLevel) ?? .info
            return handler
        }
        let spec = try ModelRegistry.resolve(directory: model.modelDir)
        // Text models (one AR stage) serve the text routes; text-to-image pipelines (one diffusion
        // stage, Z-Image) serve /v1/images/generations.
        guard spec.stages == [.ar] || spec.stages == [.diffusion] else {
            throw ModelDirectoryError.notAnLLM(directory: model.modelDir, name: spec.name)
        }

        if spec.stages == [.ar], diffusion.cacheBackend != "none" || diffusion.resolvedCacheConfig != nil {
            throw ValidationError("--cache-backend/--cache-config apply to diffusion models; \(model.modelDir) is a text model (\(spec.name))")
        }
        var engine = EngineOptions()
        model.apply(to: &engine)
        engine.weightDType = model.dtype == "auto" ? nil : model.dtype
        engine.maxModelLen = resolvedMaxModelLen
        engine.maxNumSeqs = maxNumSeqs
        engine.maxNumBatchedTokens = maxNumBatchedTokens
        engine.kvCacheMemory = resolvedKVCacheMemory
        try diffusion.apply(to: &engine)
        var configuration = ServerConfiguration(modelDirectory: model.modelDir, engine: engine)
        configuration.host = host
        configuration.port = port
        configuration.servedModelName = resolvedServedModelName
        configuration.apiKey = resolvedAPIKey
        configuration.maxQueuedSequences = maxQueuedSeqs
        configuration.maxBodyBytes = maxBodyBytes
        configuration.keepAliveInterval = .milliseconds(Int(keepAlive * 1000))
        configuration.shutdownGracePeriod = .milliseconds(Int(shutdownTimeout * 1000))
        try await OmniServer(configuration: configuration).run()
    }
}
