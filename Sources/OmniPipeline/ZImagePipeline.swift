import Foundation
import OmniEngine
import OmniMedia
import OmniModels
import OmniTensor
import OmniWeights

/// Z-Image text-to-image from a diffusers directory (`model_index.json` with `transformer/`,
/// `vae/`, `text_encoder/`, `tokenizer/`, `scheduler/`), step for step as diffusers'
/// `ZImagePipeline.__call__`: prompt features from the Qwen3 text encoder, seeded latents from
/// torch's CPU generator, the flow-matching Euler loop over the DiT (with classifier-free guidance,
/// its truncation and renormalization), then the VAE decode and diffusers' postprocess.
public final class ZImagePipeline: Sendable {
    /// `model_index.json`'s `_class_name`.
    public static let className = "ZImagePipeline"

    public let promptEncoder: ZImagePromptEncoder
    public let transformer: ZImageTransformer
    public let vae: AutoencoderKL
    public let scheduler: FlowMatchEulerDiscreteScheduler
    public let backend: any Backend

    public init(directory: URL, backend: any Backend) throws {
        let index = try DiffusersModelIndex(directory: directory)
        guard index.className == Self.className else {
            throw WeightsError.invalidField(path: directory.appendingPathComponent("model_index.json").path, field: "_class_name",
                                            reason: "\"\(index.className)\" is not \(Self.className)")
        }
        self.backend = backend
        promptEncoder = try ZImagePromptEncoder(tokenizerDirectory: index.directory(of: "tokenizer"),
                                                textEncoderDirectory: index.directory(of: "text_encoder"), backend: backend)
        transformer = try ZImageTransformer(directory: index.directory(of: "transformer"), backend: backend)
        vae = try AutoencoderKL(directory: index.directory(of: "vae"), backend: backend)
        scheduler = FlowMatchEulerDiscreteScheduler(config: try .init(index.config(of: "scheduler")))
    }

    /// Pixels per side of one latent patch: the VAE's downsampling times the DiT's patch size 2
    /// (diffusers' `vae_scale_factor * 2`). Widths and heights must be multiples of it.
    public var sizeMultiple: Int { vae.spatialScale * 2 }

    /// The latent shape `[1, C, h, w]` of an image, as `prepare_latents` computes it.
    public func latentShape(width: Int, height: Int) -> [Int] {
        [1, transformer.config.inChannels, 2 * (height / sizeMultiple), 2 * (width / sizeMultiple)]
    }

    /// Generates one image: `makeJob`, `step` until finished, `decode`; the same path the diffusion
    /// engine runs a batch of requests through.
    /// - Parameters:
    ///   - vaeTiling: decode tile by tile (`vae.enable_tiling()`), bounding the decoder's memory
    ///     for large images; nil decodes in one piece, as the diffusers pipeline does by default.
    ///   - onStep: sees the step index and the latents after that step (`callback_on_step_end`).
    /// - Throws: `ZImagePipelineError` for a bad size or step count; model errors otherwise.
    public func generate(_ request: ImageRequest, vaeTiling: AutoencoderKLTiling? = nil,
                         onStep: ((Int, Tensor) -> Void)? = nil) throws -> ZImageOutput {
        try decode(denoise(request, onStep: onStep), vaeTiling: vaeTiling)
    }

    /// The denoising loop alone: the finished job (its final latents `[1, C, h, w]` f32 and cache
    /// counts).
    public func denoise(_ request: ImageRequest, onStep: ((Int, Tensor) -> Void)? = nil) throws -> ZImageJob {
        var jobs = [try makeJob(request)]
        while !jobs[0].isFinished {
            try step(&jobs)
            onStep?(jobs[0].stepIndex - 1, jobs[0].latents)
        }
        return jobs[0]
    }

    /// `pos + scale * (pos - neg)`, its norm capped at `normalization * |pos|` when that is above 0.
    func guided(positive: Tensor, negative: Tensor, scale: Float, normalization: Double) -> Tensor {
        let b = backend
        let pred = b.add(positive, b.scale(b.sub(positive, negative), by: scale))
        guard normalization > 0 else { return pred }
        func norm(_ x: Tensor) -> Float { Float(x.toFloats().reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()) }
        let positiveNorm = norm(positive), predNorm = norm(pred)
        let maxNorm = positiveNorm * Float(normalization)
        return predNorm > maxNorm ? b.scale(pred, by: maxNorm / predNorm) : pred
    }
}

/// What one generation gives: the final latents, the VAE's output and the image.
public struct ZImageOutput: Sendable {
    /// `[1, C, h, w]` f32, before unscaling.
    public var latents: Tensor
    /// `[1, 3, H, W]` f32 in about [-1, 1], as `vae.decode(...).sample`.
    public var decoded: Tensor
    public var image: PixelImage
    /// What the step cache did: blocks skipped and computed, the steps it reused.
    public var cache: StepCacheState
}

public enum ZImagePipelineError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidSize(name: String, value: Int, multiple: Int)
    case invalidSteps(Int)

    public var description: String {
        switch self {
        case .invalidSize(let name, let value, let multiple):
            "\(name) \(value) is not a positive multiple of \(multiple) (the VAE's downsampling times the DiT's patch size); pick a multiple of \(multiple)"
        case .invalidSteps(let steps):
            "num_inference_steps must be at least 1 (got \(steps))"
        }
    }
}
