import CKernels

/// `torch.Generator("cpu")` reproduced bit for bit: the same seed gives the same `torch.randn` and
/// `torch.rand` values, and successive draws advance the state as torch's do, so a seeded request
/// gets exactly the initial latents that diffusers' `randn_tensor` gives for that shape.
///
/// What torch does (ATen/core/MT19937RNGEngine.h, DistributionsHelper.h,
/// TransformationHelper.h, native/cpu/DistributionTemplates.h):
/// - the engine is `MT19937`; a 64-bit draw is two 32-bit draws, the first one high;
/// - a uniform f32 is the low 24 bits of one 32-bit draw times 2^-24, a uniform f64 the low 53 bits
///   of one 64-bit draw times 2^-53;
/// - `randn` of 16 or more elements first fills the whole tensor with uniforms, then turns each block
///   of 16 into normals with Box-Muller over the pairs (i, i+8); when the count is not a multiple
///   of 16 it then draws 16 fresh uniforms and recomputes the last 16 elements from them;
/// - `randn` of fewer than 16 elements draws one f64 normal per element, Box-Muller on two f64
///   uniforms, and keeps the pair's second value in the generator for the next such draw (the
///   16-element path neither reads nor clears it);
/// - bf16 and f16 `randn` computes in f32 and rounds to nearest even, but draws its uniforms block by
///   block (no uniforms for the incomplete last block before the 16 fresh ones), so its tail differs
///   from the f32 tail; `rand` rounds and turns a value that rounded up to 1 into 0, as torch does.
public struct TorchGenerator: Sendable {
    /// The arithmetic of torch's Box-Muller for blocks of 16, which depends on the CPU torch runs on.
    public enum BoxMuller: Sendable, CaseIterable {
        /// torch's AVX2 kernel, used on every x86-64 CPU with AVX2 (AVX-512 ones too, torch
        /// registers no AVX-512 variant): Cephes log and sincos from avx_mathfun.h, with the
        /// multiply-adds that GCC fused in torch's build (read off libtorch_cpu's machine code).
        case avx2
        /// torch's DEFAULT kernel (CPUs without AVX2, aarch64): the C library's `logf`, `cosf` and
        /// `sinf`.
        case libm

        /// The kernel torch picks on this CPU.
        public static var native: BoxMuller {
            omni_isa_detected() >= Int32(OMNI_ISA_AVX2.rawValue) ? .avx2 : .libm
        }
    }

    public private(set) var engine: MT19937
    public let boxMuller: BoxMuller
    /// The second value of the last scalar Box-Muller pair (torch's `next_double_normal_sample`).
    private var cachedNormal: Double?

    /// `torch.Generator("cpu").manual_seed(seed)`.
    public init(seed: UInt64, boxMuller: BoxMuller = .native) {
        engine = MT19937(seed: seed)
        self.boxMuller = boxMuller
    }

    /// The seed given at construction or to the last `manualSeed` (`initial_seed()`).
    public var initialSeed: UInt64 { engine.seed }

    /// `manual_seed(seed)`: a fresh engine and no cached normal.
    public mutating func manualSeed(_ seed: UInt64) {
        engine = MT19937(seed: seed)
        cachedNormal = nil
    }

    /// One 32-bit draw (`CPUGeneratorImpl::random`).
    public mutating func random() -> UInt32 { engine.next32() }

    /// One 64-bit draw from two 32-bit ones, the first one high (`CPUGeneratorImpl::random64`).
    public mutating func random64() -> UInt64 {
        let high = UInt64(engine.next32())
        return high << 32 | UInt64(engine.next32())
    }

    // MARK: Tensors

    /// `torch.randn(shape, generator=g, dtype=dtype)`; `dtype` is f32, bf16 or f16.
    public mutating func randn(_ shape: [Int], dtype: DType = .f32) -> Tensor {
        precondition(dtype.isFloatingPoint, "randn needs a floating dtype, got \(dtype)")
        let count = shape.reduce(1, *)
        return Tensor(normalFill(count: count, uniformsForTheWholeTensor: dtype == .f32), shape: shape, dtype: dtype)
    }

