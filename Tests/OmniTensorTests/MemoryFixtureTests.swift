import OmniTensor
import Testing

/// `cast`, `contiguous`, `copy` and `concat` against torch (Tests/Fixtures/ops/memory.safetensors).
///
/// All exact: cast must give torch's bits (round-to-nearest-even, ties, subnormals, overflow to
/// inf, truncation toward zero for integers; any NaN matches any NaN), contiguous and copy must
/// move bits unchanged, and keep the dtype; concat must give the same values.
@Suite("cast, contiguous, copy and concat match torch")
struct MemoryFixtureTests {
    @Test(arguments: OpFixtures.caseNames("memory"))
    func matchesTorch(_ name: String) throws {
        let c = try OpCase(family: "memory", name: name)
        let got = try OpRunner.run(c)
        switch c.op {
        case "concat":
            expectClose(name, got: got, want: try c.expected(), .exact)
        case "contiguous":
            #expect(got.isContiguous, "\(name): contiguous() returned \(got)")
            expectBitExact(name, got: got, want: try c.expected())
        default:
            expectBitExact(name, got: got, want: try c.expected())
        }
    }
}
