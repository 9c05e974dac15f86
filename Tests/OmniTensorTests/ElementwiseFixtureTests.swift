import OmniTensor
import Testing

/// `binary` and `unary` against torch (Tests/Fixtures/ops/elementwise.safetensors).
///
/// Tolerances, elementwise relative: 1e-5 for every op. add/sub/mul/div/max/min are correctly
/// rounded in both libraries and should be exact; pow and the transcendentals come from different
/// libms (glibc here, SLEEF in torch), a few ulps apart. The floor (below which elements are
/// compared absolutely, as a fraction of max|want|) is 0 except where the op's value is a
/// cancellation: sin/cos near their zeros (1e-6), and gelu's negative tail, `1 + erf(x/√2)` (or
/// `1 + tanh`) of a value near -1, where an f32 implementation carries an absolute error of
/// ~1e-7·|x| (floor 1e-2). Torch's own f32 gelu is worse there than ours (x = -4.95: true
/// -1.824e-6, torch -2.066e-6, ours -1.771e-6), so the gelu fixtures hold a float64 reference. bf16/f16 results rounded: within 1 ulp of torch's native op,
/// which computes in f32 and rounds once.
@Suite("elementwise ops match torch")
struct ElementwiseFixtureTests {
    static let floors: [String: Double] = ["geluErf": 1e-2, "geluTanh": 1e-2, "sin": 1e-6, "cos": 1e-6]

    @Test(arguments: OpFixtures.caseNames("elementwise"))
    func matchesTorch(_ name: String) throws {
        let c = try OpCase(family: "elementwise", name: name)
        let floor = c.op == "unary" ? Self.floors[try c.string("unary")] ?? 0 : 0
        try c.expectMatchesTorch(try OpRunner.run(c), .elementwise(1e-5, floor: floor), nativeUlps: 1)
    }
}
