/// Views: new shapes and strides over the same storage, never a copy. An operation that would
/// need a copy (reshaping a non-contiguous view) says so; call `Backend.contiguous` first.
extension Tensor {
    /// Same elements, new shape; one dimension may be -1. Requires a view reshape can express.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var dims = newShape
        if let inferred = dims.firstIndex(of: -1) {
            let known = dims.enumerated().filter { $0.offset != inferred }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            dims[inferred] = count / known
        }
        precondition(dims.reduce(1, *) == count, "cannot reshape \(shape) (\(count) elements) to \(newShape)")
        if isContiguous {
            return Tensor(storage: storage, dtype: dtype, shape: dims, offset: offset)
        }
        guard let strides = Tensor.viewStrides(oldShape: shape, oldStrides: strides, newShape: dims) else {
            preconditionFailure("reshape of a non-contiguous \(self) to \(dims) needs contiguous() first")
        }
        return Tensor(storage: storage, dtype: dtype, shape: dims, strides: strides, offset: offset)
    }

    /// Whether `reshaped(_:)` can return a view for this shape.
    public func canView(as newShape: [Int]) -> Bool {
        isContiguous || Tensor.viewStrides(oldShape: shape, oldStrides: strides, newShape: newShape) != nil
    }

    /// Dimensions reordered: result dim i is this tensor's dim `order[i]`.
    public func permuted(_ order: [Int]) -> Tensor {
        precondition(order.count == rank && Set(order.map(axis)).count == rank, "bad permutation \(order) for rank \(rank)")
        let o = order.map(axis)
        return Tensor(storage: storage, dtype: dtype, shape: o.map { shape[$0] }, strides: o.map { strides[$0] }, offset: offset)
    }

    public func transposed(_ a: Int, _ b: Int) -> Tensor {
        var order = Array(0..<rank)
        order.swapAt(axis(a), axis(b))
        return permuted(order)
    }

    /// Elements `range` (stepping by `step`) along `dim`.
    public func sliced(dim: Int, _ range: Range<Int>, step: Int = 1) -> Tensor {
        let d = axis(dim)
        precondition(step >= 1, "slice step must be positive")
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[d], "slice \(range) out of bounds for size \(shape[d])")
        var newShape = shape, newStrides = strides
        newShape[d] = (range.count + step - 1) / step
        newStrides[d] = strides[d] * step
        return Tensor(storage: storage, dtype: dtype, shape: newShape, strides: newStrides,
                      offset: offset + range.lowerBound * strides[d])
    }

    /// The sub-tensor at `index` along `dim`, with that dimension removed.
    public func selecting(dim: Int, index: Int) -> Tensor {
        let d = axis(dim)
        precondition(index >= 0 && index < shape[d], "index \(index) out of bounds for size \(shape[d])")
        var newShape = shape, newStrides = strides
        newShape.remove(at: d)
        newStrides.remove(at: d)
        return Tensor(storage: storage, dtype: dtype, shape: newShape, strides: newStrides, offset: offset + index * strides[d])
    }

    /// Splits along `dim` into pieces of the given sizes (views).
    public func split(sizes: [Int], dim: Int) -> [Tensor] {
        let d = axis(dim)
        precondition(sizes.reduce(0, +) == shape[d], "split sizes \(sizes) do not add up to \(shape[d])")
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return sliced(dim: d, start..<(start + size))
        }
    }

    /// `parts` equal pieces along `dim` (views).
    public func chunked(_ parts: Int, dim: Int) -> [Tensor] {
        let d = axis(dim)
        precondition(shape[d] % parts == 0, "cannot chunk size \(shape[d]) into \(parts)")
        return split(sizes: Array(repeating: shape[d] / parts, count: parts), dim: d)
    }

    public func unsqueezed(_ dim: Int) -> Tensor {
        let d = dim < 0 ? dim + rank + 1 : dim
        precondition(d >= 0 && d <= rank, "unsqueeze dimension \(dim) out of range")
        var newShape = shape, newStrides = strides
        newShape.insert(1, at: d)
        newStrides.insert(d < rank ? strides[d] * shape[d] : 1, at: d)
        return Tensor(storage: storage, dtype: dtype, shape: newShape, strides: newStrides, offset: offset)
    }

    public func squeezed(_ dim: Int) -> Tensor {
        let d = axis(dim)
        precondition(shape[d] == 1, "cannot squeeze dimension \(dim) of size \(shape[d])")
        var newShape = shape, newStrides = strides
        newShape.remove(at: d)
        newStrides.remove(at: d)
        return Tensor(storage: storage, dtype: dtype, shape: newShape, strides: newStrides, offset: offset)
    }

    /// Broadcast view to `target` (size-1 or missing leading dimensions get stride 0).
    public func expanded(to target: [Int]) -> Tensor {
        precondition(target.count >= rank, "cannot expand \(shape) to \(target)")
        let lead = target.count - rank
        var newStrides = [Int](repeating: 0, count: target.count)
        for d in 0..<target.count {
            if d < lead { continue }
            let s = shape[d - lead]
            if s == target[d] { newStrides[d] = strides[d - lead] } else {
                precondition(s == 1, "cannot expand \(shape) to \(target)")
            }
        }
        return Tensor(storage: storage, dtype: dtype, shape: target, strides: newStrides, offset: offset)
    }

    /// The broadcast shape of two shapes (numpy rules), or nil when they are incompatible.
    public static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
        let n = max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let x = i < n - a.count ? 1 : a[i - (n - a.count)]
            let y = i < n - b.count ? 1 : b[i - (n - b.count)]
            if x == y || y == 1 { out[i] = x } else if x == 1 { out[i] = y } else { return nil }
        }
        return out
    }

    /// Strides that present `oldShape`/`oldStrides` as `newShape` without copying, if any exist
    /// (the rule torch's `view` uses: each new dimension must lie within one run of old
    /// dimensions that are contiguous with one another).
    static func viewStrides(oldShape: [Int], oldStrides: [Int], newShape: [Int]) -> [Int]? {
        if oldShape.reduce(1, *) == 0 { return contiguousStrides(for: newShape) }
        var newStrides = [Int](repeating: 0, count: newShape.count)
        var viewD = newShape.count - 1
        var chunkBase = oldStrides.last ?? 1
        var tensorNumel = 1, viewNumel = 1
        var tensorD = oldShape.count - 1
        while tensorD >= 0 {
            tensorNumel *= oldShape[tensorD]
            if tensorD == 0 || (oldShape[tensorD - 1] != 1 && oldStrides[tensorD - 1] != tensorNumel * chunkBase) {
                while viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] == 1) {
                    newStrides[viewD] = viewNumel * chunkBase
                    viewNumel *= newShape[viewD]
                    viewD -= 1
                }
                if viewNumel != tensorNumel { return nil }
                if tensorD > 0 {
                    chunkBase = oldStrides[tensorD - 1]
                    tensorNumel = 1
                    viewNumel = 1
                }
            }
            tensorD -= 1
        }
        return viewD == -1 ? newStrides : nil
    }
}
