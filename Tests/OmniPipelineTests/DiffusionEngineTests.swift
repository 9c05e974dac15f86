import Foundation
import OmniEngine
import OmniMedia
import OmniPipeline
import OmniTensor
import Synchronization
import Testing

/// The diffusion engine on the tiny Z-Image pipeline of Tests/Fixtures/zimage-pipeline: step-level
/// batching (requests join and leave between steps), aborts, failure isolation. The bar is exact:
/// a request's latents and image through the engine, batched with anything, equal bit for bit what
/// `ZImagePipeline.generate` gives for it alone (itself parity-tested against diffusers).
private let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures/zimage-pipeline").standardized
private let pipeline = try! ZImagePipeline(directory: fixture, backend: CPUBackend(threads: 2))

/// Different sizes, step counts, seeds, guidance (with and without a negative prompt, truncated).
private let requests: [ImageRequest] = [
    ImageRequest(prompt: "a red cat on a mat", width: 40, height: 24, steps: 5, seed: 42, maxSequenceLength: 64),
    ImageRequest(prompt: "a small house by the sea", negativePrompt: "blurry, dark", width: 24, height: 32, steps: 4,
                 guidanceScale: 4, seed: 7, maxSequenceLength: 64),
    ImageRequest(prompt: "hello world", width: 32, height: 16, steps: 3, guidanceScale: 3, cfgTruncation: 0.3,
                 cfgNormalization: 1, seed: 1234, maxSequenceLength: 64),
    ImageRequest(prompt: "a red cat on a mat", width: 40, height: 24, steps: 5, seed: 43, maxSequenceLength: 64),
]

private let solo: [ZImageOutput] = requests.map { try! pipeline.generate($0) }

private func expectIdentical(_ got: ZImageOutput, _ want: ZImageOutput, _ label: String) {
    #expect(got.latents.toFloats() == want.latents.toFloats(), "\(label): latents differ from the request run alone")
    #expect(got.image.pixels == want.image.pixels, "\(label): image differs from the request run alone")
}

/// A task to cancel from the engine thread once it is known.
private final class CancelBox: @unchecked Sendable {
    private let lock = NSLock()
    private var task: Task<ZImageOutput, any Error>?
    private(set) var cancelledAt: Int?

    func set(_ task: Task<ZImageOutput, any Error>) { lock.withLock { self.task = task } }

    func cancel(at step: Int) {
        lock.withLock {
            guard cancelledAt == nil, let task else { return }
            cancelledAt = step
            task.cancel()
        }
    }
}

/// Steps reported per request, from the engine thread.
private final class StepLog: Sendable {
    let steps = Mutex([Int: [Int]]())
}

@Suite struct DiffusionEngineTests {
    /// Four requests arriving at different moments (before the first step, after steps 1, 2 and 4)
    /// join the running batch at once, leave it when done, and each gives exactly its solo image.
    @Test func requestsJoiningBetweenStepsGiveTheirSoloImages() throws {
        let engine = DiffusionEngine(model: pipeline, config: try DiffusionEngineConfig(maxBatchSize: 4))
        let arrivals = [0: [0], 1: [1], 2: [2], 4: [3]]
        var outputs: [String: ZImageOutput] = [:], batchSizes: [Int] = [], started: [String: Int] = [:]
        var stepCount = 0
        while engine.hasWork || stepCount <= 4 {
            for k in arrivals[stepCount] ?? [] { engine.add(id: "r\(k)", request: requests[k]) }
            let events = engine.step()
            batchSizes.append(Set(events.compactMap { if case .progress = $0.event { $0.id } else { nil } }).count)
            for (id, event) in events {
                switch event {
                case .started: started[id] = stepCount
                case .finished(let output): outputs[id] = output
                case .failed(let error): Issue.record("\(id) failed: \(error)")
                case .progress: break
                }
            }
            stepCount += 1
        }
        // Each request starts at the step it arrives: no waiting for the batch to drain.
        #expect(started == ["r0": 0, "r1": 1, "r2": 2, "r3": 4])
        // Requests overlap: r0..r2 run together from step 2, r3 joins them at step 4, after which
        // r0..r2 are done and leave.
        #expect(batchSizes == [1, 2, 3, 3, 4, 1, 1, 1, 1], "running batch size per step: \(batchSizes)")
        for k in requests.indices {
            let output = try #require(outputs["r\(k)"], "r\(k) did not finish")
            expectIdentical(output, solo[k], "r\(k)")
        }
    }

