import Foundation
import OmniTensor

/// Rotary position embedding tables as transformers computes them (`rope_init_fn` + forward):
/// inverse frequencies in f32, `cos/sin(position * inv_freq) * attention_scaling`.
public struct RotaryEmbedding: Sendable {
    public enum Kind: Sendable, Equatable {
        case standard
        case linear(factor: Float)
        case llama3(factor: Float, lowFreqFactor: Float, highFreqFactor: Float, originalMaxPositions: Int)
        case yarn(factor: Float, originalMaxPositions: Int, betaFast: Float, betaSlow: Float,
                  attentionFactor: Float?, mscale: Float?, mscaleAllDim: Float?, truncate: Bool)
    }

    /// Features that rotate (head_dim * partial_rotary_factor).
    public let rotaryDim: Int
    public let inverseFrequencies: [Float]
    public let attentionScaling: Float

    public init(rotaryDim: Int, theta: Double, kind: Kind = .standard) {
        self.rotaryDim = rotaryDim
        let half = rotaryDim / 2
        // base ** (arange(0, dim, 2) / dim), in f32 as torch computes it
        let positionFrequencies = (0..<half).map { i in powf(Float(theta), Float(2 * i) / Float(rotaryDim)) }
        var scaling: Float = 1
        switch kind {
        case .standard:
            inverseFrequencies = positionFrequencies.map { 1 / $0 }
        case .linear(let factor):
            inverseFrequencies = positionFrequencies.map { (1 / $0) / factor }
        case .llama3(let factor, let low, let high, let original):
            let lowWavelen = Float(original) / low, highWavelen = Float(original) / high
            inverseFrequencies = positionFrequencies.map { p in
                let inv = 1 / p
                let wavelen = 2 * Float.pi / inv
                if wavelen > lowWavelen { return inv / factor }
                if wavelen < highWavelen { return inv }
                let smooth = (Float(original) / wavelen - low) / (high - low)
                return (1 - smooth) * (inv / factor) + smooth * inv
            }
        case .yarn(let factor, let original, let betaFast, let betaSlow, let attentionFactor, let mscale, let mscaleAllDim, let truncate):
            func getMscale(_ scale: Float, _ m: Float = 1) -> Float { scale <= 1 ? 1 : 0.1 * m * Foundation.log(scale) + 1 }
            if let attentionFactor {
                scaling = attentionFactor
            } else if let mscale, let mscaleAllDim, mscale != 0, mscaleAllDim != 0 {
                scaling = getMscale(factor, mscale) / getMscale(factor, mscaleAllDim)
            } else {
                scaling = getMscale(factor)
            }
            func correctionDim(_ rotations: Float) -> Double {
                Double(rotaryDim) * Foundation.log(Double(original) / (Double(rotations) * 2 * Double.pi)) / (2 * Foundation.log(theta))
            }
            var low = correctionDim(betaFast), high = correctionDim(betaSlow)
            if truncate { low = low.rounded(.down); high = high.rounded(.up) }
            low = max(low, 0)
            high = min(high, Double(rotaryDim - 1))
            if low == high { high += 0.001 }
            inverseFrequencies = positionFrequencies.enumerated().map { i, p in
                let ramp = min(max((Float(i) - Float(low)) / Float(high - low), 0), 1)
                let extrapolationFactor = 1 - ramp
                let extrapolation = 1 / p, interpolation = 1 / (factor * p)
                return interpolation * (1 - extrapolationFactor) + extrapolation * extrapolationFactor
            }
        }
        attentionScaling = scaling
    }

    /// `cos` and `sin` tables `[positions.count, rotaryDim / 2]` (f32).
    public func tables(positions: [Int32]) -> (cos: Tensor, sin: Tensor) {
        let half = rotaryDim / 2
        var cosValues = [Float](repeating: 0, count: positions.count * half)
        var sinValues = cosValues
        for (row, p) in positions.enumerated() {
            for i in 0..<half {
                let angle = Float(p) * inverseFrequencies[i]
                cosValues[row * half + i] = Foundation.cos(angle) * attentionScaling
                sinValues[row * half + i] = Foundation.sin(angle) * attentionScaling
            }
        }
        return (Tensor(cosValues, shape: [positions.count, half]), Tensor(sinValues, shape: [positions.count, half]))
    }
}
