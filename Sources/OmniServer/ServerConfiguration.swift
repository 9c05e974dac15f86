import OmniPipeline

/// How `omni serve` serves: one flat value with documented defaults (DESIGN.md §5, §6).
public struct ServerConfiguration: Sendable {
    /// The model directory (Hugging Face layout).
    public var modelDirectory: String
    /// How the engine runs the model.
    public var engine: EngineOptions
    /// Address to listen on. Default 127.0.0.1.
    public var host: String = "127.0.0.1"
    /// Port to listen on; 0 picks a free one (the log says which). Default 8000.
    public var port: Int = 8000
    /// The model's id in the API. Default: the model directory as given (vLLM's rule).
    public var servedModelName: String?
    /// When set, every route but /health needs `Authorization: Bearer <key>`.
    public var apiKey: String?
    /// Largest request body accepted; larger ones get 413. Default 32 MiB.
    public var maxBodyBytes: Int = 32 << 20
    /// Sequences that may wait beyond the engine's running batch (`max_num_seqs`); past that,
    /// requests get 429 with Retry-After. Default 1024.
    public var maxQueuedSequences: Int = 1024
    /// A stream silent this long gets a `: ping` comment. Default 10 s.
    public var keepAliveInterval: Duration = .seconds(10)
    /// On SIGTERM/SIGINT, requests in flight may finish for this long; then they are aborted.
    /// Default 30 s.
    public var shutdownGracePeriod: Duration = .seconds(30)

    public init(modelDirectory: String, engine: EngineOptions = EngineOptions()) {
        self.modelDirectory = modelDirectory
        self.engine = engine
    }

    /// The id clients use in `model`.
    public var modelName: String { servedModelName ?? modelDirectory }

    /// Sequences in flight before requests are turned away.
    var admissionLimit: Int { engine.maxNumSeqs + maxQueuedSequences }
}
