import Foundation
import Logging
import OmniPipeline
import ServiceLifecycle
import Synchronization

/// Owns the served model's lifetime as a `Service`: loads it (the server already answers /health
/// with 503 meanwhile), serves it until graceful shutdown, then stops its engine. It runs before
/// the HTTP server in the service group, so it shuts down after it.
final class ModelHost: Service, Sendable {
    enum State: Sendable {
        case loading
        case ready(ServedModel)
        case readyImage(ServedImageModel)
        case stopped
    }

    private let configuration: ServerConfiguration
    private let logger: Logger
    private let state = Mutex(State.loading)

    init(configuration: ServerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// The model, or 503 while it loads or after shutdown began.
    func model() throws(APIError) -> ServedModel {
        switch state.withLock({ $0 }) {
        case .ready(let model): return model
        case .readyImage(let model): throw .imageModelOnly(model.name)
        case .loading: throw .loading
        case .stopped: throw .shuttingDown
        }
    }

    /// The image model, or 503 while it loads or after shutdown began; a text model here is a
    /// 400 (its routes are the text ones).
    func imageModel() throws(APIError) -> ServedImageModel {
        switch state.withLock({ $0 }) {
        case .readyImage(let model): return model
        case .ready(let model): throw .textModelOnly(model.name)
        case .loading: throw .loading
        case .stopped: throw .shuttingDown
        }
    }

    /// The served model's name and card details, whichever kind it is (503 while loading).
    func ready() throws(APIError) -> (name: String, maxModelLen: Int?) {
        switch state.withLock({ $0 }) {
        case .ready(let model): return (model.name, model.omni.maxModelLen)
        case .readyImage(let model): return (model.name, nil)
        case .loading: throw .loading
        case .stopped: throw .shuttingDown
        }
    }

    var isReady: Bool {
        switch state.withLock({ $0 }) {
        case .ready, .readyImage: return true
        default: return false
        }
    }

    /// Stops handing out the model (new requests get 503); requests in flight go on.
    func beginShutdown() {
        state.withLock { $0 = .stopped }
    }

    func run() async throws {
        let started = ContinuousClock.now
        if (try? ModelRegistry.resolve(directory: configuration.modelDirectory).stages) == [.diffusion] {
            try await runImageModel(started: started)
            return
        }
        let omni: AsyncOmni
        do {
            omni = try await load()
        } catch {
            logger.critical("could not load the model; stopping", metadata: ["model": "\(configuration.modelDirectory)"])
            throw error
        }
        state.withLock { current in
            if case .loading = current { current = .ready(ServedModel(name: configuration.modelName, omni: omni)) }
        }
        logger.info("model ready", metadata: [
            "model": "\(configuration.modelName)", "architecture": "\(omni.architecture.name)",
            "max_model_len": "\(omni.maxModelLen)", "load_seconds": "\((ContinuousClock.now - started).seconds)",
        ])
        try? await gracefulShutdown()
        beginShutdown()
        omni.shutdown()
        logger.info("engine stopped")
    }

    /// A text-to-image pipeline (Z-Image): loaded on its own thread, served by
    /// `/v1/images/generations` until graceful shutdown.
    private func runImageModel(started: ContinuousClock.Instant) async throws {
        let model: ServedImageModel
        do {
            model = try await onLoadThread { [configuration] in
                try ServedImageModel(name: configuration.modelName, directory: configuration.modelDirectory,
                                     options: configuration.engine)
            }
        } catch {
            logger.critical("could not load the model; stopping", metadata: [
                "model": "\(configuration.modelDirectory)", "error": "\(error)",
            ])
            throw error
        }
        state.withLock { current in
            if case .loading = current { current = .readyImage(model) }
        }
        logger.info("model ready", metadata: [
            "model": "\(configuration.modelName)", "architecture": "\(ZImagePipeline.className)",
            "max_batch_size": "\(configuration.engine.maxDiffusionBatchSize)",
            "cache_backend": "\(configuration.engine.diffusionCache.kind.rawValue)",
            "load_seconds": "\((ContinuousClock.now - started).seconds)",
        ])
        try? await gracefulShutdown()
        beginShutdown()
        logger.info("engine stopped")
    }

    private func onLoadThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do {
                    continuation.resume(returning: try work())
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "omni-model-load"
            thread.start()
        }
    }

    /// Loading is long blocking work (reading and checking weights): it runs on its own thread.
    private func load() async throws -> AsyncOmni {
        let directory = configuration.modelDirectory
        let options = configuration.engine
        return try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do {
                    continuation.resume(returning: try AsyncOmni(directory: directory, options: options))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "omni-model-load"
            thread.start()
        }
    }
}

extension Duration {
    /// Seconds as a Double, for logs.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
