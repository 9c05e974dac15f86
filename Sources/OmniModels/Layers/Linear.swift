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

/// `y = x [W_0; W_1; ...]^T + b`: projections computed as one, their weights either stacked into one
/// tensor or kept as parts for a backend that multiplies them without stacking
/// (`Backend.multipliesStackedParts`).
public struct StackedLinear: Sendable {
    public let parts: [Tensor]
    public let bias: Tensor?

    public init(parts: [Tensor], bias: Tensor? = nil) {
        precondition(!parts.isEmpty, "StackedLinear needs at least one weight")
        self.parts = parts
        self.bias = bias
    }

    public func callAsFunction(_ x: Tensor, _ backend: any Backend) -> Tensor {
        parts.count == 1 ? backend.linear(x, weight: parts[0], bias: bias) : backend.linear(x, stacked: parts, bias: bias)
    }

    public func prepareForDecode(_ backend: any Backend) {
        if parts.count == 1 { backend.prepareForDecode(linearWeight: parts[0]) } else { backend.prepareForDecode(stackedLinearWeights: parts) }
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
