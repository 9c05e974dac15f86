import Foundation
import OmniTensor
import OmniWeights

/// diffusers' `ZImageTransformer2DModel`, the DiT of Z-Image, in its text-to-image (non-Omni) form.
/// Each item's latents `[C, F, H, W]` become patch tokens and its caption features `[L, cap_feat_dim]`
/// caption tokens; both are padded to a multiple of 32 with learned pad tokens, refined apart (the
/// image tokens under timestep modulation), then joined as `[image, caption]` through the joint
/// blocks; the final layer and unpatchify give the prediction `[C, F, H, W]`.
///
/// Weights are read by their checkpoint names (`layers.3.attention.to_q.weight`,
/// `all_x_embedder.2-1.weight`, ...) and stay in the checkpoint's dtype; activations are f32.
/// diffusers pads a batch and masks the padding, which gives each item what it gives alone; here the
/// items of a batch share every joint block's GEMMs (their rows stacked) and attend each within
/// itself, which gives the same without padding, whatever the items' sizes.
public final class ZImageTransformer: Sendable {
    public let config: ZImageTransformerConfig
    public let backend: any Backend
    let timestepEmbedder: (Linear, Linear)
    let captionNorm: RMSNorm
    let captionEmbedder: Linear
    let imagePadToken: Tensor
    let captionPadToken: Tensor
    let embedders: [String: Linear]
    let finalLayers: [String: (modulation: Linear, linear: Linear)]
    let noiseRefiner: [ZImageTransformerBlock]
    let contextRefiner: [ZImageTransformerBlock]
    let layers: [ZImageTransformerBlock]
    /// `cos`/`sin` of every position of each axis: `[axes_lens[i], axes_dims[i] / 2]` values, row-major.
    let ropeTables: [(cos: [Float], sin: [Float])]

    /// Sequences are padded to a multiple of this (diffusers' `SEQ_MULTI_OF`).
    static let sequenceMultiple = 32
    /// Sinusoidal features of the timestep, and the hidden width of its MLP (fixed in diffusers).
    static let frequencyEmbeddingSize = 256
    static let timestepHiddenSize = 1024

    /// Loads the weights, checking names and shapes against `config`.
    /// - Throws: `WeightsError` naming the file and the tensor.
    public init(config c: ZImageTransformerConfig, weights: some WeightSource, backend: any Backend) throws {
        self.config = c
        self.backend = backend
        let w = WeightReader(source: weights)
        let dim = c.dim, ada = c.adaLNEmbedDim
        timestepEmbedder = (
            Linear(weight: try w.tensor("t_embedder.mlp.0.weight", shape: [Self.timestepHiddenSize, Self.frequencyEmbeddingSize]),
                   bias: try w.tensor("t_embedder.mlp.0.bias", shape: [Self.timestepHiddenSize])),
            Linear(weight: try w.tensor("t_embedder.mlp.2.weight", shape: [ada, Self.timestepHiddenSize]),
                   bias: try w.tensor("t_embedder.mlp.2.bias", shape: [ada])))
        captionNorm = RMSNorm(weight: try w.tensor("cap_embedder.0.weight", shape: [c.captionFeatureDim]), eps: c.normEps)
        captionEmbedder = Linear(weight: try w.tensor("cap_embedder.1.weight", shape: [dim, c.captionFeatureDim]),
                                 bias: try w.tensor("cap_embedder.1.bias", shape: [dim]))
        imagePadToken = try w.tensor("x_pad_token", shape: [1, dim])
        captionPadToken = try w.tensor("cap_pad_token", shape: [1, dim])
        var embedders = [String: Linear](), finals = [String: (modulation: Linear, linear: Linear)]()
        for (p, pf) in zip(c.patchSizes, c.framePatchSizes) {
            let key = "\(p)-\(pf)", patchDim = pf * p * p * c.inChannels
            embedders[key] = Linear(weight: try w.tensor("all_x_embedder.\(key).weight", shape: [dim, patchDim]),
                                    bias: try w.tensor("all_x_embedder.\(key).bias", shape: [dim]))
            let f = "all_final_layer.\(key)"
            finals[key] = (Linear(weight: try w.tensor("\(f).adaLN_modulation.1.weight", shape: [dim, ada]),
                                  bias: try w.tensor("\(f).adaLN_modulation.1.bias", shape: [dim])),
                           Linear(weight: try w.tensor("\(f).linear.weight", shape: [patchDim, dim]),
                                  bias: try w.tensor("\(f).linear.bias", shape: [patchDim])))
        }
        self.embedders = embedders
        finalLayers = finals
        noiseRefiner = try (0..<c.refinerLayers).map {
            try ZImageTransformerBlock(w, prefix: "noise_refiner.\($0)", config: c, modulated: true)
        }
        contextRefiner = try (0..<c.refinerLayers).map {
            try ZImageTransformerBlock(w, prefix: "context_refiner.\($0)", config: c, modulated: false)
        }
        layers = try (0..<c.layers).map { try ZImageTransformerBlock(w, prefix: "layers.\($0)", config: c, modulated: true) }
        ropeTables = zip(c.axesDims, c.axesLens).map { Self.ropeTable(dim: $0, positions: $1, theta: c.ropeTheta) }
    }

