import OmniTensor
import Testing

/// `matmul` and `linear` against torch (Tests/Fixtures/ops/matmul.safetensors).
///
/// Tolerances: normwise 1e-4 against torch in f32 over the same inputs (bf16/f16 weights upcast);
/// rounded to bf16/f16, within 1 ulp (elementwise, floor 1e-3·max) of torch's native bf16/f16 op,
/// which also accumulates in f32 and rounds once.
@Suite("matmul and linear match torch")
struct MatmulFixtureTests {
    @Test(arguments: OpFixtures.caseNames("matmul"))
    func matchesTorch(_ name: String) throws {
        let c = try OpCase(family: "matmul", name: name)
        try c.expectMatchesTorch(try OpRunner.run(c), .normwise(1e-4), nativeUlps: 1)
    }
}
