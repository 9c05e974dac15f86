import CKernels

extension CPUBackend {
    public func rope(_ x: Tensor, cos: Tensor, sin: Tensor, layout: RopeLayout) -> Tensor {
        let d = x.shape.last ?? 0
        let half = cos.shape.last ?? 0
        precondition(sin.shape == cos.shape && 2 * half <= d, "rope: cos \(cos.shape) / sin \(sin.shape) for x \(x.shape)")
        let out = f32(x)
        let result = out === x ? cast(out, to: .f32) : out   // never write into the caller's tensor
        let rowShape = Array(x.shape.dropLast()) + [half]
        let c = (cos.dtype == .f32 ? cos : cast(cos, to: .f32)).expanded(to: rowShape)
        let s = (sin.dtype == .f32 ? sin : cast(sin, to: .f32)).expanded(to: rowShape)
        let cRows = rowOffsets(c), sRows = rowOffsets(s)
        let cp = c.storage.pointer.assumingMemoryBound(to: Float.self), cs = c.strides.last ?? 1
        let sp = s.storage.pointer.assumingMemoryBound(to: Float.self), ss = s.strides.last ?? 1
        let o = result.floatPointer
        pool.parallelFor(cRows.count, grain: 64) { rows in
            for r in rows {
                let p = o + r * d
                let cr = cp + cRows[r], sr = sp + sRows[r]
                switch layout {
                case .halfSplit:
                    for i in 0..<half {
                        let x1 = p[i], x2 = p[i + half], cv = cr[i * cs], sv = sr[i * ss]
                        p[i] = x1 * cv - x2 * sv
                        p[i + half] = x2 * cv + x1 * sv
                    }
                case .interleaved:
                    for i in 0..<half {
                        let x1 = p[2 * i], x2 = p[2 * i + 1], cv = cr[i * cs], sv = sr[i * ss]
                        p[2 * i] = x1 * cv - x2 * sv
                        p[2 * i + 1] = x2 * cv + x1 * sv
                    }
                }
            }
        }
        return result
    }

    public func embedding(_ table: Tensor, ids: Tensor) -> Tensor {
        precondition(table.rank == 2, "embedding table must be [V, D], got \(table.shape)")
        let vocab = table.shape[0], width = table.shape[1]
        let t = table.strides[1] == 1 ? table : contiguous(table)
        let indices = ids.toInts()
        let out = empty(ids.shape + [width])
        let o = out.floatPointer
        let tp = UnsafeRawPointer(t.rawPointer), es = t.dtype.size, ld = t.strides[0]
        for (row, id) in indices.enumerated() {
            precondition(id >= 0 && id < vocab, "token id \(id) outside the embedding table of \(vocab) rows")
            if t.dtype.isFloatingPoint {
                omni_to_f32(tp + id * ld * es, t.dtype.kernelCode, o + row * width, width)
            } else {
                let values = t.selecting(dim: 0, index: id).toFloats()
                (o + row * width).update(from: values, count: width)
            }
        }
        return out
    }

    public func concat(_ tensors: [Tensor], dim: Int) -> Tensor {
        precondition(!tensors.isEmpty, "concat of no tensors")
        let first = tensors[0]
        let d = first.axis(dim)
        let dtype = tensors.allSatisfy { $0.dtype == first.dtype } ? first.dtype : .f32
        var shape = first.shape
        shape[d] = tensors.reduce(0) { total, t in
            precondition(t.rank == first.rank && t.shape.enumerated().allSatisfy { $0.offset == d || $0.element == first.shape[$0.offset] },
                         "concat: \(t.shape) does not match \(first.shape) outside dim \(d)")
            return total + t.shape[d]
        }
        let out = empty(shape, dtype: dtype)
        var start = 0
        for t in tensors {
            copy(t, into: out.sliced(dim: d, start..<(start + t.shape[d])))
            start += t.shape[d]
        }
        return out
    }
}
