/// A diffusion model as the engine drives it: a request becomes a job (prompt encoding, seeded
/// latents), jobs advance one denoising step at a time in batches of any composition, and a
/// finished job becomes its output (the VAE decode).
public protocol DiffusionModel: AnyObject, Sendable {
    associatedtype Request: Sendable
    associatedtype Job: Sendable
    associatedtype Output: Sendable

    /// Checks and prepares a request. Everything a request can be refused for is thrown here.
    func makeJob(_ request: Request) throws -> Job
    /// One step for each job in `jobs`, which may be at different steps. A job's result must not
    /// depend on the others in the batch.
    func step(_ jobs: inout [Job]) throws
    /// Steps done and to do.
    func progress(of job: Job) -> (done: Int, total: Int)
    func finish(_ job: Job) throws -> Output
}

public struct DiffusionEngineConfig: Sendable, Equatable {
    /// Requests denoised together in one step batch; more wait in the queue.
    public var maxBatchSize: Int

    public init(maxBatchSize: Int = 4) throws(EngineError) {
        guard maxBatchSize >= 1 else { throw .invalidConfig(field: "max_batch_size", message: "must be at least 1, got \(maxBatchSize)") }
        self.maxBatchSize = maxBatchSize
    }
}

/// What the engine reports about a request after a step.
public enum DiffusionEvent<Output: Sendable>: Sendable {
    /// The request left the queue and joined the running batch (its prompt is encoded).
    case started
    /// Steps done of the total.
    case progress(done: Int, total: Int)
    case finished(Output)
    /// Refused (bad request) or failed; the error says why. Other requests are not affected.
    case failed(any Error)
}

/// Continuous batching for diffusion: requests queue in arrival order; before every step, queued
/// requests join the running batch up to `maxBatchSize`, and after it finished requests leave (their
/// images are decoded) and aborted ones are dropped. Each running request advances by one step
/// per engine step, whatever step it is at, so a request arriving mid-run starts at once instead of
/// waiting for the batch to end. Not thread-safe: one owner (a stage thread) drives it.
public final class DiffusionEngine<Model: DiffusionModel>: @unchecked Sendable {
    public let model: Model
    public let config: DiffusionEngineConfig
    private var waiting: [(id: String, request: Model.Request)] = []
    private var running: [(id: String, job: Model.Job)] = []

    public init(model: Model, config: DiffusionEngineConfig) {
        self.model = model
        self.config = config
    }

    /// Queues a request; it joins the batch at a coming step.
    public func add(id: String, request: Model.Request) {
        waiting.append((id, request))
    }

    /// Drops a queued or running request; its work so far is discarded. False if it is not here.
    @discardableResult
    public func abort(id: String) -> Bool {
        if let i = waiting.firstIndex(where: { $0.id == id }) {
            waiting.remove(at: i)
            return true
        }
        if let i = running.firstIndex(where: { $0.id == id }) {
            running.remove(at: i)
            return true
        }
        return false
    }

    public var hasWork: Bool { !waiting.isEmpty || !running.isEmpty }
    public var runningCount: Int { running.count }
    public var waitingCount: Int { waiting.count }
    public func contains(id: String) -> Bool { running.contains { $0.id == id } || waiting.contains { $0.id == id } }

    /// Admits queued requests, runs one step of the batch, finishes what is done. Returns every
    /// request's events of this step in order.
    public func step() -> [(id: String, event: DiffusionEvent<Model.Output>)] {
        var events: [(id: String, event: DiffusionEvent<Model.Output>)] = []
        while running.count < config.maxBatchSize, !waiting.isEmpty {
            let (id, request) = waiting.removeFirst()
            do {
                running.append((id, try model.makeJob(request)))
                events.append((id, .started))
            } catch {
                events.append((id, .failed(error)))
            }
        }
        guard !running.isEmpty else { return events }

        var jobs = running.map(\.job)
        do {
            try model.step(&jobs)
            for i in running.indices { running[i].job = jobs[i] }
        } catch {
            // Whatever broke the batch, find out whose it is: each job alone, from where it was.
            for i in running.indices.reversed() {
                var alone = [running[i].job]
                do {
                    try model.step(&alone)
                    running[i].job = alone[0]
                } catch {
                    events.append((running[i].id, .failed(error)))
                    running.remove(at: i)
                }
            }
        }

        var stillRunning: [(id: String, job: Model.Job)] = []
        for (id, job) in running {
            let (done, total) = model.progress(of: job)
            events.append((id, .progress(done: done, total: total)))
            guard done >= total else { stillRunning.append((id, job)); continue }
            do {
                events.append((id, .finished(try model.finish(job))))
            } catch {
                events.append((id, .failed(error)))
            }
        }
        running = stillRunning
        return events
    }
}
