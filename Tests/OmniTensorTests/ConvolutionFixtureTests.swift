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

    /// With a tiny scratch limit, conv2d (and conv1d through it) im2cols a few output rows at a
    /// time: one row (1 byte), or a few with a shorter last band (3000 bytes).
    @Test(arguments: OpFixtures.caseNames("convolution"), [1, 3000])
    func matchesTorchInBandsOfRows(_ name: String, scratchBytes: Int) throws {
        let c = try OpCase(family: "convolution", name: name)
        let banded = CPUBackend(threads: 2, convolutionScratchBytes: scratchBytes)
        let got: Tensor
        switch c.op {
        case "conv2d":
            got = banded.conv2d(try c.input("x"), weight: try c.input("weight"), bias: try c.optionalInput("bias"),
                                stride: try c.pair("stride"), padding: try c.pair("padding"),
                                dilation: try c.pair("dilation"), groups: try c.int("groups"))
        case "conv1d":
            got = banded.conv1d(try c.input("x"), weight: try c.input("weight"), bias: try c.optionalInput("bias"),
                                stride: try c.int("stride"), padding: try c.int("padding"),
                                dilation: try c.int("dilation"), groups: try c.int("groups"))
        default:
            return   // transposed convolutions have no im2col
        }
        expectClose("\(name) in bands (scratch \(scratchBytes) B)", got: got, want: try c.expected(), .normwise(1e-4))
    }
}
