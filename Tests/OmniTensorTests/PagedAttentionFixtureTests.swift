import OmniTensor
import Testing

/// `writeKV` + `pagedAttention` against torch SDPA run per sequence with bottom-right causal
/// masking (Tests/Fixtures/ops/paged.safetensors): decode, prefill and chunked prefill mixed in
/// one batch, scattered block tables, GQA.
///
/// Tolerance: normwise 1e-4, as `attention`.
@Suite("paged attention matches torch SDPA")
struct PagedAttentionFixtureTests {
    @Test(arguments: OpFixtures.caseNames("paged"))
    func matchesTorch(_ name: String) throws {
        let c = try OpCase(family: "paged", name: name)
        try c.expectMatchesTorch(try OpRunner.run(c), .normwise(1e-4))
    }
}
