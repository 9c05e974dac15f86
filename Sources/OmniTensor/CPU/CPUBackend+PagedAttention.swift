import CKernels

extension CPUBackend {
    public func writeKV(key: Tensor, value: Tensor, into cache: PagedKVCache, slots: [Int32]) {
        precondition(key.rank == 3 && value.rank == 3 && key.shape[0] == slots.count && value.shape[0] == slots.count,
                     "writeKV: key \(key.shape), value \(value.shape), \(slots.count) slots")
        precondition(key.shape[1] == cache.kvHeads && key.shape[2] == cache.headDim && value.shape[2] == cache.valueDim,
                     "writeKV: key \(key.shape) does not fit cache \(cache.key.shape)")
        precondition(cache.key.isContiguous && cache.value.isContiguous, "writeKV: the cache must be contiguous")
        let capacity = cache.blocks * cache.blockSize
        let keyRow = cache.kvHeads * cache.headDim, valueRow = cache.kvHeads * cache.valueDim
        let k = cache.key.dtype == key.dtype ? contiguous(key) : cast(key, to: cache.key.dtype)
        let v = cache.value.dtype == value.dtype ? contiguous(value) : cast(value, to: cache.value.dtype)
        let es = cache.key.dtype.size, ves = cache.value.dtype.size
        for (t, slot) in slots.enumerated() {
            precondition(slot >= 0 && Int(slot) < capacity, "writeKV: slot \(slot) outside the cache of \(capacity) slots")
            (cache.key.rawPointer + Int(slot) * keyRow * es).copyMemory(from: k.rawPointer + t * keyRow * es, byteCount: keyRow * es)
            (cache.value.rawPointer + Int(slot) * valueRow * ves).copyMemory(from: v.rawPointer + t * valueRow * ves, byteCount: valueRow * ves)
        }
    }

    public func pagedAttention(query: Tensor, cache: PagedKVCache, batch: AttentionBatch, scale: Float) -> Tensor {
        precondition(query.rank == 3 && query.shape[2] == cache.headDim, "pagedAttention: query \(query.shape) for cache \(cache.key.shape)")
        precondition(cache.key.dtype == .f32 && cache.value.dtype == .f32, "pagedAttention: the CPU cache holds f32")
        let tokens = query.shape[0], qHeads = query.shape[1], headDim = cache.headDim, valueDim = cache.valueDim
        let kvHeads = cache.kvHeads, blockSize = cache.blockSize
        precondition(qHeads % kvHeads == 0, "query heads \(qHeads) not a multiple of kv heads \(kvHeads)")
        let group = qHeads / kvHeads
        let q = f32(query)
        let out = empty([tokens, qHeads, valueDim])
        // One work item per (token, head): which sequence and which position it belongs to.
        var owner = [Int32](repeating: -1, count: tokens)
        for (s, seq) in batch.sequences.enumerated() {
            precondition(seq.queryCount <= seq.contextLength && seq.queryStart + seq.queryCount <= tokens
                         && seq.blockTable.count * blockSize >= seq.contextLength, "pagedAttention: bad sequence \(seq)")
            for t in seq.queryStart..<(seq.queryStart + seq.queryCount) { owner[t] = Int32(s) }
        }
        let qp = q.floatPointer, op = out.floatPointer
        let kp = cache.key.floatPointer, vp = cache.value.floatPointer
        let sequences = batch.sequences
        let maxContext = sequences.map(\.contextLength).max() ?? 0
        pool.parallelFor(tokens * qHeads, grain: max(1, 1024 / max(maxContext, 1))) { items in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(maxContext, 1))
            defer { scores.deallocate() }
            for item in items {
                let t = item / qHeads, h = item % qHeads
                guard owner[t] >= 0 else { continue }
                let seq = sequences[Int(owner[t])]
                let visible = seq.contextLength - seq.queryCount + (t - seq.queryStart) + 1
                let kvh = h / group
                let qRow = qp + (t * qHeads + h) * headDim
                seq.blockTable.withUnsafeBufferPointer { table in
                    for j in 0..<visible {
                        let slot = Int(table[j / blockSize]) * blockSize + j % blockSize
                        scores[j] = omni_dot_f32(qRow, kp + (slot * kvHeads + kvh) * headDim, headDim) * scale
                    }
                    omni_softmax_f32(scores, visible)
                    let outRow = op + (t * qHeads + h) * valueDim
                    for j in 0..<visible {
                        let slot = Int(table[j / blockSize]) * blockSize + j % blockSize
                        omni_axpy_f32(scores[j], vp + (slot * kvHeads + kvh) * valueDim, outRow, valueDim)
                    }
                }
            }
        }
        return out
    }
}
