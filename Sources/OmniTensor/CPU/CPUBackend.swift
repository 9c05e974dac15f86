import CKernels
import COpenBLAS
import Foundation

/// The CPU backend: OpenBLAS for GEMM, the CKernels C target for hot loops (dispatched at run
/// time to AVX-512, AVX2 or portable C), a `ThreadPool` for data-parallel loops.
///
/// OpenBLAS's thread count is process-wide; the most recently created backend sets it to its own
/// thread count. BLAS is only called outside `parallelFor` bodies, so the pools never overlap.
public final class CPUBackend: Backend {
    public let device: Device = .cpu
    public let pool: ThreadPool
    /// Where this backend's results and scratch buffers come from and go back to: a repeated step
    /// (decode) reuses the blocks of the step before.
    let buffers = BufferPool(capacity: 512 << 20, largestPooled: 64 << 20)
    /// Result and scratch buffers this backend could not take from blocks freed earlier (a
    /// counter; it stops growing once a decode step has run with the same shapes).
    public var freshBufferAllocations: Int { buffers.freshAllocations }
    /// Most bytes a convolution's im2col buffer may take; larger outputs are done in bands of rows.
    public let convolutionScratchBytes: Int
    /// What products over bf16 weights (decode, prefill, the DiT) compute in.
    public let matmulPrecision: MatmulPrecision
    /// The order products over packed weights ran in, for the workers' prefetch between them.
    let lookahead = ProductLookahead()

    /// The precision of GEMMs over bf16 weights.
    public enum MatmulPrecision: String, Sendable, CaseIterable {
        /// f32 activations and sums (the default: results match the f32 reference over the stored
        /// bf16 weights, DESIGN.md §8).
        case float32
        /// Activations rounded to bf16, sums in f32: torch's and ggml's bf16 matmul precision
        /// (about 3 significant digits). By AVX512-BF16 where the CPU has it, at twice the f32
        /// rate; else by AVX2 FMAs on values widened to f32. Batch-invariant on each.
        case bfloat16

        /// `OMNI_MATMUL_PRECISION` (float32 or bfloat16), else float32.
        public static var fromEnvironment: MatmulPrecision {
            ProcessInfo.processInfo.environment["OMNI_MATMUL_PRECISION"].flatMap(MatmulPrecision.init(rawValue:)) ?? .float32
        }
    }

    /// - Parameter threads: threads for data-parallel loops and for BLAS; defaults to the
    ///   physical core count.
    public convenience init(threads: Int = ThreadPool.physicalCores, matmulPrecision: MatmulPrecision = .fromEnvironment) {
        self.init(threads: threads, convolutionScratchBytes: 64 << 20, matmulPrecision: matmulPrecision)
    }

    /// - Parameters:
    ///   - threads: threads for data-parallel loops and for BLAS.
    ///   - convolutionScratchBytes: the im2col buffer limit (one output row is always allowed).
    ///   - matmulPrecision: what GEMMs over bf16 weights compute in.
    public init(threads: Int, convolutionScratchBytes: Int, matmulPrecision: MatmulPrecision = .fromEnvironment) {
        pool = ThreadPool(threads: threads)
        self.convolutionScratchBytes = convolutionScratchBytes
        self.matmulPrecision = matmulPrecision
        openblas_set_num_threads(Int32(threads))
        _ = Self.allocatorTuned
    }

    /// Activations up to 256 MB are recycled through the heap rather than mapped, faulted in and
    /// unmapped on every step (measured: page faults and page clearing were 5% of a batched run).
    private static let allocatorTuned: Bool = {
        omni_keep_freed_memory(256 << 20)
        return true
    }()

    /// The instruction-set level the kernels run at (`portable`, `avx2`, `avx512`).
    public static var activeISA: String { isaName(Int(omni_isa_active())) }
    public static var detectedISA: String { isaName(Int(omni_isa_detected())) }

    static func isaName(_ level: Int) -> String {
        switch level {
        case Int(OMNI_ISA_AVX512.rawValue): "avx512"
        case Int(OMNI_ISA_AVX2.rawValue): "avx2"
        default: "portable"
        }
    }

