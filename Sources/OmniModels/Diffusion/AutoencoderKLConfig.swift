import Foundation
import OmniWeights

/// What a diffusers `AutoencoderKL` `vae/config.json` says about the decoder, with diffusers'
/// defaults for absent fields (`AutoencoderKL.__init__`), checked once where it is read.
public struct AutoencoderKLConfig: Sendable, Equatable {
    /// Image channels out of the decoder (`out_channels`, 3).
    public var outChannels: Int
    /// `latent_channels` (4 for SD, 16 for Flux / Z-Image).
    public var latentChannels: Int
    /// Channels per resolution level, highest resolution first (`block_out_channels`); the
    /// decoder walks them in reverse.
    public var blockOutChannels: [Int]
    /// `layers_per_block`: the decoder's up blocks have one resnet more than this.
    public var layersPerBlock: Int
    public var normNumGroups: Int
    /// Self-attention in the mid block (`mid_block_add_attention`).
    public var midBlockAddAttention: Bool
    /// A 1x1 conv on the latents before the decoder (`use_post_quant_conv`; false for Flux / Z-Image).
    public var usePostQuantConv: Bool
    /// Pipelines decode `latents / scalingFactor + shiftFactor` (`scaling_factor`, `shift_factor`).
    public var scalingFactor: Double
    public var shiftFactor: Double?
    /// `sample_size` (its first entry when a list): the pixel tile size of tiled decoding.
    public var sampleSize: Int
    /// `force_upcast`: diffusers runs such a VAE in f32. Informational here: activations are f32 on
    /// CPU whatever the weights (DESIGN.md §8).
    public var forceUpcast: Bool

    public init(outChannels: Int = 3, latentChannels: Int = 4, blockOutChannels: [Int] = [64], layersPerBlock: Int = 1,
                normNumGroups: Int = 32, midBlockAddAttention: Bool = true, usePostQuantConv: Bool = true,
                scalingFactor: Double = 0.18215, shiftFactor: Double? = nil, sampleSize: Int = 32, forceUpcast: Bool = true) {
        self.outChannels = outChannels
        self.latentChannels = latentChannels
        self.blockOutChannels = blockOutChannels
        self.layersPerBlock = layersPerBlock
        self.normNumGroups = normNumGroups
        self.midBlockAddAttention = midBlockAddAttention
        self.usePostQuantConv = usePostQuantConv
        self.scalingFactor = scalingFactor
        self.shiftFactor = shiftFactor
        self.sampleSize = sampleSize
        self.forceUpcast = forceUpcast
    }

    /// Pixels per latent along each side: 2^(levels - 1).
    public var spatialScale: Int { 1 << (blockOutChannels.count - 1) }

    /// Reads and checks a `vae/config.json`.
    /// - Throws: `WeightsError` naming the file and the field.
    public init(_ c: ConfigObject) throws(WeightsError) {
        if let name = try c.string("_class_name"), name != "AutoencoderKL" {
            throw c.invalid("_class_name", "must be \"AutoencoderKL\" (other VAE classes are not supported)", c["_class_name"]!)
        }
        let blocks = try c.ints("block_out_channels") ?? [64]
        guard !blocks.isEmpty, blocks.allSatisfy({ $0 > 0 }) else {
            throw c.invalid("block_out_channels", "must be a non-empty list of positive channel counts", c["block_out_channels"]!)
        }
        let upBlocks = try c.strings("up_block_types") ?? ["UpDecoderBlock2D"]
        guard upBlocks.count == blocks.count else {
            throw c.invalid("up_block_types", "must name one block per block_out_channels entry (\(blocks.count))", c["up_block_types"]!)
        }
        if let other = upBlocks.first(where: { $0 != "UpDecoderBlock2D" }) {
            throw c.invalid("up_block_types", "has \"\(other)\"; only UpDecoderBlock2D is supported", c["up_block_types"]!)
        }
        let act = try c.string("act_fn") ?? "silu"
        guard act == "silu" || act == "swish" else {
            throw c.invalid("act_fn", "must be \"silu\" (the only activation supported)", c["act_fn"]!)
        }
        let groups = try c.int("norm_num_groups") ?? 32
        guard groups > 0, blocks.allSatisfy({ $0 % groups == 0 }) else {
            throw c.invalid("norm_num_groups", "must divide every block_out_channels entry \(blocks)", c["norm_num_groups"] ?? .null)
        }
        let sampleSize: Int
        if let list = c["sample_size"]?.array {
            guard let first = list.first?.int else { throw c.invalid("sample_size", "must be an integer or a list of integers", c["sample_size"]!) }
            sampleSize = first
        } else {
            sampleSize = try c.int("sample_size") ?? 32
        }
        let scaling = try c.double("scaling_factor") ?? 0.18215
        guard scaling != 0, scaling.isFinite else { throw c.invalid("scaling_factor", "must be a nonzero number", c["scaling_factor"]!) }
        let outChannels = try c.int("out_channels") ?? 3, latentChannels = try c.int("latent_channels") ?? 4
        let layersPerBlock = try c.int("layers_per_block") ?? 1
        for (key, value, minimum) in [("out_channels", outChannels, 1), ("latent_channels", latentChannels, 1),
                                      ("sample_size", sampleSize, 1), ("layers_per_block", layersPerBlock, 0)] where value < minimum {
            throw c.invalid(key, "must be at least \(minimum)", c[key]!)
        }
        self.init(
            outChannels: outChannels, latentChannels: latentChannels, blockOutChannels: blocks, layersPerBlock: layersPerBlock,
            normNumGroups: groups, midBlockAddAttention: try c.bool("mid_block_add_attention") ?? true,
            usePostQuantConv: try c.bool("use_post_quant_conv") ?? true, scalingFactor: scaling,
            shiftFactor: try c.double("shift_factor"), sampleSize: sampleSize, forceUpcast: try c.bool("force_upcast") ?? true)
    }
}
