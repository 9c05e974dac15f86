import OmniTensor

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
