import OmniTensor

/// A 2-D convolution as torch's `nn.Conv2d` (square stride and padding, no dilation or groups:
/// what the diffusion models' convs use), with the weight `[out, in, kH, kW]` kept in the
/// checkpoint's dtype.
public struct Conv2d: Sendable {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Int
    public let padding: Int

    public init(weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0) {
        precondition(weight.rank == 4, "Conv2d weight must be [out, in, kH, kW], got \(weight.shape)")
        self.weight = weight
        self.bias = bias
        self.stride = stride
        self.padding = padding
    }

    public var inChannels: Int { weight.shape[1] }
    public var outChannels: Int { weight.shape[0] }

    public func callAsFunction(_ x: Tensor, _ backend: any Backend) -> Tensor {
        backend.conv2d(x, weight: weight, bias: bias, stride: (stride, stride), padding: (padding, padding),
                       dilation: (1, 1), groups: 1)
    }
}

extension WeightReader {
    /// `<prefix>.weight [out, in, k, k]` and `<prefix>.bias [out]`.
    func conv2d(_ prefix: String, in inChannels: Int, out outChannels: Int, kernel: Int, padding: Int) throws -> Conv2d {
        Conv2d(weight: try tensor(prefix + ".weight", shape: [outChannels, inChannels, kernel, kernel]),
               bias: try tensor(prefix + ".bias", shape: [outChannels]), padding: padding)
    }
}
