import OmniTensor

/// `y = x W^T + b`, with W kept in the checkpoint's dtype.
public struct Linear: Sendable {
    public let weight: Tensor
    public let bias: Tensor?

    public init(weight: Tensor, bias: Tensor? = nil) {
        self.weight = weight
        self.bias = bias
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    public func callAsFunction(_ x: Tensor, _ backend: any Backend) -> Tensor {
        backend.linear(x, weight: weight, bias: bias)
    }
}

/// RMSNorm as HF's Qwen/Llama write it: `w * (x / sqrt(mean(x^2) + eps))`, computed in f32.
public struct RMSNorm: Sendable {
    public let weight: Tensor
    public let eps: Float

    public init(weight: Tensor, eps: Float) {
        self.weight = weight
        self.eps = eps
    }

    public func callAsFunction(_ x: Tensor, _ backend: any Backend) -> Tensor {
        backend.rmsNorm(x, weight: weight, eps: eps)
    }
}
