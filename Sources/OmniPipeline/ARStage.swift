import Foundation
import OmniEngine
import Synchronization

/// Runs one AR `Engine` on a thread of its own (engine steps are long CPU work and must not block
/// Swift's cooperative pool). Requests and aborts arrive through a locked inbox; outputs go back
/// through each request's continuation. The engine itself is touched only by the stage thread.
final class ARStage: @unchecked Sendable {
    typealias Sink = @Sendable (Result<SequenceOutput, Error>) -> Void
    /// Told once whether the engine took the request (nil) or refused it (the reason).
    typealias Admission = @Sendable (Error?) -> Void

    private struct Submission {
        let id: String
        let prompt: [Int]
        let params: SamplingParams
        let hiddenStateLayers: [Int]
        let admission: Admission?
        let sink: Sink
    }

    private let engine: Engine
    private let condition = NSCondition()
    private var inbox: [Submission] = []
    private var abortions: [String] = []
    private var barriers: [@Sendable (EngineMetrics) -> Void] = []
    private var sinks: [String: Sink] = [:]   // stage thread only
    private var isStopping = false
    private var latestMetrics: EngineMetrics

    init(engine: Engine) {
        self.engine = engine
        latestMetrics = engine.metrics
    }

    func start(name: String) {
        startStageThread(name: name) { [self] in run() }
    }

    /// Queues a request; `sink` receives every output and, at the end, a finished output or an error.
    /// `admission`, when given, hears first whether the engine took the request. After `stop()` the
    /// request fails at once with `PipelineError.shuttingDown`.
    func submit(id: String, prompt: [Int], params: SamplingParams, hiddenStateLayers: [Int] = [],
                admission: Admission? = nil, sink: @escaping Sink) {
        let accepted = condition.withLock {
            guard !isStopping else { return false }
            inbox.append(Submission(id: id, prompt: prompt, params: params, hiddenStateLayers: hiddenStateLayers,
                                    admission: admission, sink: sink))
            condition.signal()
            return true
        }
        if !accepted {
            admission?(PipelineError.shuttingDown)
            sink(.failure(PipelineError.shuttingDown))
        }
    }

    func abort(id: String) {
        condition.withLock {
            abortions.append(id)
            condition.signal()
        }
    }

    var metrics: EngineMetrics { condition.withLock { latestMetrics } }

    /// Calls `done` with the engine's metrics once every submission and abort queued before this
    /// call has been applied (a barrier: no polling needed to observe an abort's effect).
    func afterPendingWork(_ done: @escaping @Sendable (EngineMetrics) -> Void) {
        let stopped = condition.withLock {
            guard !isStopping else { return true }
            barriers.append(done)
            condition.signal()
            return false
        }
        if stopped { done(metrics) }
    }

    func stop() {
        condition.withLock {
            isStopping = true
            condition.signal()
        }
    }

    private func run() {
        while true {
            let (adds, aborts, waiting, stopping) = condition.withLock { () -> ([Submission], [String], [@Sendable (EngineMetrics) -> Void], Bool) in
                while inbox.isEmpty && abortions.isEmpty && barriers.isEmpty && !isStopping && !engine.hasUnfinishedRequests {
                    condition.wait()
                }
                defer { inbox.removeAll(); abortions.removeAll(); barriers.removeAll() }
                return (inbox, abortions, barriers, isStopping)
            }
            if stopping {
                for done in waiting { done(engine.metrics) }
                for add in adds {
                    add.admission?(PipelineError.shuttingDown)
                    add.sink(.failure(PipelineError.shuttingDown))
                }
                for (id, sink) in sinks {
                    engine.abort(requestId: id)
                    sink(.failure(PipelineError.shuttingDown))
                }
                sinks.removeAll()
                return
            }
            for add in adds {
                do {
                    try engine.addRequest(id: add.id, promptTokenIds: add.prompt, params: add.params, hiddenStateLayers: add.hiddenStateLayers)
                    sinks[add.id] = add.sink
                    add.admission?(nil)
                } catch {
                    add.admission?(error)
                    add.sink(.failure(error))
                }
            }
            for id in aborts where sinks[id] != nil {
                engine.abort(requestId: id)
                sinks.removeValue(forKey: id)
            }
            if !waiting.isEmpty {
                let m = engine.metrics
                for done in waiting { done(m) }
            }
            guard engine.hasUnfinishedRequests else { publishMetrics(); continue }
            do {
                let outputs = try engine.step()
                var finished = [String: Int]()
                for output in outputs {
                    sinks[output.requestId]?(.success(output))
                    if output.isFinished { finished[output.requestId, default: 0] += 1 }
                }
                for id in finished.keys where !engine.hasRequest(id: id) { sinks.removeValue(forKey: id) }
            } catch {
                // A failed step advances nothing; fail every request in flight rather than loop.
                for (id, sink) in sinks {
                    engine.abort(requestId: id)
                    sink(.failure(error))
                }
                sinks.removeAll()
            }
            publishMetrics()
        }
    }

    private func publishMetrics() {
        let m = engine.metrics
        condition.withLock { latestMetrics = m }
    }
}

/// Starts a stage's engine loop on an OS thread of its own (8 MiB stack): engine steps are long CPU
/// work that must not block Swift's cooperative pool.
func startStageThread(name: String, _ body: @escaping @Sendable () -> Void) {
    let thread = Thread(block: body)
    thread.name = name
    thread.stackSize = 8 << 20
    thread.start()
}

public enum PipelineError: Error, CustomStringConvertible, Sendable {
    case shuttingDown
    case invalidPrompt(String)

    public var description: String {
        switch self {
        case .shuttingDown: "the server is shutting down; the request was aborted"
        case .invalidPrompt(let message): message
        }
    }
}