    /// `torch.rand(shape, generator=g, dtype=dtype)`; `dtype` is f32, bf16 or f16.
    public mutating func rand(_ shape: [Int], dtype: DType = .f32) -> Tensor {
        precondition(dtype.isFloatingPoint, "rand needs a floating dtype, got \(dtype)")
        var values = uniformFloats(count: shape.reduce(1, *))
        if dtype != .f32 {
            // torch rounds to the storage type and maps a value that rounded up to 1 back to 0.
            for i in values.indices where Self.rounded(values[i], to: dtype) == 1 { values[i] = 0 }
        }
        return Tensor(values, shape: shape, dtype: dtype)
    }

    // MARK: Flat draws

    /// The values of `torch.randn(count, dtype=torch.float32)`.
    public mutating func normalFloats(count: Int) -> [Float] {
        normalFill(count: count, uniformsForTheWholeTensor: true)
    }

    /// torch's `normal_kernel` in f32 arithmetic. For an f32 tensor it draws uniforms for every
    /// element before the fresh 16 of an incomplete tail; for bf16/f16 only for the whole blocks.
    private mutating func normalFill(count: Int, uniformsForTheWholeTensor: Bool) -> [Float] {
        guard count >= 16 else { return (0..<count).map { _ in Float(nextScalarNormal()) } }
        var data = uniformFloats(count: uniformsForTheWholeTensor ? count : count / 16 * 16)
        if data.count < count { data += [Float](repeating: 0, count: count - data.count) }
        let boxMuller = boxMuller
        data.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            for start in stride(from: 0, through: count - 16, by: 16) {
                BoxMullerBlock.transform(base + start, boxMuller)
            }
            if count % 16 != 0 {
                let tail = base + count - 16
                for i in 0..<16 { tail[i] = nextUniformFloat() }
                BoxMullerBlock.transform(tail, boxMuller)
            }
        }
        return data
    }

    /// The values of `torch.randn(count, dtype=torch.float64)`.
    public mutating func normalDoubles(count: Int) -> [Double] {
        guard count >= 16 else { return (0..<count).map { _ in nextScalarNormal() } }
        var data = uniformDoubles(count: count)
        data.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            for start in stride(from: 0, through: count - 16, by: 16) {
                BoxMullerBlock.transform(base + start)
            }
            if count % 16 != 0 {
                let tail = base + count - 16
                for i in 0..<16 { tail[i] = nextUniformDouble() }
                BoxMullerBlock.transform(tail)
            }
        }
        return data
    }

    /// The values of `torch.rand(count, dtype=torch.float32)`.
    public mutating func uniformFloats(count: Int) -> [Float] {
        var bits = [UInt32](repeating: 0, count: count)
        bits.withUnsafeMutableBufferPointer { engine.fill($0) }
        return bits.map(Self.uniformFloat)
    }

    /// The values of `torch.rand(count, dtype=torch.float64)`.
    public mutating func uniformDoubles(count: Int) -> [Double] {
        (0..<count).map { _ in nextUniformDouble() }
    }

    // MARK: Helpers

    @inline(__always)
    private static func uniformFloat(_ bits: UInt32) -> Float {
        Float(bits & 0xFF_FFFF) * (1 / Float(1 << 24))
    }

    @inline(__always)
    private mutating func nextUniformFloat() -> Float { Self.uniformFloat(engine.next32()) }

    @inline(__always)
    private mutating func nextUniformDouble() -> Double {
        Double(random64() & 0x1F_FFFF_FFFF_FFFF) * (1 / Double(UInt64(1) << 53))
    }

    /// `at::normal_distribution<double>(0, 1)`: a cached second value first, else a new pair.
    private mutating func nextScalarNormal() -> Double {
        if let cached = cachedNormal {
            cachedNormal = nil
            return cached
        }
        let u1 = nextUniformDouble()
        let u2 = nextUniformDouble()
        let (value, next) = BoxMullerBlock.pair(u1, u2)
        cachedNormal = next
        return value
    }

    private static func rounded(_ value: Float, to dtype: DType) -> Float {
        switch dtype {
        case .bf16: HalfConversion.float(bf16Bits: HalfConversion.bf16Bits(value))
        case .f16: HalfConversion.float(f16Bits: HalfConversion.f16Bits(value))
        default: value
        }
    }
}
