import ArgumentParser
import Foundation
import OmniEngine
import OmniMedia
import OmniPipeline
import OmniTensor

extension Generate {
    /// A text-to-image model: one request through the diffusion engine, the image to `--output`
    /// (PNG), a progress bar over the steps on stderr.
    func generateImage() async throws {
        guard let output else { throw ValidationError("image models write their result to a file: pass --output out.png") }
        guard n == 1 else { throw ValidationError("-n: image models generate one image per run here") }
        var options = EngineOptions()
        model.apply(to: &options)
        try diffusion.apply(to: &options)
        let generator = try AsyncImageGenerator(directory: model.modelDir, options: options)
        let request = ImageRequest(prompt: prompt, negativePrompt: negativePrompt, width: width, height: height, steps: steps,
                                   guidanceScale: guidanceScale, seed: UInt64(max(seed ?? 0, 0)), cache: options.diffusionCache)
        let start = Date()
        let result: ZImageOutput
        if vaeTiling {
            // Tiled decode on request, whatever the size: the pipeline directly, on this thread.
            result = try generator.pipeline.generate(request, vaeTiling: generator.pipeline.vae.defaultTiling) { step, _ in
                Self.progress(done: step + 1, of: steps, since: start)
            }
        } else {
            result = try await generator.generate(request) { done, total in Self.progress(done: done, of: total, since: start) }
        }
        FileHandle.standardError.write(Data("\n".utf8))
        let png = try PNGEncoder.encode(result.image)
        try Data(png).write(to: URL(fileURLWithPath: output))
        var summary = "wrote \(width)x\(height) image to \(output)"
        if request.cache.kind != .none {
            let c = result.cache
            summary += String(format: " (%@: skipped %d of %d joint-block evaluations, %.0f%%; cached steps %@)",
                              request.cache.kind.rawValue, c.skippedBlocks, c.skippedBlocks + c.computedBlocks,
                              100 * Double(c.skippedBlocks) / Double(max(c.skippedBlocks + c.computedBlocks, 1)),
                              c.cachedSteps.map(String.init).joined(separator: ","))
        }
        FileHandle.standardError.write(Data((summary + "\n").utf8))
    }

    private static func progress(done: Int, of total: Int, since start: Date) {
        let width = 30, filled = total > 0 ? width * done / total : width
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let elapsed = Date().timeIntervalSince(start)
        let line = "\r[\(bar)] step \(done)/\(total) \(String(format: "%.1f", elapsed))s"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