    /// Loads a diffusers `transformer/` folder (`config.json` and its safetensors).
    public convenience init(directory: URL, backend: any Backend) throws {
        let config = try ZImageTransformerConfig(ConfigObject(contentsOf: directory.appendingPathComponent("config.json")))
        try self.init(config: config, weights: try Checkpoint(directory: directory), backend: backend)
    }

    /// The model's output for each item, as diffusers' `transformer(latents, t, captions)[0]`:
    /// `latents[i]` `[C, F, H, W]` (any float dtype), `timesteps[i]` in [0, 1] (the Z-Image pipeline
    /// passes `(1000 - t) / 1000`), `captions[i]` `[L, cap_feat_dim]` with `L >= 1`. Results are f32
    /// `[C, F, H, W]`; the pipeline negates them to get the flow.
    /// - Throws: `ZImageTransformerError` for inputs of the wrong shape or an unsupported patch size.
    public func callAsFunction(latents: [Tensor], timesteps: [Float], captions: [Tensor],
                               patchSize: Int = 2, framePatchSize: Int = 1) throws(ZImageTransformerError) -> [Tensor] {
        guard latents.count == timesteps.count, latents.count == captions.count else {
            throw .batchMismatch(latents: latents.count, timesteps: timesteps.count, captions: captions.count)
        }
        var states = try latents.indices.map { i throws(ZImageTransformerError) in
            try prepare(latents: latents[i], timestep: timesteps[i], caption: captions[i], patchSize: patchSize,
                        framePatchSize: framePatchSize)
        }
        for i in layers.indices { applyLayer(i, to: &states) }
        return states.map { finish($0) }
    }

    /// One item: `prepare`, every joint layer, `finish`. `observe` sees each module's output under
    /// diffusers' module name (`t_embedder`, `x_embedder`, `noise_refiner.0`, `cap_embedder`,
    /// `context_refiner.1`, `layers.0`, `final_layer`), shaped as diffusers has it for a batch of
    /// one, for per-block checks.
    func forward(_ latents: Tensor, timestep: Float, caption: Tensor, patchSize: Int, framePatchSize: Int,
                 observe: ((String, Tensor) -> Void)? = nil) throws(ZImageTransformerError) -> Tensor {
        var state = try prepare(latents: latents, timestep: timestep, caption: caption, patchSize: patchSize,
                                framePatchSize: framePatchSize, observe: observe)
        for i in layers.indices {
            applyLayer(i, to: &state)
            observe?("layers.\(i)", state.hidden.unsqueezed(0))
        }
        return finish(state, observe: observe)
    }

    /// Number of joint blocks (`n_layers`), the blocks that `applyLayer` runs.
    public var layerCount: Int { layers.count }

