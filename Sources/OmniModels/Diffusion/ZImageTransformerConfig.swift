import Foundation
import OmniWeights

/// What a diffusers `ZImageTransformer2DModel` `transformer/config.json` says, with diffusers'
/// defaults for absent fields (`ZImageTransformer2DModel.__init__`), checked once where it is read.
public struct ZImageTransformerConfig: Sendable, Equatable {
    /// Spatial patch sizes with one embedder and final layer each (`all_patch_size`, `[2]`).
    public var patchSizes: [Int]
    /// Frame patch sizes, paired with `patchSizes` (`all_f_patch_size`, `[1]`).
    public var framePatchSizes: [Int]
    /// Latent channels in and out (`in_channels`, 16).
    public var inChannels: Int
    /// Model width (`dim`, 3840 for Z-Image-Turbo).
    public var dim: Int
    /// Joint blocks over the image and caption tokens (`n_layers`).
    public var layers: Int
    /// Blocks in each of the noise (image) and context (caption) refiners (`n_refiner_layers`).
    public var refinerLayers: Int
    public var heads: Int
    public var normEps: Float
    /// Per-head RMSNorm of queries and keys (`qk_norm`).
    public var qkNorm: Bool
    /// Width of the caption features from the text encoder (`cap_feat_dim`).
    public var captionFeatureDim: Int
    public var ropeTheta: Double
    /// The model sees `t * tScale` for a timestep `t` in [0, 1] (`t_scale`, 1000).
    public var tScale: Float
    /// Rotary features per position axis (frame/caption index, row, column); they sum to the head dim.
    public var axesDims: [Int]
    /// Positions each axis can take (`axes_lens`).
    public var axesLens: [Int]

    public init(patchSizes: [Int] = [2], framePatchSizes: [Int] = [1], inChannels: Int = 16, dim: Int = 3840,
                layers: Int = 30, refinerLayers: Int = 2, heads: Int = 30, normEps: Float = 1e-5, qkNorm: Bool = true,
                captionFeatureDim: Int = 2560, ropeTheta: Double = 256, tScale: Float = 1000,
                axesDims: [Int] = [32, 48, 48], axesLens: [Int] = [1024, 512, 512]) {
        self.patchSizes = patchSizes
        self.framePatchSizes = framePatchSizes
        self.inChannels = inChannels
        self.dim = dim
        self.layers = layers
        self.refinerLayers = refinerLayers
        self.heads = heads
        self.normEps = normEps
        self.qkNorm = qkNorm
        self.captionFeatureDim = captionFeatureDim
        self.ropeTheta = ropeTheta
        self.tScale = tScale
        self.axesDims = axesDims
        self.axesLens = axesLens
    }

    public var headDim: Int { dim / heads }
    /// Width of the timestep embedding that drives adaLN (`min(dim, 256)` in diffusers).
    public var adaLNEmbedDim: Int { min(dim, 256) }
    /// SwiGLU hidden width, `int(dim / 3 * 8)` as diffusers computes it.
    public var feedForwardDim: Int { Int(Double(dim) / 3 * 8) }

    /// Reads and checks a `transformer/config.json`.
    /// - Throws: `WeightsError` naming the file and the field.
    public init(_ c: ConfigObject) throws(WeightsError) {
        if let name = try c.string("_class_name"), name != "ZImageTransformer2DModel" {
            throw c.invalid("_class_name", "must be \"ZImageTransformer2DModel\"", c["_class_name"]!)
        }
        let d = ZImageTransformerConfig()
        let patches = try c.ints("all_patch_size") ?? d.patchSizes
        let framePatches = try c.ints("all_f_patch_size") ?? d.framePatchSizes
        guard !patches.isEmpty, patches.count == framePatches.count, (patches + framePatches).allSatisfy({ $0 > 0 }) else {
            throw c.invalid("all_f_patch_size", "must list one positive frame patch size per all_patch_size entry \(patches)",
                            c["all_f_patch_size"] ?? .null)
        }
        let dim = try c.requiredInt("dim", atLeast: 1)
        let heads = try c.requiredInt("n_heads", atLeast: 1)
        guard dim % heads == 0, (dim / heads) % 2 == 0 else {
            throw c.invalid("n_heads", "must divide dim \(dim) into heads of an even size", c["n_heads"]!)
        }
        // n_kv_heads is not read: diffusers' blocks ignore it too (keys and values have n_heads heads).
        let axesDims = try c.ints("axes_dims") ?? d.axesDims
        let axesLens = try c.ints("axes_lens") ?? d.axesLens
        guard axesDims.count == 3, axesLens.count == 3, axesDims.allSatisfy({ $0 > 0 && $0 % 2 == 0 }),
              axesLens.allSatisfy({ $0 > 0 }) else {
            throw c.invalid("axes_dims", "must be three even rotary sizes, with three positive axes_lens", c["axes_dims"] ?? .null)
        }
        guard axesDims.reduce(0, +) == dim / heads else {
            throw c.invalid("axes_dims", "must sum to the head dim \(dim / heads) (dim / n_heads)", c["axes_dims"] ?? .null)
        }
        if let siglip = c["siglip_feat_dim"], siglip != .null {
            throw c.invalid("siglip_feat_dim", "must be null: the Omni (SigLIP-conditioned) variant is not supported", siglip)
        }
        self.init(patchSizes: patches, framePatchSizes: framePatches, inChannels: try c.int("in_channels") ?? d.inChannels,
                  dim: dim, layers: try c.int("n_layers") ?? d.layers, refinerLayers: try c.int("n_refiner_layers") ?? d.refinerLayers,
                  heads: heads, normEps: Float(try c.double("norm_eps") ?? 1e-5), qkNorm: try c.bool("qk_norm") ?? true,
                  captionFeatureDim: try c.int("cap_feat_dim") ?? d.captionFeatureDim,
                  ropeTheta: try c.double("rope_theta") ?? d.ropeTheta, tScale: Float(try c.double("t_scale") ?? 1000),
                  axesDims: axesDims, axesLens: axesLens)
        for (key, value, minimum) in [("in_channels", inChannels, 1), ("n_layers", layers, 0),
                                      ("n_refiner_layers", refinerLayers, 0), ("cap_feat_dim", captionFeatureDim, 1)]
        where value < minimum {
            throw c.invalid(key, "must be at least \(minimum)", c[key]!)
        }
    }
}
