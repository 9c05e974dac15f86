import Foundation
import OmniEngine
import OmniMedia
import OmniPipeline

/// A text-to-image model behind `/v1/images/generations`: its diffusion engine, which batches the
/// images of every request in flight step by step on its own thread.
struct ServedImageModel: Sendable {
    let name: String
    let generator: AsyncImageGenerator

    init(name: String, directory: String, options: EngineOptions) throws {
        self.name = name
        generator = try AsyncImageGenerator(directory: directory, options: options)
    }

    var pipeline: ZImagePipeline { generator.pipeline }

    /// One generated image: its PNG and what the step cache did for it.
    struct Image: Sendable {
        var png: [UInt8]
        var cache: StepCacheState
    }

    /// The requests' images in order, generated concurrently (they join the engine's running batch
    /// together). Cancelling the calling task (the client hung up) aborts all of them at the next
    /// step boundary; the first failure cancels the rest.
    func generate(_ requests: [ImageRequest]) async throws -> [Image] {
        try await withThrowingTaskGroup(of: (Int, Image).self) { group in
            for (index, request) in requests.enumerated() {
                group.addTask { [generator] in
                    let output = try await generator.generate(request)
                    return (index, Image(png: try PNGEncoder.encode(output.image), cache: output.cache))
                }
            }
            var images = [Image?](repeating: nil, count: requests.count)
            for try await (index, image) in group { images[index] = image }
            return images.map { $0! }
        }
    }
}
