import Foundation

/// A small deterministic generator (SplitMix64) for test data, so failures reproduce.
struct SeededRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    mutating func uniform(_ count: Int, in range: ClosedRange<Float>) -> [Float] {
        (0..<count).map { _ in range.lowerBound + Float(unit()) * (range.upperBound - range.lowerBound) }
    }

    /// Standard normal values (Box-Muller) times `scale`.
    mutating func normal(_ count: Int, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in
            let u = max(unit(), 0x1p-53), v = unit()
            return Float((-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * Double.pi * v)) * scale
        }
    }

    /// Values of random sign spread over `decades` orders of magnitude either side of 1.
    mutating func wide(_ count: Int, decades: Double) -> [Float] {
        (0..<count).map { _ in
            let magnitude = Foundation.exp((unit() * 2 - 1) * decades * 2.302585092994046)
            return Float(next() & 1 == 0 ? magnitude : -magnitude)
        }
    }
}