    /// Everything before the joint blocks for one item (timestep embedding, patchify, embedders with
    /// pad tokens, both refiners, the joined `[image, caption]` sequence). With `applyLayer` and
    /// `finish` it lets a cache (first-block cache, TeaCache) see the joint blocks' input and output
    /// and skip blocks; `callAsFunction` is these three in order.
    /// - Throws: `ZImageTransformerError` for inputs of the wrong shape or an unsupported patch size.
    public func prepare(latents: Tensor, timestep: Float, caption: Tensor, patchSize p: Int = 2, framePatchSize pf: Int = 1,
                        observe: ((String, Tensor) -> Void)? = nil) throws(ZImageTransformerError) -> ZImageTransformerState {
        let c = config, b = backend, key = "\(p)-\(pf)"
        guard let embedder = embedders[key] else {
            throw .unsupportedPatchSize(patchSize: p, framePatchSize: pf, supported: zip(c.patchSizes, c.framePatchSizes).map { "\($0)-\($1)" })
        }
        let s = latents.shape
        guard latents.rank == 4, s[0] == c.inChannels, latents.dtype.isFloatingPoint, s[1] > 0, s[2] > 0, s[3] > 0,
              s[1] % pf == 0, s[2] % p == 0, s[3] % p == 0 else {
            throw .invalidLatents(shape: latents.shape, channels: c.inChannels, patchSize: p, framePatchSize: pf)
        }
        guard caption.rank == 2, caption.shape[0] > 0, caption.shape[1] == c.captionFeatureDim, caption.dtype.isFloatingPoint else {
            throw .invalidCaption(shape: caption.shape, featureDim: c.captionFeatureDim)
        }
        try checkInputs(latentShape: s, captionTokens: caption.shape[0], patchSize: p, framePatchSize: pf)
        let grid = (f: s[1] / pf, h: s[2] / p, w: s[3] / p)
        let imageTokens = grid.f * grid.h * grid.w, captionTokens = caption.shape[0]
        let imageLength = Self.padded(imageTokens), captionLength = Self.padded(captionTokens)

        let adaLN = timestepEmbedding(timestep)
        observe?("t_embedder", adaLN)

        // Image tokens: patchify "c (f pf) (h ph) (w pw) -> (f h w) (pf ph pw c)", pad, embed.
        let patches = b.contiguous(b.toFloat32(latents).reshaped([s[0], grid.f, pf, grid.h, p, grid.w, p])
            .permuted([1, 3, 5, 2, 4, 6, 0])).reshaped([imageTokens, pf * p * p * s[0]])
        var x = embedder(Self.repeatingLastRow(patches, to: imageLength, b), b)
        observe?("x_embedder", x)
        x = withPadToken(x, valid: imageTokens, token: imagePadToken)
        var imagePositions = [(Int, Int, Int)]()
        imagePositions.reserveCapacity(imageLength)
        for f in 0..<grid.f { for h in 0..<grid.h { for w in 0..<grid.w { imagePositions.append((captionLength + 1 + f, h, w)) } } }
        imagePositions += Array(repeating: (0, 0, 0), count: imageLength - imageTokens)
        let imageRope = rope(imagePositions)
        for (i, block) in noiseRefiner.enumerated() {
            x = block(x, rope: imageRope, adaLN: adaLN, b)
            observe?("noise_refiner.\(i)", x.unsqueezed(0))
        }

        // Caption tokens: positions (1 + j, 0, 0), padding included.
        var cap = captionEmbedder(captionNorm(Self.repeatingLastRow(b.toFloat32(caption), to: captionLength, b), b), b)
        observe?("cap_embedder", cap)
        cap = withPadToken(cap, valid: captionTokens, token: captionPadToken)
        let captionRope = rope((0..<captionLength).map { (1 + $0, 0, 0) })
        for (i, block) in contextRefiner.enumerated() {
            cap = block(cap, rope: captionRope, adaLN: nil, b)
            observe?("context_refiner.\(i)", cap.unsqueezed(0))
        }

        return ZImageTransformerState(
            hidden: b.concat([x, cap], dim: 0),
            rope: (b.concat([imageRope.cos, captionRope.cos], dim: 0), b.concat([imageRope.sin, captionRope.sin], dim: 0)),
            adaLN: adaLN, latentShape: s, imageTokens: imageTokens, patchSize: p, framePatchSize: pf)
    }

    /// Throws unless latents `[C, F, H, W]` of `latentShape` (patch-aligned, checked by `prepare`)
    /// and a caption of `captionTokens` fit the rotary position range (`axes_lens`).
    public func checkInputs(latentShape s: [Int], captionTokens: Int, patchSize p: Int = 2,
                            framePatchSize pf: Int = 1) throws(ZImageTransformerError) {
        let c = config
        let grid = (f: s[1] / pf, h: s[2] / p, w: s[3] / p), captionLength = Self.padded(captionTokens)
        guard captionLength + grid.f < c.axesLens[0], grid.h <= c.axesLens[1], grid.w <= c.axesLens[2] else {
            throw .tooManyPositions(captionTokens: captionLength, grid: [grid.f, grid.h, grid.w], axesLens: c.axesLens)
        }
    }

