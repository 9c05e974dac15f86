import OmniTensor

/// torch's `nn.GroupNorm` with affine weight and bias, over `[N, C, *]`.
public struct GroupNorm: Sendable {
    public let groups: Int
    public let weight: Tensor
    public let bias: Tensor
    public let eps: Float

    public init(groups: Int, weight: Tensor, bias: Tensor, eps: Float) {
        self.groups = groups
        self.weight = weight
        self.bias = bias
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor, _ backend: any Backend) -> Tensor {
        backend.groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps)
    }
}

extension WeightReader {
    /// `<prefix>.weight [channels]` and `<prefix>.bias [channels]`.
    func groupNorm(_ prefix: String, channels: Int, groups: Int, eps: Float) throws -> GroupNorm {
        GroupNorm(groups: groups, weight: try tensor(prefix + ".weight", shape: [channels]),
                  bias: try tensor(prefix + ".bias", shape: [channels]), eps: eps)
    }
}