    /// A new zero-filled f32 tensor.
    func empty(_ shape: [Int], dtype: DType = .f32) -> Tensor {
        Tensor(storage: Storage(byteCount: shape.reduce(1, *) * dtype.size, pool: buffers), dtype: dtype, shape: shape)
    }

    /// A new tensor whose every element the caller writes (not zero-filled).
    func uninitialized(_ shape: [Int], dtype: DType = .f32) -> Tensor {
        Tensor(storage: scratchBuffer(bytes: shape.reduce(1, *) * dtype.size), dtype: dtype, shape: shape)
    }

    /// `bytes` of scratch, contents unspecified, from `buffers` (kept alive by the caller).
    func scratchBuffer(bytes: Int) -> Storage {
        Storage(uninitializedByteCount: bytes, pool: buffers)
    }

    /// `x` as contiguous f32 (no copy when it already is).
    func f32(_ x: Tensor) -> Tensor {
        if x.dtype == .f32 { return contiguous(x) }
        return cast(x, to: .f32)
    }

    // MARK: - Memory and dtype

    public func contiguous(_ x: Tensor) -> Tensor {
        if x.isContiguous { return x }
        let out = uninitialized(x.shape, dtype: x.dtype)
        stridedCopy(from: x, to: out)
        return out
    }

    public func cast(_ x: Tensor, to dtype: DType) -> Tensor {
        let src = contiguous(x)
        if src.dtype == dtype { return src === x ? copyOf(src) : src }
        let n = x.count
        let floats = [DType.f32, .bf16, .f16]
        let out = floats.contains(src.dtype) && floats.contains(dtype) ? uninitialized(x.shape, dtype: dtype) : empty(x.shape, dtype: dtype)
        switch (src.dtype, dtype) {
        case (.f32, .bf16), (.f32, .f16), (.bf16, .f32), (.f16, .f32):
            convertFloats(src.rawPointer, src.dtype, out.rawPointer, dtype, n)
        case (.bf16, .f16), (.f16, .bf16):
            let tmp = empty(x.shape)
            convertFloats(src.rawPointer, src.dtype, tmp.rawPointer, .f32, n)
            convertFloats(tmp.rawPointer, .f32, out.rawPointer, dtype, n)
        default:
            // Integer <-> anything: through Double, element by element (never on a hot path).
            let values = src.dtype.isFloatingPoint ? src.toFloats().map(Double.init) : src.toInts().map(Double.init)
            store(values, into: out)
        }
        return out
    }

    public func copy(_ source: Tensor, into destination: Tensor) {
        var src = source.shape == destination.shape ? source : source.expanded(to: destination.shape)
        if src.dtype != destination.dtype { src = cast(src, to: destination.dtype) }
        stridedCopy(from: src, to: destination)
    }

    // MARK: - Helpers

    private func copyOf(_ x: Tensor) -> Tensor {
        let out = uninitialized(x.shape, dtype: x.dtype)
        out.rawPointer.copyMemory(from: x.rawPointer, byteCount: x.count * x.dtype.size)
        return out
    }

    private func convertFloats(_ src: UnsafeMutableRawPointer, _ from: DType, _ dst: UnsafeMutableRawPointer, _ to: DType, _ n: Int) {
        pool.parallelFor(n, grain: 1 << 16) { r in
            let s = src + r.lowerBound * from.size, d = dst + r.lowerBound * to.size
            switch (from, to) {
            case (.f32, .bf16): omni_f32_to_bf16(s.assumingMemoryBound(to: Float.self), d.assumingMemoryBound(to: UInt16.self), r.count)
            case (.f32, .f16): omni_f32_to_f16(s.assumingMemoryBound(to: Float.self), d.assumingMemoryBound(to: UInt16.self), r.count)
            case (.bf16, .f32): omni_bf16_to_f32(s.assumingMemoryBound(to: UInt16.self), d.assumingMemoryBound(to: Float.self), r.count)
            case (.f16, .f32): omni_f16_to_f32(s.assumingMemoryBound(to: UInt16.self), d.assumingMemoryBound(to: Float.self), r.count)
            default: preconditionFailure("convertFloats \(from) -> \(to)")
            }
        }
    }

