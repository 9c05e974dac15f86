import Foundation
@testable import OmniModels
import OmniTensor
import OmniWeights
import Testing

/// Tiny random diffusers AutoencoderKL checkpoints made by tools/reference/make_vae_fixtures.py,
/// and diffusers' own decoded images for them (reference.safetensors).
///
/// Tolerances, as max |got - want| / max |want| over the tensor (normwise, so near-zero pixels
/// don't inflate it): 1e-4 for decoded images, whole-image and tiled, 1e-5 for each block's
/// output on the way (per-block debugging); the bf16 checkpoint too, since both sides compute in f32 over the same bf16-valued
/// weights (DESIGN.md §8). The arithmetic differs only in summation order (im2col GEMM vs
/// torch's conv, our attention vs SDPA).
private let fixtureRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures/vae").standardized
private let fixtureNames = ["f32-legacy-attn", "f32-zimage-3level", "bf16-noattn-lpb2"]
private let backend = CPUBackend(threads: 2)
private let tolerance: Float = 1e-4

private struct Fixture {
    let vae: AutoencoderKL
    let reference: SafeTensorsFile

    init(_ name: String) throws {
        let dir = fixtureRoot.appendingPathComponent(name)
        vae = try AutoencoderKL(directory: dir, backend: backend)
        reference = try SafeTensorsFile(url: dir.appendingPathComponent("reference.safetensors"))
    }

    func tensor(_ name: String) throws -> Tensor { try reference.tensor(name) }

    /// Compares and prints one line per tensor, llm.c style.
    func check(_ label: String, _ got: Tensor, _ wantName: String, tolerance: Float = tolerance) throws {
        expectParity(label, got, try tensor(wantName), tolerance: tolerance, reference: "diffusers")
    }
}

@Suite struct AutoencoderKLParityTests {
    @Test(arguments: fixtureNames)
    func decodedImagesMatchDiffusers(name: String) throws {
        let f = try Fixture(name)
        var i = 0
        while f.reference.contains("latents_\(i)") {
            try f.check("\(name) decoded_\(i)", try f.vae.decode(try f.tensor("latents_\(i)")), "decoded_\(i)")
            i += 1
        }
        #expect(i > 0, "\(name): no latents in the fixture")
    }

    @Test(arguments: fixtureNames)
    func everyBlockMatchesDiffusers(name: String) throws {
        let f = try Fixture(name)
        var seen = [String: Tensor]()
        _ = f.vae.decodeInOnePiece(try f.tensor("latents_0")) { seen[$0] = $1 }
        let expected = f.reference.names.filter { $0.hasPrefix("block_") }.map { String($0.dropFirst("block_".count)) }
        #expect(Set(seen.keys) == Set(expected), "\(name): blocks observed \(seen.keys.sorted()), diffusers \(expected)")
        for module in expected.sorted() {
            guard let got = seen[module] else { continue }
            try f.check("\(name) \(module)", got, "block_" + module, tolerance: 1e-5)
        }
    }

    /// `decode(unscale(z))` is what the Z-Image / Flux pipelines hand diffusers' VAE:
    /// `vae.decode(latents / scaling_factor + shift_factor)`.
    @Test(arguments: ["f32-legacy-attn", "f32-zimage-3level"])
    func pipelineUnscaleThenDecodeMatchesDiffusers(name: String) throws {
        let f = try Fixture(name)
        let image = try f.vae.decode(f.vae.unscale(try f.tensor("pipeline_latents")))
        try f.check("\(name) pipeline_decoded", image, "pipeline_decoded")
    }

    @Test(arguments: ["f32-legacy-attn", "f32-zimage-3level"])
    func tiledDecodeMatchesDiffusersTiledDecode(name: String) throws {
        let f = try Fixture(name)
        var k = 0
        while f.reference.contains("tiled_latents_\(k)") {
            let options = try JSONSerialization.jsonObject(with: Data(f.reference.metadata["tiled_\(k)"]!.utf8)) as! [String: Any]
            var tiling = f.vae.defaultTiling
            if let size = options["tile_sample_min_size"] as? Int { tiling.sampleTileSize = size }
            if let size = options["tile_latent_min_size"] as? Int { tiling.latentTileSize = size }
            if let factor = options["tile_overlap_factor"] as? Double { tiling.overlapFactor = factor }
            let latents = try f.tensor("tiled_latents_\(k)")
            let tiled = try f.vae.decode(latents, tiling: tiling)
            try f.check("\(name) tiled_decoded_\(k) \(tiling)", tiled, "tiled_decoded_\(k)")
            // The case must exercise the seams: blended tiles differ from a one-piece decode.
            let seams = maxRelativeError(try f.vae.decode(latents), try f.tensor("tiled_decoded_\(k)"))
            #expect(seams > 100 * tolerance, "\(name) tiled case \(k): one-piece decode is as close (\(seams)); tiling not exercised")
            k += 1
        }
        #expect(k > 0, "\(name): no tiled case in the fixture")
    }

    @Test func latentsWithinOneTileDecodeInOnePiece() throws {
        let f = try Fixture("f32-zimage-3level")
        let small = try f.tensor("latents_0").sliced(dim: 2, 0..<4)   // [1, 16, 4, 4]: exactly one default tile
        let tiled = try f.vae.decode(small, tiling: f.vae.defaultTiling).toFloats()
        #expect(tiled == (try f.vae.decode(small)).toFloats())
    }
}
