import Foundation
import OmniEngine
import OmniMedia
import OmniModels
import OmniTensor
import Synchronization

extension ZImagePipeline: DiffusionModel {
    /// Images above this many pixels are decoded tile by tile (bounded decoder memory).
    public static let tiledDecodePixels = 1024 * 1024

    public func progress(of job: ZImageJob) -> (done: Int, total: Int) { (job.stepIndex, job.totalSteps) }

    public func finish(_ job: ZImageJob) throws -> ZImageOutput {
        let large = job.request.width * job.request.height > Self.tiledDecodePixels
        return try decode(job, vaeTiling: large ? vae.defaultTiling : nil)
    }
}

/// Runs one `DiffusionEngine` on a thread of its own, as `ARStage` does for the AR engine:
/// submissions and aborts arrive through a locked inbox, events go back through each request's sink.
final class DiffusionStage<Model: DiffusionModel>: @unchecked Sendable {
    typealias Sink = @Sendable (DiffusionEvent<Model.Output>) -> Void

    private let engine: DiffusionEngine<Model>
    private let condition = NSCondition()
    private var inbox: [(id: String, request: Model.Request, sink: Sink)] = []
    private var abortions: [String] = []
    private var sinks: [String: Sink] = [:]   // stage thread only
    private var isStopping = false
    private var counts = (running: 0, waiting: 0)

    init(engine: DiffusionEngine<Model>) { self.engine = engine }

    func start(name: String) {
        startStageThread(name: name) { [self] in run() }
    }

    /// Queues a request; `sink` hears its events, ending with `.finished` or `.failed`.
    func submit(id: String, request: Model.Request, sink: @escaping Sink) {
        let accepted = condition.withLock {
            guard !isStopping else { return false }
            inbox.append((id, request, sink))
            counts.waiting += 1
            condition.signal()
            return true
        }
        if !accepted { sink(.failed(PipelineError.shuttingDown)) }
    }

    /// Drops the request at the next step boundary; its sink hears `.failed(CancellationError())`.
    func abort(id: String) {
        condition.withLock {
            abortions.append(id)
            condition.signal()
        }
    }

    /// Requests in the running batch and in the queue, as of the last step.
    var load: (running: Int, waiting: Int) { condition.withLock { counts } }

    func stop() {
        condition.withLock {
            isStopping = true
            condition.signal()
        }
    }

    private func run() {
        while true {
            let (adds, aborts, stopping) = condition.withLock {
                while inbox.isEmpty && abortions.isEmpty && !isStopping && !engine.hasWork { condition.wait() }
                defer { inbox.removeAll(); abortions.removeAll() }
                return (inbox, abortions, isStopping)
            }
            if stopping {
                for add in adds { add.sink(.failed(PipelineError.shuttingDown)) }
                for (id, sink) in sinks {
                    engine.abort(id: id)
                    sink(.failed(PipelineError.shuttingDown))
                }
                sinks.removeAll()
                return
            }
            for add in adds {
                sinks[add.id] = add.sink
                engine.add(id: add.id, request: add.request)
            }
            for id in aborts {
                if engine.abort(id: id) { sinks.removeValue(forKey: id)?(.failed(CancellationError())) }
            }
            if engine.hasWork {
                for (id, event) in engine.step() {
                    sinks[id]?(event)
                    switch event {
                    case .finished, .failed: sinks.removeValue(forKey: id)
                    case .started, .progress: break
                    }
                }
            }
            let current = (engine.runningCount, engine.waitingCount)
            condition.withLock { counts = current }
        }
    }
}

/// A text-to-image model served through the diffusion engine: the public Swift API for image
/// generation (the counterpart of `AsyncOmni` for text). Thread-safe; requests from any task are
/// batched step by step on the engine thread.
///
/// ```swift
/// let images = try AsyncImageGenerator(directory: "/models/Z-Image-Turbo")
/// let output = try await images.generate(ImageRequest(prompt: "a lighthouse", width: 512, height: 512, seed: 7))
/// ```
public final class AsyncImageGenerator: Sendable {
    public let directory: String
    public let pipeline: ZImagePipeline
    /// The step cache requests run with unless they ask for another (`--cache-backend`).
    public let defaultCache: DiffusionCacheConfig
    private let stage: DiffusionStage<ZImagePipeline>
    private let counter = Mutex(0)

    public init(directory: String, options: EngineOptions = EngineOptions()) throws {
        self.directory = directory
        let backend = CPUBackend(threads: options.threads ?? ThreadPool.physicalCores, matmulPrecision: options.matmulPrecision)
        pipeline = try ZImagePipeline(directory: URL(fileURLWithPath: directory), backend: backend)
        defaultCache = options.diffusionCache
        let engine = DiffusionEngine(model: pipeline, config: try DiffusionEngineConfig(maxBatchSize: options.maxDiffusionBatchSize))
        stage = DiffusionStage(engine: engine)
        stage.start(name: "omni-diffusion")
    }

    deinit { stage.stop() }

    /// Requests running and queued, as of the last engine step.
    public var load: (running: Int, waiting: Int) { stage.load }

    /// Generates one image. `onProgress` hears (steps done, total) after every step. Cancelling the
    /// calling task aborts the request at the next step boundary.
    /// - Throws: the pipeline's errors for a request it refuses (`ZImagePipelineError`, ...),
    ///   `CancellationError` when cancelled, `PipelineError.shuttingDown` on shutdown.
    public func generate(_ request: ImageRequest, requestId: String? = nil,
                         onProgress: (@Sendable (Int, Int) -> Void)? = nil) async throws -> ZImageOutput {
        let id = requestId ?? "image-\(counter.withLock { $0 += 1; return $0 })"
        return try await withTaskCancellationHandler {
            try Task.checkCancellation()
            return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ZImageOutput, any Error>) in
                stage.submit(id: id, request: request) { event in
                    switch event {
                    case .started: break
                    case .progress(let done, let total): onProgress?(done, total)
                    case .finished(let output): continuation.resume(returning: output)
                    case .failed(let error): continuation.resume(throwing: error)
                    }
                }
            }
        } onCancel: { [stage] in
            stage.abort(id: id)
        }
    }
}
