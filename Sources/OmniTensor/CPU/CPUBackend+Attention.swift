import CKernels

extension CPUBackend {
    public func attention(query: Tensor, key: Tensor, value: Tensor, mask: Tensor?, causal: CausalMask?, scale: Float?) -> Tensor {
        precondition(query.rank == 4 && key.rank == 4 && value.rank == 4, "attention expects [B, H, S, D] tensors")
        let batch = query.shape[0], qHeads = query.shape[1], qLen = query.shape[2], headDim = query.shape[3]
        let kvHeads = key.shape[1], kvLen = key.shape[2], valueDim = value.shape[3]
        precondition(key.shape[0] == batch && value.shape[0] == batch && key.shape[3] == headDim
                     && value.shape[1] == kvHeads && value.shape[2] == kvLen, "attention shapes q \(query.shape) k \(key.shape) v \(value.shape)")
        precondition(kvHeads > 0 && qHeads % kvHeads == 0, "query heads \(qHeads) not a multiple of kv heads \(kvHeads)")
        let group = qHeads / kvHeads
        let q = f32(query), k = f32(key), v = f32(value)
        let out = empty([batch, qHeads, qLen, valueDim])
        if out.count == 0 { return out }
        let s = scale ?? 1 / Float(headDim).squareRoot()

        // Mask as a broadcast view [B, Hq, Sq, Sk]: additive floats or booleans (nonzero = attend).
        let maskView: Tensor? = mask.map { m in
            let mm = m.dtype == .u8 || m.dtype == .f32 ? m : cast(m, to: .f32)
            return mm.expanded(to: [batch, qHeads, qLen, kvLen])
        }
        if mask == nil && causal == nil && qLen >= Self.attentionBlockRows {
            if matmulPrecision == .bfloat16 {
                bf16BlockedAttention(q: q, k: k, v: v, out: out, group: group, scale: s)
            } else {
                blockedAttention(q: q, k: k, v: v, out: out, group: group, scale: s)
            }
            return out
        }
        let qp = q.floatPointer, kp = k.floatPointer, vp = v.floatPointer, op = out.floatPointer
        let rowsTotal = batch * qHeads * qLen
        let rowScratch = ChunkScratch(pool: buffers, bytes: max(kvLen, 1) * 4, threads: pool.threads)
        pool.parallelFor(rowsTotal, grain: max(1, 2048 / max(kvLen, 1))) { rows in
            rowScratch.with { raw in
                let scores = raw.assumingMemoryBound(to: Float.self)
                for row in rows {
                    let i = row % qLen, h = (row / qLen) % qHeads, b = row / (qLen * qHeads)
                    let kvh = h / group
                    let qRow = qp + row * headDim
                    let kBase = kp + (b * kvHeads + kvh) * kvLen * headDim
                    let vBase = vp + (b * kvHeads + kvh) * kvLen * valueDim
                    var visible = kvLen
                    if let causal {
                        visible = causal == .topLeft ? i + 1 : kvLen - qLen + i + 1
                        visible = min(max(visible, 0), kvLen)
                    }
                    for j in 0..<visible { scores[j] = omni_dot_f32(qRow, kBase + j * headDim, headDim) * s }
                    for j in visible..<kvLen { scores[j] = -.infinity }
                    if let mv = maskView {
                        var mo = mv.offset + b * mv.strides[0] + h * mv.strides[1] + i * mv.strides[2]
                        let ms = mv.strides[3]
                        if mv.dtype == .u8 {
                            let mp = mv.storage.pointer.assumingMemoryBound(to: UInt8.self)
                            for j in 0..<kvLen { if mp[mo] == 0 { scores[j] = -.infinity }; mo += ms }
                        } else {
                            let mp = mv.storage.pointer.assumingMemoryBound(to: Float.self)
                            for j in 0..<kvLen { scores[j] += mp[mo]; mo += ms }
                        }
                    }
                    omni_softmax_f32(scores, kvLen)
                    let outRow = op + row * valueDim
                    for j in 0..<kvLen where scores[j] != 0 {
                        omni_axpy_f32(scores[j], vBase + j * valueDim, outRow, valueDim)
                    }
                    if scores[0].isNaN { for d in 0..<valueDim { outRow[d] = .nan } }
                }
            }
        }
        return out
    }

    /// Query rows per block of the unmasked attention.
    static let attentionBlockRows = 32

    /// Full attention (no mask, not causal: the DiT's and the VAE's) a block of query rows of one
    /// head at a time, as two small GEMMs: scores = Q_blk K^T (each key row read once per 4 query
    /// rows, from cache) and out = softmax(scores) V, with V transposed once per head beforehand.
    private func blockedAttention(q: Tensor, k: Tensor, v: Tensor, out: Tensor, group: Int, scale: Float) {
        let batch = q.shape[0], qHeads = q.shape[1], qLen = q.shape[2], headDim = q.shape[3]
        let kvHeads = k.shape[1], kvLen = k.shape[2], valueDim = v.shape[3]
        let vt = contiguous(v.permuted([0, 1, 3, 2]))   // [B, Hkv, Dv, Skv]
        let qp = q.floatPointer, kp = k.floatPointer, vtp = vt.floatPointer, op = out.floatPointer
        let blockRows = Self.attentionBlockRows, blocks = (qLen + blockRows - 1) / blockRows
        let f32 = DType.f32.kernelCode
        let blockScratch = ChunkScratch(pool: buffers, bytes: blockRows * kvLen * 4, threads: pool.threads)
        pool.parallelFor(batch * qHeads * blocks, grain: 1, maxChunks: batch * qHeads * blocks) { units in
            blockScratch.with { raw in
                let scores = raw.assumingMemoryBound(to: Float.self)
                for unit in units {
                    let block = unit % blocks, h = (unit / blocks) % qHeads, b = unit / (blocks * qHeads)
                    let kvh = h / group, first = block * blockRows, rows = min(blockRows, qLen - first)
                    let qRows = qp + ((b * qHeads + h) * qLen + first) * headDim
                    let keys = UnsafeRawPointer(kp + (b * kvHeads + kvh) * kvLen * headDim)
                    let valuesT = UnsafeRawPointer(vtp + (b * kvHeads + kvh) * valueDim * kvLen)
                    omni_gemm_small(keys, f32, headDim, qRows, headDim, scores, kvLen, rows, kvLen, headDim)
                    for r in 0..<rows {
                        omni_scale_f32(scores + r * kvLen, scale, kvLen)
                        omni_softmax_f32(scores + r * kvLen, kvLen)
                    }
                    omni_gemm_small(valuesT, f32, kvLen, scores, kvLen, op + ((b * qHeads + h) * qLen + first) * valueDim, valueDim,
                                    rows, valueDim, kvLen)
                }
            }
        }
    }

