import OmniTensor

/// diffusers' `ResnetBlock2D` as VAE decoders use it (no time embedding, output scale 1):
/// `shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x))))))`, with a 1x1 `conv_shortcut` when the
/// channel count changes.
struct ResnetBlock2D: Sendable {
    let norm1: GroupNorm
    let conv1: Conv2d
    let norm2: GroupNorm
    let conv2: Conv2d
    let convShortcut: Conv2d?

    /// Weights under `<prefix>.` (`norm1`, `conv1`, `norm2`, `conv2`, `conv_shortcut`).
    init(_ w: WeightReader<some WeightSource>, prefix p: String, in inChannels: Int, out outChannels: Int, groups: Int, eps: Float) throws {
        norm1 = try w.groupNorm(p + ".norm1", channels: inChannels, groups: groups, eps: eps)
        conv1 = try w.conv2d(p + ".conv1", in: inChannels, out: outChannels, kernel: 3, padding: 1)
        norm2 = try w.groupNorm(p + ".norm2", channels: outChannels, groups: groups, eps: eps)
        conv2 = try w.conv2d(p + ".conv2", in: outChannels, out: outChannels, kernel: 3, padding: 1)
        convShortcut = inChannels == outChannels ? nil
            : try w.conv2d(p + ".conv_shortcut", in: inChannels, out: outChannels, kernel: 1, padding: 0)
    }

    func callAsFunction(_ x: Tensor, _ b: any Backend) -> Tensor {
        var h = conv1(b.silu(norm1(x, b)), b)
        h = conv2(b.silu(norm2(h, b)), b)
        return b.add(convShortcut.map { $0(x, b) } ?? x, h)
    }
}
