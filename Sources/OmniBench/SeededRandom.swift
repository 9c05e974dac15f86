/// SplitMix64: a small seeded generator, so a benchmark's prompts, lengths and arrival times are
/// the same in every run with the same `--seed` (and on every platform).
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform double in [0, 1) from the top 53 bits.
    public mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// `count` token ids drawn uniformly from [0, upperBound), as nano-vllm's and vLLM's random
    /// prompts are.
    public mutating func tokenIds(count: Int, upperBound: Int) -> [Int] {
        (0..<count).map { _ in Int(next() % UInt64(upperBound)) }
    }
}
