import OmniTensor
import Testing

/// `conv1d`, `conv2d`, `convTranspose1d` and `convTranspose2d` against torch
/// (Tests/Fixtures/ops/convolution.safetensors).
///
/// Tolerances: normwise 1e-4; rounded to bf16/f16, within 1 ulp (elementwise, floor 1e-3·max)
/// of torch's native bf16/f16 convolution.
@Suite("convolutions match torch")
struct ConvolutionFixtureTests {
    @Test(arguments: OpFixtures.caseNames("convolution"))
    func matchesTorch(_ name: String) throws {
        let c = try OpCase(family: "convolution", name: name)
        try c.expectMatchesTorch(try OpRunner.run(c), .normwise(1e-4), nativeUlps: 1)
    }
}