    /// Joint block `index` (`layers.<index>`) on the state's hidden states.
    public func applyLayer(_ index: Int, to state: inout ZImageTransformerState) {
        state.hidden = layers[index](state.hidden, rope: state.rope, adaLN: state.adaLN, backend)
    }

    /// Joint block `index` on several items at once (`items` of `states`, all by default): one
    /// GEMM per projection over their stacked rows, attention and modulation per item. Each item
    /// gets exactly what `applyLayer(_:to:)` gives it alone.
    public func applyLayer(_ index: Int, to states: inout [ZImageTransformerState], items: [Int]? = nil) {
        let chosen = items ?? Array(states.indices)
        guard !chosen.isEmpty else { return }
        let out = layers[index](chosen.map { states[$0].hidden }, ropes: chosen.map { states[$0].rope },
                                adaLNs: chosen.map { states[$0].adaLN }, backend)
        for (slot, item) in chosen.enumerated() { states[item].hidden = out[slot] }
    }

    /// What joint block `index` feeds its attention: `attention_norm1(hidden) * (1 + scale_msa)`,
    /// the timestep-modulated input TeaCache compares between steps.
    public func modulatedInput(layer index: Int, of state: ZImageTransformerState) -> Tensor {
        layers[index].modulatedInput(state.hidden, adaLN: state.adaLN, backend)
    }

    /// The final layer (LayerNorm without affine, scaled by `1 + adaLN_modulation(t)`, Linear) and
    /// unpatchify: the prediction `[C, F, H, W]` f32.
    public func finish(_ state: ZImageTransformerState, observe: ((String, Tensor) -> Void)? = nil) -> Tensor {
        let b = backend, s = state.latentShape, p = state.patchSize, pf = state.framePatchSize
        let final = finalLayers["\(p)-\(pf)"]!   // prepare checked the patch size
        let scale = b.binary(.add, final.modulation(b.silu(state.adaLN), b), scalar: 1)
        let out = final.linear(b.mul(b.layerNorm(state.hidden, weight: nil, bias: nil, eps: 1e-6), scale), b)
        observe?("final_layer", out.unsqueezed(0))

        // Unpatchify "(f h w) (pf ph pw c) -> c (f pf) (h ph) (w pw)" from the image tokens.
        return b.contiguous(out.sliced(dim: 0, 0..<state.imageTokens)
            .reshaped([s[1] / pf, s[2] / p, s[3] / p, pf, p, p, s[0]])
            .permuted([6, 0, 3, 1, 4, 2, 5])).reshaped(s)
    }

    /// `t_embedder(t * t_scale)`: sinusoidal features `[cos, sin]` as diffusers computes them in
    /// f32, then Linear, SiLU, Linear. `[1, adaLNEmbedDim]`.
    func timestepEmbedding(_ t: Float) -> Tensor {
        let half = Self.frequencyEmbeddingSize / 2, scaled = t * config.tScale
        let logPeriod = Float(-Foundation.log(10000.0))
        var features = [Float](repeating: 0, count: 2 * half)
        for i in 0..<half {
            let arg = scaled * Foundation.exp(logPeriod * Float(i) / Float(half))
            features[i] = Foundation.cos(arg)
            features[half + i] = Foundation.sin(arg)
        }
        let b = backend
        return timestepEmbedder.1(b.silu(timestepEmbedder.0(Tensor(features, shape: [1, 2 * half]), b)), b)
    }

    /// `cos`/`sin` `[S, 1, headDim / 2]` for positions `(axis0, axis1, axis2)`, each axis's
    /// frequencies after the previous one's, as diffusers' `RopeEmbedder` concatenates them.
    func rope(_ positions: [(Int, Int, Int)]) -> (cos: Tensor, sin: Tensor) {
        let half = config.headDim / 2
        var cos = [Float](repeating: 0, count: positions.count * half), sin = cos
        for (row, position) in positions.enumerated() {
            var column = row * half
            for (axis, index) in [position.0, position.1, position.2].enumerated() {
                let width = config.axesDims[axis] / 2, table = ropeTables[axis]
                for i in 0..<width {
                    cos[column + i] = table.cos[index * width + i]
                    sin[column + i] = table.sin[index * width + i]
                }
                column += width
            }
        }
        return (Tensor(cos, shape: [positions.count, 1, half]), Tensor(sin, shape: [positions.count, 1, half]))
    }

