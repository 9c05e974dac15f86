import CKernels

/// An n-dimensional view over a `Storage`: shape, strides (in elements) and an element offset.
/// Views (reshape, permute, slice, expand, ...) share storage; compute goes through a `Backend`.
public struct Tensor: Sendable {
    public let storage: Storage
    public let dtype: DType
    public let shape: [Int]
    public let strides: [Int]
    public let offset: Int

    public init(storage: Storage, dtype: DType, shape: [Int], strides: [Int]? = nil, offset: Int = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.storage = storage
        self.dtype = dtype
        self.shape = shape
        self.strides = strides ?? Tensor.contiguousStrides(for: shape)
        self.offset = offset
        precondition(self.strides.count == shape.count, "strides \(self.strides) do not match shape \(shape)")
    }

    /// A new zero-filled contiguous tensor whose pages are zeroed as they are first touched (see
    /// `Storage(lazilyZeroedByteCount:)`): for large buffers filled over time, as a KV cache.
    public init(lazyZeros shape: [Int], dtype: DType = .f32, device: Device = .cpu) {
        let count = shape.reduce(1, *)
        self.init(storage: Storage(lazilyZeroedByteCount: count * dtype.size, device: device), dtype: dtype, shape: shape)
    }

    /// A new zero-filled contiguous tensor.
    public init(zeros shape: [Int], dtype: DType = .f32, device: Device = .cpu) {
        let count = shape.reduce(1, *)
        self.init(storage: Storage(byteCount: count * dtype.size, device: device), dtype: dtype, shape: shape)
    }

    /// A contiguous f32 tensor (or bf16/f16, rounded to nearest even) holding `values`.
    public init(_ values: [Float], shape: [Int], dtype: DType = .f32) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self.init(zeros: shape, dtype: dtype)
        values.withUnsafeBufferPointer { src in
            switch dtype {
            case .f32: storage.pointer.copyMemory(from: src.baseAddress!, byteCount: values.count * 4)
            case .bf16: omni_f32_to_bf16(src.baseAddress, storage.pointer.assumingMemoryBound(to: UInt16.self), values.count)
            case .f16: omni_f32_to_f16(src.baseAddress, storage.pointer.assumingMemoryBound(to: UInt16.self), values.count)
            default: preconditionFailure("Tensor(_: [Float]) needs a floating dtype, got \(dtype)")
            }
        }
    }

    /// A contiguous integer tensor (i32, i64 or u8) holding `values`.
    public init(integers values: [Int], shape: [Int], dtype: DType = .i64) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values for shape \(shape)")
        self.init(zeros: shape, dtype: dtype)
        for (i, v) in values.enumerated() {
            switch dtype {
            case .i64: storage.pointer.storeBytes(of: Int64(v), toByteOffset: i * 8, as: Int64.self)
            case .i32: storage.pointer.storeBytes(of: Int32(v), toByteOffset: i * 4, as: Int32.self)
            case .u8: storage.pointer.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: i, as: UInt8.self)
            default: preconditionFailure("Tensor(integers:) needs an integer dtype, got \(dtype)")
            }
        }
    }

    public var rank: Int { shape.count }
    public var count: Int { shape.reduce(1, *) }
    public var device: Device { storage.device }

    /// Address of the element at `offset` (the first element of the view).
    public var rawPointer: UnsafeMutableRawPointer { storage.pointer + offset * dtype.size }

    /// f32 elements; only valid when `dtype == .f32`.
    public var floatPointer: UnsafeMutablePointer<Float> {
        precondition(dtype == .f32, "floatPointer on a \(dtype) tensor")
        return rawPointer.assumingMemoryBound(to: Float.self)
    }

    /// Whether elements lie in row-major order with no gaps (size-1 dimensions may have any stride).
    public var isContiguous: Bool {
        if shape.contains(0) { return true }
        var expected = 1
        for d in stride(from: rank - 1, through: 0, by: -1) where shape[d] != 1 {
            if strides[d] != expected { return false }
            expected *= shape[d]
        }
        return true
    }

    public static func contiguousStrides(for shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[d] = acc
            acc *= max(shape[d], 1)
        }
        return strides
    }

    /// Resolves a possibly negative dimension index.
    public func axis(_ dim: Int) -> Int {
        let d = dim < 0 ? dim + rank : dim
        precondition(d >= 0 && d < rank, "dimension \(dim) out of range for rank \(rank)")
        return d
    }

    /// Storage element offsets of every element, in logical (row-major) order.
    public func elementOffsets() -> [Int] {
        var result = [Int]()
        result.reserveCapacity(count)
        forEachOffset { result.append($0) }
        return result
    }

    /// Calls `body` with the storage offset of every element in row-major order.
    @inline(__always)
    public func forEachOffset(_ body: (Int) -> Void) {
        let n = count
        if n == 0 { return }
        if rank == 0 { body(offset); return }
        var index = [Int](repeating: 0, count: rank)
        var position = offset
        let last = rank - 1
        let lastStride = strides[last], lastSize = shape[last]
        var done = 0
        while done < n {
            var p = position
            for _ in 0..<lastSize { body(p); p += lastStride }
            done += lastSize
            var d = last - 1
            while d >= 0 {
                index[d] += 1
                position += strides[d]
                if index[d] < shape[d] { break }
                position -= strides[d] * shape[d]
                index[d] = 0
                d -= 1
            }
            if d < 0 { break }
        }
    }

    /// All elements as Float, in logical order, whatever the dtype.
    public func toFloats() -> [Float] {
        if isContiguous && dtype.isFloatingPoint && count > 0 {
            // One copy or conversion pass (the engine reads a logits row per sequence per step).
            return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                omni_to_f32(rawPointer, dtype.kernelCode, buffer.baseAddress!, count)
                initialized = count
            }
        }
        var out = [Float](repeating: 0, count: count)
        let base = storage.pointer
        var i = 0
        switch dtype {
        case .f32:
            let p = base.assumingMemoryBound(to: Float.self)
            forEachOffset { out[i] = p[$0]; i += 1 }
        case .bf16:
            let p = base.assumingMemoryBound(to: UInt16.self)
            forEachOffset { out[i] = HalfConversion.float(bf16Bits: p[$0]); i += 1 }
        case .f16:
            let p = base.assumingMemoryBound(to: UInt16.self)
            forEachOffset { out[i] = HalfConversion.float(f16Bits: p[$0]); i += 1 }
        case .i32:
            let p = base.assumingMemoryBound(to: Int32.self)
            forEachOffset { out[i] = Float(p[$0]); i += 1 }
        case .i64:
            let p = base.assumingMemoryBound(to: Int64.self)
            forEachOffset { out[i] = Float(p[$0]); i += 1 }
        case .u8:
            let p = base.assumingMemoryBound(to: UInt8.self)
            forEachOffset { out[i] = Float(p[$0]); i += 1 }
        }
        return out
    }

    /// All elements as Int, in logical order; floats are truncated toward zero.
    public func toInts() -> [Int] {
        var out = [Int]()
        out.reserveCapacity(count)
        let base = storage.pointer
        switch dtype {
        case .i32: forEachOffset { out.append(Int(base.load(fromByteOffset: $0 * 4, as: Int32.self))) }
        case .i64: forEachOffset { out.append(Int(base.load(fromByteOffset: $0 * 8, as: Int64.self))) }
        case .u8: forEachOffset { out.append(Int(base.load(fromByteOffset: $0, as: UInt8.self))) }
        default: return toFloats().map { Int($0) }
        }
        return out
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String { "Tensor(\(dtype), shape: \(shape), strides: \(strides), offset: \(offset))" }
}
