/// The 32-bit Mersenne Twister exactly as torch's `at::mt19937` (ATen/core/MT19937RNGEngine.h):
/// seeded with the low 32 bits of the seed by the 2002 `init_genrand` recurrence, tempered output.
/// It is the engine under `torch.Generator("cpu")`, so equal seeds give equal streams.
public struct MT19937: Sendable {
    static let stateSize = 624
    static let shift = 397
    private static let matrixA: UInt32 = 0x9908_B0DF

    /// The seed as given (torch keeps all 64 bits, the state only uses the low 32).
    public let seed: UInt64
    private var state: [UInt32]
    private var next = 0

    public init(seed: UInt64 = 5489) {
        self.seed = seed
        var state = [UInt32](repeating: 0, count: Self.stateSize)
        state[0] = UInt32(truncatingIfNeeded: seed)
        for j in 1..<Self.stateSize {
            let previous = state[j - 1]
            state[j] = 1_812_433_253 &* (previous ^ (previous >> 30)) &+ UInt32(j)
        }
        self.state = state
        // torch starts with `left_ = 1`: the first draw regenerates the whole state.
        next = Self.stateSize
    }

    /// The next tempered 32-bit output (`at::mt19937::operator()`).
    @inline(__always)
    public mutating func next32() -> UInt32 {
        if next == Self.stateSize { regenerate() }
        var y = state[next]
        next += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// Fills `buffer` with consecutive outputs, as `count` calls of `next32()` would.
    public mutating func fill(_ buffer: UnsafeMutableBufferPointer<UInt32>) {
        var i = 0
        while i < buffer.count {
            if next == Self.stateSize { regenerate() }
            let n = min(buffer.count - i, Self.stateSize - next)
            state.withUnsafeBufferPointer { s in
                for k in 0..<n {
                    var y = s[next + k]
                    y ^= y >> 11
                    y ^= (y << 7) & 0x9D2C_5680
                    y ^= (y << 15) & 0xEFC6_0000
                    y ^= y >> 18
                    buffer[i + k] = y
                }
            }
            next += n
            i += n
        }
    }

    private mutating func regenerate() {
        let n = Self.stateSize, m = Self.shift
        state.withUnsafeMutableBufferPointer { s in
            @inline(__always) func twist(_ u: UInt32, _ v: UInt32) -> UInt32 {
                let mixed = (u & 0x8000_0000) | (v & 0x7FFF_FFFF)
                return (mixed >> 1) ^ ((v & 1) != 0 ? MT19937.matrixA : 0)
            }
            for j in 0..<(n - m) { s[j] = s[j + m] ^ twist(s[j], s[j + 1]) }
            for j in (n - m)..<(n - 1) { s[j] = s[j + m - n] ^ twist(s[j], s[j + 1]) }
            s[n - 1] = s[m - 1] ^ twist(s[n - 1], s[0])
        }
        next = 0
    }
}
