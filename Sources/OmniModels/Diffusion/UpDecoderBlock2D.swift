import OmniTensor

/// diffusers' `UpDecoderBlock2D`: resnets, then (except in the last block) `Upsample2D`, a nearest
/// x2 upsample followed by a 3x3 conv (`upsamplers.0.conv`).
struct UpDecoderBlock2D: Sendable {
    let resnets: [ResnetBlock2D]
    let upsampleConv: Conv2d?

    init(_ w: WeightReader<some WeightSource>, prefix p: String, in inChannels: Int, out outChannels: Int, layers: Int,
         upsample: Bool, groups: Int, eps: Float) throws {
        resnets = try (0..<layers).map { i in
            try ResnetBlock2D(w, prefix: "\(p).resnets.\(i)", in: i == 0 ? inChannels : outChannels, out: outChannels,
                              groups: groups, eps: eps)
        }
        upsampleConv = upsample ? try w.conv2d("\(p).upsamplers.0.conv", in: outChannels, out: outChannels, kernel: 3, padding: 1) : nil
    }

    func callAsFunction(_ x: Tensor, _ b: any Backend) -> Tensor {
        var h = x
        for resnet in resnets { h = resnet(h, b) }
        guard let upsampleConv else { return h }
        h = b.upsample(h, size: [h.shape[2] * 2, h.shape[3] * 2], mode: .nearest)
        return upsampleConv(h, b)
    }
}
