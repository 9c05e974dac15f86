import OmniTensor
import Testing

/// `softmax`, `rmsNorm`, `layerNorm`, `groupNorm` and `reduce` against torch
/// (Tests/Fixtures/ops/normalization.safetensors).
///
/// Tolerances: softmax elementwise 1e-5 (floor 1e-6·max: probabilities that underflow differ);
/// norms and reductions normwise 1e-5. Rounded to bf16/f16: within 1 ulp of torch's native op,
/// except rmsNorm with a weight: transformers' RMSNorm rounds the normalised value to the input
/// dtype before multiplying by the weight (two roundings against our one), so 2 ulps.
@Suite("normalisation and reductions match torch")
struct NormalizationFixtureTests {
    @Test(arguments: OpFixtures.caseNames("normalization"))
    func matchesTorch(_ name: String) throws {
        let c = try OpCase(family: "normalization", name: name)
        let tolerance: Tolerance = c.op == "softmax" ? .elementwise(1e-5, floor: 1e-6) : .normwise(1e-5)
        let nativeUlps: Double = c.op == "rmsNorm" && c.has("weight") ? 2 : 1
        try c.expectMatchesTorch(try OpRunner.run(c), tolerance, nativeUlps: nativeUlps)
    }
}