    /// Beyond max_batch_size requests wait in arrival order and still give their solo images.
    @Test func queuedRequestsWaitForRoom() throws {
        let engine = DiffusionEngine(model: pipeline, config: try DiffusionEngineConfig(maxBatchSize: 2))
        for k in requests.indices { engine.add(id: "r\(k)", request: requests[k]) }
        var outputs: [String: ZImageOutput] = [:], order: [String] = []
        while engine.hasWork {
            #expect(engine.runningCount <= 2)
            for (id, event) in engine.step() {
                if case .started = event { order.append(id) }
                if case .finished(let output) = event { outputs[id] = output }
            }
        }
        #expect(order == ["r0", "r1", "r2", "r3"])
        for k in requests.indices { expectIdentical(try #require(outputs["r\(k)"]), solo[k], "r\(k)") }
    }

    /// An abort between steps drops the request (queued or running) and leaves the others exact.
    @Test func abortBetweenStepsLeavesTheOthersExact() throws {
        let engine = DiffusionEngine(model: pipeline, config: try DiffusionEngineConfig(maxBatchSize: 2))
        for k in 0..<3 { engine.add(id: "r\(k)", request: requests[k]) }
        _ = engine.step()
        _ = engine.step()
        #expect(engine.abort(id: "r1"), "a running request")
        var outputs: [String: ZImageOutput] = [:]
        while engine.hasWork {
            for (id, event) in engine.step() {
                if case .finished(let output) = event { outputs[id] = output }
                #expect(id != "r1", "an aborted request has no more events")
            }
        }
        #expect(engine.abort(id: "r0") == false, "a finished request is gone")
        #expect(Set(outputs.keys) == ["r0", "r2"])
        expectIdentical(try #require(outputs["r0"]), solo[0], "r0")
        expectIdentical(try #require(outputs["r2"]), solo[2], "r2")
    }

    /// A request the model refuses fails alone; the batch it arrived with is unaffected.
    @Test func aRefusedRequestFailsAlone() throws {
        let engine = DiffusionEngine(model: pipeline, config: try DiffusionEngineConfig(maxBatchSize: 4))
        var bad = requests[0]
        bad.width = 30   // not a multiple of 16
        engine.add(id: "good", request: requests[1])
        engine.add(id: "bad", request: bad)
        var failures: [String: String] = [:], outputs: [String: ZImageOutput] = [:]
        while engine.hasWork {
            for (id, event) in engine.step() {
                if case .failed(let error) = event { failures[id] = "\(error)" }
                if case .finished(let output) = event { outputs[id] = output }
            }
        }
        #expect(failures.keys.sorted() == ["bad"])
        #expect(failures["bad"]?.contains("width 30") == true, "\(failures)")
        expectIdentical(try #require(outputs["good"]), solo[1], "good")
    }

    /// Through the public async API: concurrent requests started at different moments, one
    /// cancelled mid-run; the rest equal their solo images and the progress reaches every step.
    @Test func asyncGeneratorBatchesConcurrentRequests() async throws {
        var options = EngineOptions()
        options.threads = 2
        let generator = try AsyncImageGenerator(directory: fixture.path, options: options)
        let progress = StepLog()
        let outputs = try await withThrowingTaskGroup(of: (Int, ZImageOutput?).self) { group in
            for k in requests.indices {
                group.addTask {
                    try await Task.sleep(for: .milliseconds(40 * k))
                    let output = try await generator.generate(requests[k]) { done, _ in
                        progress.steps.withLock { $0[k, default: []].append(done) }
                    }
                    return (k, output)
                }
            }
            // One more, cancelled from its own progress callback once two of its 100 steps are done
            // (no timing assumptions: the test process's cooperative threads may be busy for seconds).
            group.addTask {
                let box = CancelBox()
                let doomed = Task {
                    try await generator.generate(ImageRequest(prompt: "cancel me", width: 64, height: 64, steps: 100, seed: 1)) { done, _ in
                        if done >= 2 { box.cancel(at: done) }
                    }
                }
                box.set(doomed)
                await #expect(throws: CancellationError.self) { _ = try await doomed.value }
                let at = try #require(box.cancelledAt)
                #expect(at < 100, "cancelled after \(at) steps")
                return (-1, nil)
            }
            var outputs = [Int: ZImageOutput]()
            for try await (k, output) in group where k >= 0 { outputs[k] = output }
            return outputs
        }
        for k in requests.indices {
            expectIdentical(try #require(outputs[k]), solo[k], "async r\(k)")
            #expect(progress.steps.withLock { $0[k] } == Array(1...requests[k].steps))
        }
        // Nothing is left running once every request has finished or been cancelled.
        for _ in 0..<50 where generator.load != (0, 0) { try await Task.sleep(for: .milliseconds(20)) }
        #expect(generator.load == (0, 0))
    }
}