    private func store(_ values: [Double], into out: Tensor) {
        let p = out.rawPointer
        for (i, v) in values.enumerated() {
            switch out.dtype {
            case .f32: p.storeBytes(of: Float(v), toByteOffset: i * 4, as: Float.self)
            case .bf16: p.storeBytes(of: HalfConversion.bf16Bits(Float(v)), toByteOffset: i * 2, as: UInt16.self)
            case .f16: p.storeBytes(of: HalfConversion.f16Bits(Float(v)), toByteOffset: i * 2, as: UInt16.self)
            case .i32: p.storeBytes(of: Int32(clamping: Int(v.rounded(.towardZero))), toByteOffset: i * 4, as: Int32.self)
            case .i64: p.storeBytes(of: Int64(v.rounded(.towardZero)), toByteOffset: i * 8, as: Int64.self)
            case .u8: p.storeBytes(of: UInt8(truncatingIfNeeded: Int(v.rounded(.towardZero))), toByteOffset: i, as: UInt8.self)
            }
        }
    }

    /// Copies elements between two views of the same dtype and shape, row by row.
    func stridedCopy(from src: Tensor, to dst: Tensor) {
        precondition(src.dtype == dst.dtype && src.shape == dst.shape, "stridedCopy \(src) -> \(dst)")
        if src.count == 0 { return }
        let es = src.dtype.size
        if src.isContiguous && dst.isContiguous {
            dst.rawPointer.copyMemory(from: src.rawPointer, byteCount: src.count * es)
            return
        }
        let inner = src.shape.last ?? 1
        let ss = src.strides.last ?? 1, ds = dst.strides.last ?? 1
        let sBase = src.storage.pointer, dBase = dst.storage.pointer
        forEachRow(src.shape, src.strides, src.offset, dst.strides, dst.offset) { so, d0 in
            if ss == 1 && ds == 1 {
                (dBase + d0 * es).copyMemory(from: sBase + so * es, byteCount: inner * es)
            } else {
                for i in 0..<inner {
                    (dBase + (d0 + i * ds) * es).copyMemory(from: sBase + (so + i * ss) * es, byteCount: es)
                }
            }
        }
    }
}

/// Calls `body(offsetA, offsetB)` with the starting storage offsets of every innermost row of two
/// views that share `shape` (the last dimension is the row).
@inline(__always)
func forEachRow(_ shape: [Int], _ stridesA: [Int], _ offsetA: Int, _ stridesB: [Int], _ offsetB: Int,
                _ body: (Int, Int) -> Void) {
    let outerRank = shape.count - 1
    if outerRank <= 0 { body(offsetA, offsetB); return }
    let rows = shape[0..<outerRank].reduce(1, *)
    if rows == 0 { return }
    var index = [Int](repeating: 0, count: outerRank)
    var a = offsetA, b = offsetB
    for _ in 0..<rows {
        body(a, b)
        var d = outerRank - 1
        while d >= 0 {
            index[d] += 1
            a += stridesA[d]
            b += stridesB[d]
            if index[d] < shape[d] { break }
            a -= stridesA[d] * shape[d]
            b -= stridesB[d] * shape[d]
            index[d] = 0
            d -= 1
        }
    }
}

/// Row starting offsets of a view (all but the last dimension), in row-major order.
func rowOffsets(_ t: Tensor) -> [Int] {
    var out = [Int]()
    out.reserveCapacity(t.rank > 1 ? t.shape.dropLast().reduce(1, *) : 1)
    forEachRow(t.shape, t.strides, t.offset, t.strides, t.offset) { a, _ in out.append(a) }
    return out
}

extension Tensor {
    /// Whether two tensors are the same view of the same storage.
    static func === (lhs: Tensor, rhs: Tensor) -> Bool {
        lhs.storage === rhs.storage && lhs.offset == rhs.offset && lhs.shape == rhs.shape && lhs.strides == rhs.strides
    }
}
