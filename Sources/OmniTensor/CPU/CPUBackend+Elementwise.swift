import CKernels

extension CPUBackend {
    public func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor {
        guard let shape = Tensor.broadcastShape(a.shape, b.shape) else {
            preconditionFailure("shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        let av = (a.dtype == .f32 ? a : cast(a, to: .f32)).expanded(to: shape)
        let bv = (b.dtype == .f32 ? b : cast(b, to: .f32)).expanded(to: shape)
        let out = uninitialized(shape)
        let n = out.count
        if n == 0 { return out }
        let o = out.floatPointer
        let ap = av.storage.pointer.assumingMemoryBound(to: Float.self)
        let bp = bv.storage.pointer.assumingMemoryBound(to: Float.self)
        if av.isContiguous {
            if bv.isContiguous {
                pool.parallelFor(n, grain: 1 << 15) { r in
                    omni_binary_f32(op.rawValue, ap + av.offset + r.lowerBound, bp + bv.offset + r.lowerBound, 1, o + r.lowerBound, r.count)
                }
                return out
            }
            if b.count == 1 {
                pool.parallelFor(n, grain: 1 << 15) { r in
                    omni_binary_f32(op.rawValue, ap + av.offset + r.lowerBound, bp + bv.offset, 0, o + r.lowerBound, r.count)
                }
                return out
            }
        }
        // General broadcast: walk output rows; each operand's row has stride 1, 0 or other.
        let inner = shape.last ?? 1
        let aRows = rowOffsets(av), bRows = rowOffsets(bv)
        let sa = av.strides.last ?? 1, sb = bv.strides.last ?? 1
        pool.parallelFor(aRows.count, grain: max(1, (1 << 14) / max(inner, 1))) { rows in
            var aRow = [Float](repeating: 0, count: inner)
            for r in rows {
                let dst = o + r * inner
                let aStart = ap + aRows[r]
                let aPtr: UnsafePointer<Float>
                if sa == 1 { aPtr = UnsafePointer(aStart) } else {
                    for i in 0..<inner { aRow[i] = aStart[i * sa] }
                    aPtr = aRow.withUnsafeBufferPointer { $0.baseAddress! }
                }
                omni_binary_f32(op.rawValue, aPtr, bp + bRows[r], sb, dst, inner)
            }
        }
        return out
    }

    public func binary(_ op: BinaryOp, _ a: Tensor, scalar: Float) -> Tensor {
        binary(op, a, Tensor([scalar], shape: []))
    }

    public func unary(_ op: UnaryOp, _ x: Tensor) -> Tensor {
        let src = f32(x)
        let out = uninitialized(x.shape)
        let s = src.floatPointer, o = out.floatPointer
        pool.parallelFor(out.count, grain: 1 << 13) { r in
            omni_unary_f32(op.rawValue, s + r.lowerBound, o + r.lowerBound, r.count)
        }
        return out
    }

    public func siluMul(_ gate: Tensor, _ up: Tensor) -> Tensor {
        precondition(gate.shape == up.shape, "siluMul: gate \(gate.shape), up \(up.shape)")
        // Rows are read where they are (the halves of a stacked projection are row-strided views);
        // only a dtype other than f32 or a strided last dimension makes a copy.
        let g = gate.dtype == .f32 && (gate.strides.last == 1 || gate.count <= 1) ? gate : f32(gate)
        let u = up.dtype == .f32 && (up.strides.last == 1 || up.count <= 1) ? up : f32(up)
        let out = uninitialized(gate.shape)
        let n = gate.shape.last ?? 1
        if out.count == 0 { return out }
        let gRows = rowOffsets(g), uRows = rowOffsets(u)
        let gp = g.storage.pointer.assumingMemoryBound(to: Float.self), up = u.storage.pointer.assumingMemoryBound(to: Float.self)
        let o = out.floatPointer
        pool.parallelFor(gRows.count, grain: max(1, (1 << 13) / max(n, 1))) { rows in
            for r in rows { omni_silu_mul_f32(gp + gRows[r], up + uRows[r], o + r * n, n) }
        }
        return out
    }

    /// `x` with `dim` moved last, contiguous f32, and the permutation that undoes the move.
    private func lastDimRows(_ x: Tensor, dim: Int) -> (rows: Tensor, inverse: [Int]?) {
        let d = x.axis(dim)
        if d == x.rank - 1 { return (f32(x), nil) }
        var order = Array(0..<x.rank)
        order.remove(at: d)
        order.append(d)
        var inverse = [Int](repeating: 0, count: x.rank)
        for (i, o) in order.enumerated() { inverse[o] = i }
        return (f32(x.permuted(order)), inverse)
    }

    public func softmax(_ x: Tensor, dim: Int) -> Tensor {
        let (src, inverse) = lastDimRows(x, dim: dim)
        let n = src.shape.last ?? 1
        let out = empty(src.shape)
        let rows = n == 0 ? 0 : src.count / n
        let s = src.floatPointer, o = out.floatPointer
        pool.parallelFor(rows, grain: max(1, 4096 / max(n, 1))) { r in
            for row in r {
                (o + row * n).update(from: s + row * n, count: n)
                omni_softmax_f32(o + row * n, n)
            }
        }
        guard let inverse else { return out }
        return contiguous(out.permuted(inverse))
    }

    public func reduce(_ op: ReduceOp, _ x: Tensor, dim: Int, keepDim: Bool) -> Tensor {
        let d = x.axis(dim)
        let (src, _) = lastDimRows(x, dim: d)
        let n = src.shape.last ?? 1
        var outShape = x.shape
        if keepDim { outShape[d] = 1 } else { outShape.remove(at: d) }
        let out = empty(outShape)
        let rows = out.count
        let s = src.floatPointer, o = out.floatPointer
        pool.parallelFor(rows, grain: max(1, 4096 / max(n, 1))) { r in
            for row in r {
                let p = s + row * n
                switch op {
                case .sum, .mean:
                    var acc = 0.0
                    for i in 0..<n { acc += Double(p[i]) }
                    o[row] = Float(op == .mean ? acc / Double(n) : acc)
                case .max:
                    var m = n > 0 ? p[0] : -Float.infinity
                    for i in 0..<n {
                        if p[i].isNaN { m = .nan; break }
                        if p[i] > m { m = p[i] }
                    }
                    o[row] = m
                }
            }
        }
        // Rows were produced in the order of the remaining dimensions, which is the output order.
        return out
    }

    public func rmsNorm(_ x: Tensor, weight: Tensor?, eps: Float) -> Tensor {
        let src = f32(x)
        let n = x.shape.last ?? 1
        let w = weight.map { contiguous($0) }
        precondition(w == nil || w!.count == n, "rmsNorm weight \(weight!.shape) for width \(n)")
        let out = uninitialized(x.shape)
        let s = src.floatPointer, o = out.floatPointer
        let wp = w.map { UnsafeRawPointer($0.rawPointer) }
        let code = w?.dtype.kernelCode ?? 0
        pool.parallelFor(n == 0 ? 0 : src.count / n, grain: max(1, 8192 / max(n, 1))) { r in
            for row in r { omni_rmsnorm_f32(s + row * n, wp, code, o + row * n, n, eps) }
        }
        return out
    }

    public func layerNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        let src = f32(x)
        let n = x.shape.last ?? 1
        let w = weight.map { f32($0) }, b = bias.map { f32($0) }
        let out = empty(x.shape)
        let s = src.floatPointer, o = out.floatPointer
        let wp = w?.floatPointer, bp = b?.floatPointer
        pool.parallelFor(n == 0 ? 0 : src.count / n, grain: max(1, 8192 / max(n, 1))) { r in
            for row in r {
                normalize(s + row * n, o + row * n, count: n, eps: eps)
                for i in 0..<n {
                    var v = o[row * n + i]
                    if let wp { v *= wp[i] }
                    if let bp { v += bp[i] }
                    o[row * n + i] = v
                }
            }
        }
        return out
    }

    public func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Float) -> Tensor {
        precondition(x.rank >= 2 && x.shape[1] % groups == 0, "groupNorm: \(x.shape) with \(groups) groups")
        let src = f32(x)
        let batch = x.shape[0], channels = x.shape[1]
        let spatial = x.shape.dropFirst(2).reduce(1, *)
        let perGroup = channels / groups * spatial
        let w = weight.map { f32($0) }, b = bias.map { f32($0) }
        let out = empty(x.shape)
        let s = src.floatPointer, o = out.floatPointer
        let wp = w?.floatPointer, bp = b?.floatPointer
        pool.parallelFor(batch * groups) { r in
            for ng in r {
                let base = ng * perGroup
                normalize(s + base, o + base, count: perGroup, eps: eps)
                let firstChannel = (ng % groups) * (channels / groups)
                for c in 0..<(channels / groups) {
                    let scale = wp?[firstChannel + c] ?? 1, shift = bp?[firstChannel + c] ?? 0
                    let p = o + base + c * spatial
                    for i in 0..<spatial { p[i] = p[i] * scale + shift }
                }
            }
        }
        return out
    }

    /// `(x - mean) / sqrt(var + eps)` over `count` values (biased variance, as torch).
    private func normalize(_ x: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>, count n: Int, eps: Float) {
        var sum = 0.0
        for i in 0..<n { sum += Double(x[i]) }
        let mean = sum / Double(n)
        var sq = 0.0
        for i in 0..<n { let d = Double(x[i]) - mean; sq += d * d }
        let rstd = Float(1.0 / (sq / Double(n) + Double(eps)).squareRoot())
        for i in 0..<n { out[i] = Float((Double(x[i]) - mean) * Double(rstd)) }
    }
}
