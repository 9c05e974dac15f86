import OmniTensor
import Testing

/// `rope` and `embedding` against torch (Tests/Fixtures/ops/positional.safetensors): rope
/// halfSplit is transformers' `apply_rotary_pos_emb` (`rotate_half`), interleaved is the
/// `view_as_complex` form of Flux / Z-Image; partial rotary rotates the first R features.
///
/// Tolerances: rope normwise 1e-5 (each output is x·cos ∓ y·sin, a cancellation); embedding is
/// a row copy, so exact. Rounded to bf16: within 2 ulps normwise of transformers' bf16
/// arithmetic (cos/sin rounded to bf16, products and sum rounded: three roundings against one).
@Suite("rope and embedding match torch")
struct PositionalFixtureTests {
    @Test(arguments: OpFixtures.caseNames("positional"))
    func matchesTorch(_ name: String) throws {
        let c = try OpCase(family: "positional", name: name)
        let tolerance: Tolerance = c.op == "embedding" ? .exact : .normwise(1e-5)
        try c.expectMatchesTorch(try OpRunner.run(c), tolerance, nativeUlps: 2, nativeFloor: 1)
    }
}
