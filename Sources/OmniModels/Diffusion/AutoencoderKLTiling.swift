import OmniTensor

/// Tiled decoding as diffusers' `AutoencoderKL.tiled_decode`: the latents are cut into tiles of
/// `latentTileSize` that start every `latentTileSize·(1 - overlapFactor)` latents, each tile is
/// decoded alone, and each decoded tile is blended into the one above and the one to its left
/// over `sampleTileSize·overlapFactor` pixels before its first `sampleTileSize - blend` rows and
/// columns are kept. Memory then grows with the tile, not the image. The names follow diffusers'
/// attributes `tile_sample_min_size`, `tile_latent_min_size`, `tile_overlap_factor`.
public struct AutoencoderKLTiling: Sendable, Equatable {
    /// Pixels per side of a decoded tile (`tile_sample_min_size`; config.json's `sample_size`).
    public var sampleTileSize: Int
    /// Latents per side of a tile (`tile_latent_min_size`); latents larger than this are tiled.
    public var latentTileSize: Int
    /// Fraction of a tile shared with its neighbour (`tile_overlap_factor`, 0.25).
    public var overlapFactor: Double

    public init(sampleTileSize: Int, latentTileSize: Int, overlapFactor: Double = 0.25) {
        self.sampleTileSize = sampleTileSize
        self.latentTileSize = latentTileSize
        self.overlapFactor = overlapFactor
    }

    /// Latents between the starts of neighbouring tiles (`overlap_size`, rounded down as Python's `int`).
    var latentStride: Int { Int(Double(latentTileSize) * (1 - overlapFactor)) }
    /// Pixels blended across a seam (`blend_extent`).
    var blendExtent: Int { Int(Double(sampleTileSize) * overlapFactor) }
    /// Pixels kept of each tile (`row_limit`).
    var keptSize: Int { sampleTileSize - blendExtent }

    /// Checks that these tiles cover an image exactly for a VAE of `spatialScale` pixels per
    /// latent. diffusers does not check; with, say, 5-latent tiles at overlap 0.25 it returns an
    /// image of the wrong size (its kept 15 pixels per tile overrun the 3-latent stride's 12).
    func validate(spatialScale: Int) throws(AutoencoderKLError) {
        guard latentTileSize >= 1, sampleTileSize >= 1, overlapFactor >= 0, overlapFactor < 1 else {
            throw .invalidTiling(reason: "tile sizes must be at least 1 and the overlap factor in [0, 1); got sample tile \(sampleTileSize), "
                                 + "latent tile \(latentTileSize), overlap \(overlapFactor)")
        }
        guard sampleTileSize == latentTileSize * spatialScale else {
            throw .invalidTiling(reason: "the sample tile (\(sampleTileSize) pixels) must be the latent tile (\(latentTileSize)) "
                                 + "times the VAE's \(spatialScale) pixels per latent")
        }
        guard latentStride >= 1, keptSize == latentStride * spatialScale else {
            throw .invalidTiling(reason: "\(latentTileSize)-latent tiles at overlap \(overlapFactor) start every \(latentStride) latents "
                                 + "(\(latentStride * spatialScale) pixels) but keep \(keptSize) pixels each, so they would not tile the "
                                 + "image; use a latent tile size that is a multiple of \(Self.suggestedMultiple(overlapFactor))")
        }
    }

    /// The smallest tile size for which `overlapFactor` cuts whole latents (4 for 0.25).
    private static func suggestedMultiple(_ factor: Double) -> Int {
        (1...100).first { abs(Double($0) * factor - (Double($0) * factor).rounded()) < 1e-9 } ?? 1
    }
}

extension AutoencoderKL {
    /// diffusers' `tiled_decode`, step for step: tiles in row-major order, each blended in place
    /// with its (already blended) upper and left neighbours, then cropped and assembled.
    func tiledDecode(_ latents: Tensor, tiling: AutoencoderKLTiling) throws(AutoencoderKLError) -> Tensor {
        let scale = spatialScale
        try tiling.validate(spatialScale: scale)
        let b = backend
        let (height, width) = (latents.shape[2], latents.shape[3])
        let tile = tiling.latentTileSize, step = tiling.latentStride, kept = tiling.keptSize
        var rows = [[Tensor]]()
        for top in stride(from: 0, to: height, by: step) {
            rows.append(stride(from: 0, to: width, by: step).map { left in
                let window = latents.sliced(dim: 2, top..<min(top + tile, height)).sliced(dim: 3, left..<min(left + tile, width))
                return decodeInOnePiece(window)
            })
        }
        let batch = latents.shape[0]
        let out = Tensor(zeros: [batch, config.outChannels, height * scale, width * scale])
        var y = 0
        for i in rows.indices {
            var x = 0
            for j in rows[i].indices {
                let decoded = rows[i][j]
                if i > 0 { blend(from: rows[i - 1][j], into: decoded, dim: 2, extent: tiling.blendExtent) }
                if j > 0 { blend(from: rows[i][j - 1], into: decoded, dim: 3, extent: tiling.blendExtent) }
                let keptRows = min(kept, decoded.shape[2]), keptColumns = min(kept, decoded.shape[3])
                let crop = decoded.sliced(dim: 2, 0..<keptRows).sliced(dim: 3, 0..<keptColumns)
                b.copy(crop, into: out.sliced(dim: 2, y..<(y + keptRows)).sliced(dim: 3, x..<(x + keptColumns)))
                x += keptColumns
                if j == rows[i].count - 1 { y += keptRows }
            }
        }
        return out
    }

    /// diffusers' `blend_v` (dim 2) / `blend_h` (dim 3), in place on `tile`: its first `e` rows
    /// (columns) become `previous[-e + k] · (1 - k/e) + tile[k] · (k/e)`, e clamped to both sizes.
    private func blend(from previous: Tensor, into tile: Tensor, dim: Int, extent: Int) {
        let e = min(previous.shape[dim], tile.shape[dim], extent)
        guard e > 0 else { return }
        let b = backend
        var weightShape = [1, 1, 1, 1]
        weightShape[dim] = e
        // Python computes each weight in double; torch multiplies an f32 tensor by it in f32.
        let rising = Tensor((0..<e).map { Float(Double($0) / Double(e)) }, shape: weightShape)
        let falling = Tensor((0..<e).map { Float(1 - Double($0) / Double(e)) }, shape: weightShape)
        let head = tile.sliced(dim: dim, 0..<e)
        let tail = previous.sliced(dim: dim, (previous.shape[dim] - e)..<previous.shape[dim])
        b.copy(b.add(b.mul(tail, falling), b.mul(head, rising)), into: head)
    }
}
