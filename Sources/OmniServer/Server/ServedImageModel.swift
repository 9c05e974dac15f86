import Foundation
import OmniMedia
import OmniPipeline
import OmniTensor
import Synchronization

/// A text-to-image model behind `/v1/images/generations`: its pipeline and one serial queue that
/// runs generations one at a time, off the event loop (the pipeline is synchronous CPU work).
struct ServedImageModel: Sendable {
    let name: String
    let pipeline: ZImagePipeline
    private let queue = DispatchQueue(label: "omni.image-generation")

    init(name: String, directory: String, threads: Int?) throws {
        self.name = name
        let backend = CPUBackend(threads: threads ?? ThreadPool.physicalCores)
        pipeline = try ZImagePipeline(directory: URL(fileURLWithPath: directory), backend: backend)
    }

    /// One image's settings.
    struct Job: Sendable {
        var prompt: String
        var negativePrompt: String?
        var width: Int
        var height: Int
        var steps: Int
        var guidanceScale: Double
        var seed: UInt64
    }

    /// PNG bytes, one per job, generated in order on the serial queue. Cancelling the calling task
    /// (the client hung up) skips the jobs not started yet; the one running finishes and is dropped.
    func generate(_ jobs: [Job]) async throws -> [[UInt8]] {
        let cancelled = Mutex(false)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[[UInt8]], any Error>) in
                queue.async { [pipeline] in
                    do {
                        var images: [[UInt8]] = []
                        for job in jobs {
                            if cancelled.withLock({ $0 }) { throw CancellationError() }
                            let output = try pipeline.generate(
                                prompt: job.prompt, negativePrompt: job.negativePrompt, width: job.width,
                                height: job.height, steps: job.steps, guidanceScale: job.guidanceScale, seed: job.seed)
                            images.append(try PNGEncoder.encode(output.image))
                        }
                        continuation.resume(returning: images)
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
            }
        } onCancel: {
            cancelled.withLock { $0 = true }
        }
    }
}