    /// diffusers' `precompute_freqs_cis`: frequencies `1 / theta^(2i/d)` and angles in f64, rounded
    /// to f32, then `polar(1, angle)` in f32.
    static func ropeTable(dim: Int, positions: Int, theta: Double) -> (cos: [Float], sin: [Float]) {
        let width = dim / 2
        var cos = [Float](repeating: 0, count: positions * width), sin = cos
        for position in 0..<positions {
            for i in 0..<width {
                let angle = Float(Double(position) * (1 / Foundation.pow(theta, Double(2 * i) / Double(dim))))
                cos[position * width + i] = Foundation.cos(angle)
                sin[position * width + i] = Foundation.sin(angle)
            }
        }
        return (cos, sin)
    }

    static func padded(_ n: Int) -> Int { (n + sequenceMultiple - 1) / sequenceMultiple * sequenceMultiple }

    /// `x [n, d]` extended to `rows` by repeating its last row (diffusers pads features this way
    /// before embedding; the padded rows are then replaced by the pad token).
    static func repeatingLastRow(_ x: Tensor, to rows: Int, _ b: any Backend) -> Tensor {
        let n = x.shape[0]
        guard rows > n else { return x }
        return b.concat([x, x.sliced(dim: 0, (n - 1)..<n).expanded(to: [rows - n, x.shape[1]])], dim: 0)
    }

    /// Rows `valid...` of `x` replaced by the learned pad token.
    private func withPadToken(_ x: Tensor, valid: Int, token: Tensor) -> Tensor {
        let rows = x.shape[0]
        guard rows > valid else { return x }
        let b = backend
        return b.concat([x.sliced(dim: 0, 0..<valid), b.toFloat32(token).expanded(to: [rows - valid, x.shape[1]])], dim: 0)
    }
}

/// One item inside `ZImageTransformer` between `prepare` and `finish`: the joint blocks' hidden
/// states and what every block needs besides them.
public struct ZImageTransformerState: Sendable {
    /// `[S, dim]` f32: the item's image tokens (padded to a multiple of 32), then its caption tokens
    /// (likewise). Joint blocks read and replace it; a cache may store or substitute it.
    public var hidden: Tensor
    let rope: (cos: Tensor, sin: Tensor)
    /// The timestep embedding `[1, adaLNEmbedDim]` that modulates every joint block.
    public let adaLN: Tensor
    let latentShape: [Int]
    let imageTokens: Int
    let patchSize: Int
    let framePatchSize: Int
}

/// Why the transformer cannot run on its inputs; the text says what was expected.
public enum ZImageTransformerError: Error, Sendable, Equatable, CustomStringConvertible {
    case batchMismatch(latents: Int, timesteps: Int, captions: Int)
    case unsupportedPatchSize(patchSize: Int, framePatchSize: Int, supported: [String])
    case invalidLatents(shape: [Int], channels: Int, patchSize: Int, framePatchSize: Int)
    case invalidCaption(shape: [Int], featureDim: Int)
    case tooManyPositions(captionTokens: Int, grid: [Int], axesLens: [Int])

    public var description: String {
        switch self {
        case .batchMismatch(let l, let t, let c):
            "Z-Image transformer: one timestep and one caption per latent, got \(l) latents, \(t) timesteps, \(c) captions"
        case .unsupportedPatchSize(let p, let pf, let supported):
            "Z-Image transformer: patch size \(p)-\(pf) has no embedder in this checkpoint (has \(supported.joined(separator: ", ")))"
        case .invalidLatents(let shape, let channels, let p, let pf):
            "Z-Image transformer: latents must be floats [\(channels), frames, height, width] with frames a multiple of \(pf) and height and width multiples of \(p), got \(shape)"
        case .invalidCaption(let shape, let dim):
            "Z-Image transformer: caption features must be floats [tokens >= 1, \(dim)], got \(shape)"
        case .tooManyPositions(let caption, let grid, let lens):
            "Z-Image transformer: \(caption) padded caption tokens and a \(grid) token grid exceed the rotary position range axes_lens \(lens); use a shorter caption or a smaller image"
        }
    }
}
