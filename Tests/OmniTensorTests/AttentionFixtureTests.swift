import OmniTensor
import Testing

/// `attention` against `torch.nn.functional.scaled_dot_product_attention`
/// (Tests/Fixtures/ops/attention.safetensors): causal top-left is `is_causal=True`, bottom-right
/// and causal-plus-mask are compared with the equivalent explicit mask, GQA with `enable_gqa`.
///
/// Tolerances: normwise 1e-4; rounded to bf16/f16, within 2 ulps normwise of torch's native
/// SDPA (which rounds the probabilities to bf16 before multiplying by V).
@Suite("attention matches torch SDPA")
struct AttentionFixtureTests {
    @Test(arguments: OpFixtures.caseNames("attention"))
    func matchesTorch(_ name: String) throws {
        let c = try OpCase(family: "attention", name: name)
        try c.expectMatchesTorch(try OpRunner.run(c), .normwise(1e-4), nativeUlps: 2, nativeFloor: 1)
    }
}
