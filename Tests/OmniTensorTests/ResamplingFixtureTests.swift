import OmniTensor
import Testing

/// `upsample` (torch `F.interpolate` with `size=`: nearest, linear / bilinear with and without
/// `align_corners`) and `pool` (max / average, `count_include_pad=True`) against torch
/// (Tests/Fixtures/ops/resampling.safetensors).
///
/// Tolerance: normwise 1e-5 (a wrong source index is an O(1) error, so nearest and max are
/// checked as tightly as if exact).
@Suite("upsample and pool match torch")
struct ResamplingFixtureTests {
    @Test(arguments: OpFixtures.caseNames("resampling"))
    func matchesTorch(_ name: String) throws {
        let c = try OpCase(family: "resampling", name: name)
        try c.expectMatchesTorch(try OpRunner.run(c), .normwise(1e-5))
    }
}
