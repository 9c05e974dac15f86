import Foundation
import OmniTensor
import OmniWeights

/// The decoder of diffusers' `AutoencoderKL` (SD, SDXL, Flux, Z-Image VAEs): latents
/// `[B, latent_channels, h, w]` to images `[B, out_channels, h·s, w·s]` in about [-1, 1], with
/// `s = spatialScale`. Weights are read by their checkpoint names (`decoder.conv_in.weight`,
/// `decoder.up_blocks.0.resnets.1.conv2.weight`, `post_quant_conv.weight`, ...) and stay in the
/// checkpoint's dtype; activations are f32. The encoder's weights, if present, are not read.
///
/// Pipelines call `decode(unscale(latents))`, as diffusers' Z-Image and Flux pipelines call
/// `vae.decode(latents / scaling_factor + shift_factor)`; `tiling` gives diffusers' `tiled_decode`.
public final class AutoencoderKL: Sendable {
    public let config: AutoencoderKLConfig
    public let backend: any Backend
    let postQuantConv: Conv2d?
    let convIn: Conv2d
    let midResnets: [ResnetBlock2D]
    let midAttention: SpatialSelfAttention?
    let upBlocks: [UpDecoderBlock2D]
    let normOut: GroupNorm
    let convOut: Conv2d

    /// diffusers builds every decoder norm with this epsilon, whatever the config.
    static let eps: Float = 1e-6

    /// Loads the decoder's weights, checking names and shapes against `config`.
    /// - Throws: `WeightsError` naming the file and the tensor.
    public init(config c: AutoencoderKLConfig, weights: some WeightSource, backend: any Backend) throws {
        self.config = c
        self.backend = backend
        let w = WeightReader(source: weights)
        let groups = c.normNumGroups, eps = Self.eps
        let top = c.blockOutChannels.last!
        postQuantConv = c.usePostQuantConv
            ? try w.conv2d("post_quant_conv", in: c.latentChannels, out: c.latentChannels, kernel: 1, padding: 0) : nil
        convIn = try w.conv2d("decoder.conv_in", in: c.latentChannels, out: top, kernel: 3, padding: 1)
        midResnets = try (0..<2).map { i in
            try ResnetBlock2D(w, prefix: "decoder.mid_block.resnets.\(i)", in: top, out: top, groups: groups, eps: eps)
        }
        midAttention = c.midBlockAddAttention
            ? try SpatialSelfAttention(w, prefix: "decoder.mid_block.attentions.0", channels: top, groups: groups, eps: eps)
            : nil
        let reversed = Array(c.blockOutChannels.reversed())
        upBlocks = try reversed.indices.map { i in
            try UpDecoderBlock2D(w, prefix: "decoder.up_blocks.\(i)", in: reversed[max(i - 1, 0)], out: reversed[i],
                                 layers: c.layersPerBlock + 1, upsample: i < reversed.count - 1, groups: groups, eps: eps)
        }
        normOut = try w.groupNorm("decoder.conv_norm_out", channels: c.blockOutChannels[0], groups: groups, eps: eps)
        convOut = try w.conv2d("decoder.conv_out", in: c.blockOutChannels[0], out: c.outChannels, kernel: 3, padding: 1)
    }

    /// Loads a diffusers `vae/` folder (`config.json` and its safetensors).
    public convenience init(directory: URL, backend: any Backend) throws {
        let config = try AutoencoderKLConfig(ConfigObject(contentsOf: directory.appendingPathComponent("config.json")))
        try self.init(config: config, weights: try Checkpoint(directory: directory), backend: backend)
    }

    /// Pixels per latent along each side.
    public var spatialScale: Int { config.spatialScale }

    /// The tiling diffusers' `enable_tiling()` gives this model (tiles of `sample_size` pixels).
    public var defaultTiling: AutoencoderKLTiling {
        AutoencoderKLTiling(sampleTileSize: config.sampleSize, latentTileSize: config.sampleSize / spatialScale)
    }

    /// `latents / scaling_factor + shift_factor`: what the Z-Image and Flux pipelines do to the
    /// denoised latents before `decode` (SD pipelines: no shift factor, so only the division).
    public func unscale(_ latents: Tensor) -> Tensor {
        let scaled = backend.binary(.div, backend.toFloat32(latents), scalar: Float(config.scalingFactor))
        guard let shift = config.shiftFactor else { return scaled }
        return backend.binary(.add, scaled, scalar: Float(shift))
    }

    /// Decodes latents `[B, latent_channels, h, w]` (any float dtype, any view) to images
    /// `[B, out_channels, h·s, w·s]` f32, as diffusers' `vae.decode(z).sample`. With `tiling`,
    /// latents wider or taller than its latent tile decode tile by tile with blended overlaps, as
    /// `vae.enable_tiling()` then `vae.decode(z)`; smaller latents decode in one piece.
    /// - Throws: `AutoencoderKLError` for latents of the wrong shape, or tiles that don't fit.
    public func decode(_ latents: Tensor, tiling: AutoencoderKLTiling? = nil) throws(AutoencoderKLError) -> Tensor {
        guard latents.rank == 4, latents.shape[1] == config.latentChannels, latents.dtype.isFloatingPoint,
              latents.shape[0] > 0, latents.shape[2] > 0, latents.shape[3] > 0 else {
            throw .invalidLatents(shape: latents.shape, dtype: latents.dtype, expectedChannels: config.latentChannels)
        }
        if let tiling, latents.shape[2] > tiling.latentTileSize || latents.shape[3] > tiling.latentTileSize {
            return try tiledDecode(latents, tiling: tiling)
        }
        return decodeInOnePiece(latents)
    }

    /// post_quant_conv, then the decoder; `observe` sees each module's output under diffusers'
    /// module name (`conv_in`, `mid_block.resnets.0`, `up_blocks.1`, ...) for per-block checks.
    func decodeInOnePiece(_ latents: Tensor, observe: ((String, Tensor) -> Void)? = nil) -> Tensor {
        let b = backend
        var x = b.toFloat32(latents)
        if let postQuantConv {
            x = postQuantConv(x, b)
            observe?("post_quant_conv", x)
        }
        x = convIn(x, b)
        observe?("conv_in", x)
        x = midResnets[0](x, b)
        observe?("mid_block.resnets.0", x)
        if let midAttention {
            x = midAttention(x, b)
            observe?("mid_block.attentions.0", x)
        }
        x = midResnets[1](x, b)
        observe?("mid_block", x)
        for (i, block) in upBlocks.enumerated() {
            x = block(x, b)
            observe?("up_blocks.\(i)", x)
        }
        x = normOut(x, b)
        observe?("conv_norm_out", x)
        x = convOut(b.silu(x), b)
        observe?("conv_out", x)
        return x
    }
}

/// Why latents cannot be decoded; the text says what was expected.
public enum AutoencoderKLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not `[B, latent_channels, h, w]` floats with every dimension positive.
    case invalidLatents(shape: [Int], dtype: DType, expectedChannels: Int)
    /// Tile sizes that would not tile the image (diffusers would return an image of the wrong size).
    case invalidTiling(reason: String)

    public var description: String {
        switch self {
        case .invalidLatents(let shape, let dtype, let channels):
            "VAE decode: latents must be floats of shape [batch, \(channels), height, width] with every dimension at least 1, got \(dtype) \(shape)"
        case .invalidTiling(let reason):
            "VAE tiled decode: \(reason)"
        }
    }
}
