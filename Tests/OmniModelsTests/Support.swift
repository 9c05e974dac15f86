import OmniTensor
import Testing

/// max |a - b| / max |b|: normwise, relative to the reference's largest magnitude, so near-zero
/// outputs don't inflate the figure. The one error measure of the model parity tests.
func maxRelativeError(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "comparing \(a.count) values with \(b.count)")
    var diff: Float = 0, scale: Float = 1e-30
    for i in 0..<a.count {
        diff = max(diff, abs(a[i] - b[i]))
        scale = max(scale, abs(b[i]))
    }
    return diff / scale
}

func maxRelativeError(_ got: Tensor, _ want: Tensor) -> Float {
    maxRelativeError(got.toFloats(), want.toFloats())
}

/// Compares `got` with the reference tensor `want`: shape, then max relative error against
/// `tolerance`; prints one llm.c-style line per tensor ("label: OK (max rel 3e-07 <= 0.0001)").
func expectParity(_ label: String, _ got: Tensor, _ want: Tensor, tolerance: Float, reference: String) {
    #expect(got.shape == want.shape, "\(label): shape \(got.shape), \(reference) \(want.shape)")
    guard got.shape == want.shape else { return }
    let err = maxRelativeError(got, want)
    #expect(err <= tolerance, "\(label): max rel err \(err) > \(tolerance)")
    print("\(label): \(err <= tolerance ? "OK" : "FAIL") (max rel \(err) <= \(tolerance))")
}
