import Foundation
@testable import OmniModels
import OmniTensor
import OmniWeights
import Testing

/// A tiny random diffusers ZImageTransformer2DModel made by tools/reference/make_zimage_fixtures.py
/// (bf16 weights, as Z-Image ships them) and diffusers' outputs for it (transformer_reference.safetensors),
/// computed in f32 over the bf16-valued weights (DESIGN.md §8).
///
/// Tolerances, as max |got - want| / max |want| over the tensor (normwise): 1e-4 for the model's
/// output and every module's output on the way. Both sides compute in f32 over the same weights, so
/// the differences are summation order and libm's cos/sin/exp against torch's. The same fixture runs
/// twice: with the bf16 weights read in place, and with them widened to f32 when loaded (the f32
/// weight path; the values, hence the reference, are the same).
private let fixtureRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures/zimage").standardized
private let backend = CPUBackend(threads: 2)
private let tolerance: Float = 1e-4

/// The checkpoint's tensors widened to f32 as they are read.
private struct WidenedToF32: WeightSource {
    let checkpoint: Checkpoint
    func contains(_ name: String) -> Bool { checkpoint.contains(name) }
    func tensor(_ name: String) throws -> Tensor { backend.cast(try checkpoint.tensor(name), to: .f32) }
    func location(of name: String) -> String { checkpoint.location(of: name) }
}

enum ZImageFixtureWeights: String, CaseIterable, Sendable { case bf16, f32 }

private struct Fixture {
    let model: ZImageTransformer
    let reference: SafeTensorsFile

    init(_ dtype: ZImageFixtureWeights) throws {
        let dir = fixtureRoot.appendingPathComponent("transformer")
        let config = try ZImageTransformerConfig(ConfigObject(contentsOf: dir.appendingPathComponent("config.json")))
        let checkpoint = try Checkpoint(directory: dir)
        switch dtype {
        case .bf16: model = try ZImageTransformer(config: config, weights: checkpoint, backend: backend)
        case .f32: model = try ZImageTransformer(config: config, weights: WidenedToF32(checkpoint: checkpoint), backend: backend)
        }
        #expect(model.layers[0].toQ.weight.dtype == (dtype == .bf16 ? .bf16 : .f32))
        reference = try SafeTensorsFile(url: fixtureRoot.appendingPathComponent("transformer_reference.safetensors"))
    }

    func tensor(_ name: String) throws -> Tensor { try reference.tensor(name) }

    /// Compares and prints one line per tensor, llm.c style.
    func check(_ label: String, _ got: Tensor, _ wantName: String) throws {
        expectParity(label, got, try tensor(wantName), tolerance: tolerance, reference: "diffusers")
    }
}

@Suite struct ZImageTransformerParityTests {
    @Test(arguments: ZImageFixtureWeights.allCases)
    func outputMatchesDiffusers(dtype: ZImageFixtureWeights) throws {
        let f = try Fixture(dtype)
        let out = try f.model(latents: [try f.tensor("single_latents_0")], timesteps: try f.tensor("single_t").toFloats(),
                              captions: [try f.tensor("single_caption_0")])
        #expect(out.count == 1)
        try f.check("\(dtype) single_output_0", out[0], "single_output_0")
    }

    @Test(arguments: ZImageFixtureWeights.allCases)
    func everyModuleMatchesDiffusers(dtype: ZImageFixtureWeights) throws {
        let f = try Fixture(dtype)
        var seen = [String: Tensor]()
        _ = try f.model.forward(try f.tensor("single_latents_0"), timestep: try f.tensor("single_t").toFloats()[0],
                                caption: try f.tensor("single_caption_0"), patchSize: 2, framePatchSize: 1) { seen[$0] = $1 }
        let expected = f.reference.names.filter { $0.hasPrefix("block_") }.map { String($0.dropFirst("block_".count)) }
        #expect(Set(seen.keys) == Set(expected), "modules observed \(seen.keys.sorted()), diffusers \(expected.sorted())")
        for module in expected.sorted() {
            guard let got = seen[module] else { continue }
            try f.check("\(dtype) \(module)", got, "block_" + module)
        }
    }

    /// Items of different latent sizes, caption lengths and timesteps: diffusers pads them to one
    /// length and masks the padding; each output must be what diffusers gives that item in the batch.
    @Test(arguments: ZImageFixtureWeights.allCases)
    func batchWithDifferentCaptionLengthsMatchesDiffusers(dtype: ZImageFixtureWeights) throws {
        let f = try Fixture(dtype)
        let out = try f.model(latents: [try f.tensor("batch_latents_0"), try f.tensor("batch_latents_1")],
                              timesteps: try f.tensor("batch_t").toFloats(),
                              captions: [try f.tensor("batch_caption_0"), try f.tensor("batch_caption_1")])
        #expect(out.count == 2)
        for i in out.indices { try f.check("\(dtype) batch_output_\(i)", out[i], "batch_output_\(i)") }
    }

    /// What a block cache builds on: `prepare`, `applyLayer` per joint block, `finish` give the
    /// whole call's output exactly.
    @Test func stagewiseRunEqualsTheWholeCall() throws {
        let f = try Fixture(.bf16)
        let latents = try f.tensor("single_latents_0"), caption = try f.tensor("single_caption_0")
        let whole = try f.model(latents: [latents], timesteps: [0.37], captions: [caption])[0]
        var state = try f.model.prepare(latents: latents, timestep: 0.37, caption: caption)
        #expect(state.hidden.shape == [64, 32] && f.model.layerCount == 2)
        for i in 0..<f.model.layerCount { f.model.applyLayer(i, to: &state) }
        #expect(f.model.finish(state).toFloats() == whole.toFloats())
    }

    @Test func inputsOfTheWrongShapeAreRejected() throws {
        let f = try Fixture(.bf16)
        let latents = try f.tensor("single_latents_0"), caption = try f.tensor("single_caption_0")
        #expect(throws: ZImageTransformerError.self) {
            try f.model(latents: [latents.sliced(dim: 2, 0..<5)], timesteps: [0.5], captions: [caption])   // odd height
        }
        #expect(throws: ZImageTransformerError.self) {
            try f.model(latents: [latents], timesteps: [0.5], captions: [caption.sliced(dim: 1, 0..<8)])
        }
        #expect(throws: ZImageTransformerError.self) {
            try f.model(latents: [latents], timesteps: [0.5, 0.2], captions: [caption])
        }
        #expect(throws: ZImageTransformerError.self) {
            try f.model(latents: [latents], timesteps: [0.5], captions: [caption], patchSize: 4)
        }
    }
}