    /// Query rows per block of the bf16-mode unmasked attention: enough that packing a head's keys
    /// and values for the bf16 GEMM (once per block) costs little against the block's products.
    static let bf16AttentionBlockRows = 128

    /// The unmasked attention in the bf16 matmul mode, at the precision torch's bf16 attention runs
    /// at: Q, K, V and the softmax weights rounded to bf16, products summed in f32 by the bf16 GEMM
    /// (`omni_gemm_bf16`), softmax in f32. Per block of query rows of one head: scores = Q K^T, a
    /// softmax per row, out = P V with V transposed once per head.
    private func bf16BlockedAttention(q: Tensor, k: Tensor, v: Tensor, out: Tensor, group: Int, scale: Float) {
        let batch = q.shape[0], qHeads = q.shape[1], qLen = q.shape[2], headDim = q.shape[3]
        let kvHeads = k.shape[1], kvLen = k.shape[2], valueDim = v.shape[3]
        let kb = cast(k, to: .bf16)                                        // [B, Hkv, Skv, D]
        let vtb = cast(contiguous(v.permuted([0, 1, 3, 2])), to: .bf16)    // [B, Hkv, Dv, Skv]
        let qp = q.floatPointer, op = out.floatPointer
        let kp = UnsafeRawPointer(kb.rawPointer).assumingMemoryBound(to: UInt16.self)
        let vtp = UnsafeRawPointer(vtb.rawPointer).assumingMemoryBound(to: UInt16.self)
        let blockRows = Self.bf16AttentionBlockRows, blocks = (qLen + blockRows - 1) / blockRows
        let paddedRows = (blockRows + 7) / 8 * 8
        let qPairs = (headDim + 1) & ~1, pPairs = (kvLen + 1) & ~1
        let scratchCount = omni_gemm_bf16_scratch(max(headDim, kvLen))
        // One block per chunk: scores, the packed Q rows, the packed softmax rows, the GEMM's tile.
        let aligned = { (bytes: Int) in (bytes + 63) & ~63 }
        let scoresBytes = aligned(blockRows * kvLen * 4), qBytes = aligned(paddedRows * qPairs * 2)
        let pBytes = aligned(paddedRows * pPairs * 2)
        let unitScratch = ChunkScratch(pool: buffers, bytes: scoresBytes + qBytes + pBytes + scratchCount * 2,
                                       threads: pool.threads)
        pool.parallelFor(batch * qHeads * blocks, grain: 1, maxChunks: batch * qHeads * blocks) { units in
            unitScratch.with { raw in
                let scores = raw.assumingMemoryBound(to: Float.self)
                let packedQ = (raw + scoresBytes).assumingMemoryBound(to: UInt16.self)
                let packedP = (raw + scoresBytes + qBytes).assumingMemoryBound(to: UInt16.self)
                let scratch = (raw + scoresBytes + qBytes + pBytes).assumingMemoryBound(to: UInt16.self)
                for unit in units {
                    let block = unit % blocks, h = (unit / blocks) % qHeads, b = unit / (blocks * qHeads)
                    let kvh = h / group, first = block * blockRows, rows = min(blockRows, qLen - first)
                    let padded = (rows + 7) / 8 * 8
                    omni_pack_a_bf16(qp + ((b * qHeads + h) * qLen + first) * headDim, headDim, rows, headDim, packedQ, qPairs)
                    (packedQ + rows * qPairs).initialize(repeating: 0, count: (padded - rows) * qPairs)
                    omni_gemm_bf16(packedQ, rows, qPairs, headDim, kp + (b * kvHeads + kvh) * kvLen * headDim, headDim,
                                   0, kvLen, scores, kvLen, scratch)
                    for r in 0..<rows {
                        omni_scale_f32(scores + r * kvLen, scale, kvLen)
                        omni_softmax_f32(scores + r * kvLen, kvLen)
                    }
                    omni_pack_a_bf16(scores, kvLen, rows, kvLen, packedP, pPairs)
                    (packedP + rows * pPairs).initialize(repeating: 0, count: (padded - rows) * pPairs)
                    omni_gemm_bf16(packedP, rows, pPairs, kvLen, vtp + (b * kvHeads + kvh) * valueDim * kvLen, kvLen,
                                   0, valueDim, op + ((b * qHeads + h) * qLen + first) * valueDim, valueDim, scratch)
                }
            }
        }
    }
}
