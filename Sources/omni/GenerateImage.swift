import ArgumentParser
import Foundation
import OmniMedia
import OmniPipeline
import OmniTensor

extension Generate {
    /// A text-to-image model: one image to `--output` (PNG), a progress bar over the steps on stderr.
    func generateImage() throws {
        guard let output else { throw ValidationError("image models write their result to a file: pass --output out.png") }
        guard n == 1 else { throw ValidationError("-n: image models generate one image per run here") }
        let backend = CPUBackend(threads: model.threads ?? ThreadPool.physicalCores)
        let pipeline = try ZImagePipeline(directory: URL(fileURLWithPath: model.modelDir), backend: backend)
        let start = Date()
        let result = try pipeline.generate(
            prompt: prompt, negativePrompt: negativePrompt, width: width, height: height, steps: steps,
            guidanceScale: guidanceScale, seed: UInt64(max(seed ?? 0, 0)),
            vaeTiling: vaeTiling ? pipeline.vae.defaultTiling : nil
        ) { step, _ in
            Self.progress(done: step + 1, of: steps, since: start)
        }
        FileHandle.standardError.write(Data("\n".utf8))
        let png = try PNGEncoder.encode(result.image)
        try Data(png).write(to: URL(fileURLWithPath: output))
        FileHandle.standardError.write(Data("wrote \(width)x\(height) image to \(output)\n".utf8))
    }

    private static func progress(done: Int, of total: Int, since start: Date) {
        let width = 30, filled = total > 0 ? width * done / total : width
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let elapsed = Date().timeIntervalSince(start)
        let line = "\r[\(bar)] step \(done)/\(total) \(String(format: "%.1f", elapsed))s"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
