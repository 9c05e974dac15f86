import CKernels

extension CPUBackend {
    /// Query rows per work unit of `pagedAttention` (a block of tokens times a KV head's group).
    static let pagedAttentionRows = 64

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
        precondition(cache.key.dtype == cache.value.dtype && [DType.f32, .bf16].contains(cache.key.dtype),
                     "pagedAttention: the CPU cache holds f32 or bf16, got \(cache.key.dtype)")
        let bf16 = cache.key.dtype == .bf16
        let tokens = query.shape[0], qHeads = query.shape[1], headDim = cache.headDim, valueDim = cache.valueDim
        let kvHeads = cache.kvHeads, blockSize = cache.blockSize
        precondition(qHeads % kvHeads == 0, "query heads \(qHeads) not a multiple of kv heads \(kvHeads)")
        let group = qHeads / kvHeads
        let q = f32(query)
        let out = uninitialized([tokens, qHeads, valueDim])
        for seq in batch.sequences {
            precondition(seq.queryCount <= seq.contextLength && seq.queryStart + seq.queryCount <= tokens
                         && seq.blockTable.count * blockSize >= seq.contextLength, "pagedAttention: bad sequence \(seq)")
        }
        // Work units: a block of one sequence's new tokens under one KV head; its rows are those
        // tokens' query heads of that KV head's group, so the group reads each key and value once.
        let tokenBlock = max(1, Self.pagedAttentionRows / group)
        var units: [(sequence: Int, kvHead: Int, first: Int, count: Int)] = []
        for (s, seq) in batch.sequences.enumerated() {
            for first in stride(from: 0, to: seq.queryCount, by: tokenBlock) {
                for kvh in 0..<kvHeads { units.append((s, kvh, first, min(tokenBlock, seq.queryCount - first))) }
            }
        }
        let qp = q.floatPointer, op = out.floatPointer
        let kRaw = UnsafeRawPointer(cache.key.rawPointer), vRaw = UnsafeRawPointer(cache.value.rawPointer)
        let sequences = batch.sequences
        let maxContext = sequences.map(\.contextLength).max() ?? 0
        let maxRows = tokenBlock * group
        let scratchCount = omni_paged_attention_scratch(maxContext, headDim)
        let kStride = kvHeads * headDim, vStride = kvHeads * valueDim
        // Units differ in cost (context lengths): each is a chunk, claimed as threads get free.
        // Per chunk: the row pointers and visible counts (8 bytes each), then the kernel's scratch.
        let scratchBlocks = ChunkScratch(pool: buffers, bytes: 3 * maxRows * 8 + scratchCount * 4, threads: pool.threads)
        pool.parallelFor(units.count, grain: 1, maxChunks: units.count) { range in
            scratchBlocks.with { block in
                let qRows = block.bindMemory(to: UnsafePointer<Float>?.self, capacity: maxRows)
                let outRows = (block + maxRows * 8).bindMemory(to: UnsafeMutablePointer<Float>?.self, capacity: maxRows)
                let visible = (block + 2 * maxRows * 8).bindMemory(to: Int.self, capacity: maxRows)
                let scratch = (block + 3 * maxRows * 8).bindMemory(to: Float.self, capacity: scratchCount)
                for u in range {
                    let unit = units[u], seq = sequences[unit.sequence]
                    var rows = 0
                    for i in unit.first..<(unit.first + unit.count) {
                        let t = seq.queryStart + i
                        for g in 0..<group {
                            let h = unit.kvHead * group + g
                            qRows[rows] = UnsafePointer(qp + (t * qHeads + h) * headDim)
                            outRows[rows] = op + (t * qHeads + h) * valueDim
                            visible[rows] = seq.contextLength - seq.queryCount + i + 1
                            rows += 1
                        }
                    }
                    seq.blockTable.withUnsafeBufferPointer { table in
                        if bf16 {
                            omni_paged_attention_bf16(rows, qRows, outRows, visible,
                                                      kRaw.assumingMemoryBound(to: UInt16.self) + unit.kvHead * headDim, kStride,
                                                      vRaw.assumingMemoryBound(to: UInt16.self) + unit.kvHead * valueDim, vStride,
                                                      table.baseAddress, blockSize, headDim, valueDim, scale, scratch)
                        } else {
                            omni_paged_attention_f32(rows, qRows, outRows, visible,
                                                     kRaw.assumingMemoryBound(to: Float.self) + unit.kvHead * headDim, kStride,
                                                     vRaw.assumingMemoryBound(to: Float.self) + unit.kvHead * valueDim, vStride,
                                                     table.baseAddress, blockSize, headDim, valueDim, scale, scratch)
                        }
                    }
                }
            }
        }
        return out
    }
}
