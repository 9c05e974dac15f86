import Foundation
import CKernels
import COpenBLAS

extension CPUBackend {
    /// A matrix view in BLAS terms: a pointer, whether it is stored transposed, and its leading dimension.
    private struct BLASMatrix {
        let pointer: UnsafePointer<Float>
        let transpose: CBLAS_TRANSPOSE
        let lead: Int32
    }

    /// Describes the last two dimensions of `m` (rows x cols, f32) for BLAS, or nil when its
    /// strides can't be expressed (then the caller copies it).
    private func blasMatrix(_ m: Tensor, base: Int) -> BLASMatrix? {
        let rows = m.shape[m.rank - 2], cols = m.shape[m.rank - 1]
        let rs = m.strides[m.rank - 2], cs = m.strides[m.rank - 1]
        let p = UnsafePointer(m.storage.pointer.assumingMemoryBound(to: Float.self) + base)
        if cs == 1 || cols == 1, rs >= max(1, cols) || rows == 1 {
            return BLASMatrix(pointer: p, transpose: CblasNoTrans, lead: Int32(max(rows == 1 ? cols : rs, cols, 1)))
        }
        if rs == 1 || rows == 1, cs >= max(1, rows) {
            return BLASMatrix(pointer: p, transpose: CblasTrans, lead: Int32(max(cs, rows, 1)))
        }
        return nil
    }

    public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.rank >= 2 && b.rank >= 2, "matmul needs rank >= 2, got \(a.shape) and \(b.shape)")
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1], n = b.shape[b.rank - 1]
        precondition(b.shape[b.rank - 2] == k, "matmul: \(a.shape) x \(b.shape)")
        guard let batch = Tensor.broadcastShape(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2))) else {
            preconditionFailure("matmul batch dimensions \(a.shape) and \(b.shape) do not broadcast")
        }
        var av = (a.dtype == .f32 ? a : cast(a, to: .f32)).expanded(to: batch + [m, k])
        var bv = (b.dtype == .f32 ? b : cast(b, to: .f32)).expanded(to: batch + [k, n])
        let out = k == 0 ? empty(batch + [m, n]) : uninitialized(batch + [m, n])
        if out.count == 0 { return out }
        if k == 0 { return out }
        if blasMatrix(av, base: av.offset) == nil { av = contiguous(av) }
        if blasMatrix(bv, base: bv.offset) == nil { bv = contiguous(bv) }
        let aOffsets = batchOffsets(av), bOffsets = batchOffsets(bv)
        let o = out.floatPointer
        for i in 0..<aOffsets.count {
            let am = blasMatrix(av, base: aOffsets[i])!, bm = blasMatrix(bv, base: bOffsets[i])!
            cblas_sgemm(CblasRowMajor, am.transpose, bm.transpose, Int32(m), Int32(n), Int32(k),
                        1, am.pointer, am.lead, bm.pointer, bm.lead, 0, o + i * m * n, Int32(n))
        }
        return out
    }

    /// Storage offsets of each matrix in a `[batch..., rows, cols]` view, in row-major batch order.
    private func batchOffsets(_ t: Tensor) -> [Int] {
        if t.rank == 2 { return [t.offset] }
        let batchView = Tensor(storage: t.storage, dtype: t.dtype, shape: Array(t.shape.dropLast(2)) + [1],
                               strides: Array(t.strides.dropLast(2)) + [1], offset: t.offset)
        return rowOffsets(batchView)
    }

    /// Rows of x up to which f32 and f16 weights are read in place by the small-batch kernel (decode
    /// steps); above it f32 weights go to SGEMM and f16 weights are widened panel by panel for it.
    /// (bf16 weights always go through `bf16GEMM`.)
    static func smallBatchLimit(_ dtype: DType) -> Int { dtype == .f32 ? 4 : 48 }

    public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        precondition(weight.rank == 2, "linear weight must be [out, in], got \(weight.shape)")
        let outFeatures = weight.shape[0], inFeatures = weight.shape[1]
        precondition(x.shape.last == inFeatures, "linear: input \(x.shape) for weight \(weight.shape)")
        let rows = x.count / max(inFeatures, 1)
        let xs = f32(x)
        let w = weight.strides[1] == 1 && weight.strides[0] >= inFeatures ? weight : contiguous(weight)
        let ldw = w.strides[0]
        let outShape = Array(x.shape.dropLast()) + [outFeatures]
        let out = inFeatures == 0 ? empty(outShape) : uninitialized(outShape)
        if out.count == 0 { return out }
        let xp = xs.floatPointer, o = out.floatPointer
        if inFeatures == 0 {
            // Empty reduction: the result is the bias alone.
        } else if w.dtype == .bf16 {
            bf16GEMM(x: xp, rows: rows, n: outFeatures, k: inFeatures, packed: nil, weight: w, out: o)
        } else if rows <= Self.smallBatchLimit(w.dtype) {
            let wp = UnsafeRawPointer(w.rawPointer), code = w.dtype.kernelCode, es = w.dtype.size
            // Split weight rows in multiples of 4 (the kernel's tile) across threads, in chunks of
            // about `gemvChunkBytes` of weights: a large matrix (the lm_head) in 4 chunks per
            // thread left one thread streaming its last 34 MB alone.
            let tiles = (outFeatures + 3) / 4
            let chunks = outFeatures * ldw * es / Self.gemvChunkBytes
            pool.parallelFor(tiles, grain: 16, maxChunks: chunks) { range in
                let first = range.lowerBound * 4, last = min(outFeatures, range.upperBound * 4)
                omni_gemm_small(wp + first * ldw * es, code, ldw, xp, inFeatures, o + first, outFeatures,
                                rows, last - first, inFeatures)
            }
        } else if w.dtype == .f32 {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outFeatures), Int32(inFeatures),
                        1, xp, Int32(inFeatures), w.floatPointer, Int32(ldw), 0, o, Int32(outFeatures))
        } else {
            widenedPanelGEMM(x: xp, rows: rows, weight: w, out: o)
        }
        if let bias { addBias(bias, to: o, rows: rows, width: outFeatures) }
        return out
    }

    /// Adds `bias` (`width` values) to each of `rows` rows of `out`.
    private func addBias(_ bias: Tensor, to o: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        let b = f32(bias)
        precondition(b.count == width, "linear bias \(bias.shape) for \(width) outputs")
        let bp = b.floatPointer
        pool.parallelFor(rows, grain: max(1, 8192 / width)) { r in
            for row in r { omni_binary_f32(BinaryOp.add.rawValue, o + row * width, bp, 1, o + row * width, width) }
        }
    }

    /// Stacked bf16 parts are read in place (no stacked copy), from one packed copy of them all: the
    /// tiles of 32 output columns run across the parts' boundaries exactly as they would over the
    /// stacked weight, so the results are those of `linear(x, weight: stacked)`, bit for bit.
    public func multipliesStackedParts(_ weights: [Tensor]) -> Bool {
        guard let k = weights.first?.shape.last else { return false }
        return weights.allSatisfy { w in
            w.dtype == .bf16 && w.rank == 2 && w.shape[1] == k && w.strides[1] == 1 && w.strides[0] >= k
        }
    }

    public func linear(_ x: Tensor, stacked weights: [Tensor], bias: Tensor?) -> Tensor {
        guard multipliesStackedParts(weights) else { return linear(x, weight: concat(weights, dim: 0), bias: bias) }
        let k = weights[0].shape[1], n = weights.reduce(0) { $0 + $1.shape[0] }
        precondition(x.shape.last == k, "linear: input \(x.shape) for stacked weights of \(k) inputs")
        let rows = x.count / max(k, 1)
        let xs = f32(x)
        let out = uninitialized(Array(x.shape.dropLast()) + [n])
        if out.count == 0 { return out }
        let o = out.floatPointer
        bf16GEMM(x: xs.floatPointer, rows: rows, n: n, k: k, packed: packedBF16(weights, create: true), weight: nil, out: o)
        if let bias { addBias(bias, to: o, rows: rows, width: n) }
        return out
    }

    /// Packs bf16 weights now (as the first product with <= `bf16PackRowLimit` rows would);
    /// other weights need nothing.
    public func prepareForDecode(stackedLinearWeights weights: [Tensor]) {
        if multipliesStackedParts(weights) { _ = packedBF16(weights, create: true) }
    }

    public func prepareForDecode(linearWeight w: Tensor) { prepareForDecode(stackedLinearWeights: [w]) }

    /// Bytes of weights per chunk of a small-batch product (`OMNI_GEMV_CHUNK_KB`, default 512).
    static let gemvChunkBytes = (ProcessInfo.processInfo.environment["OMNI_GEMV_CHUNK_KB"].flatMap(Int.init) ?? 512) << 10
    /// Rows of x up to which a bf16 weight is multiplied from a copy packed once and kept
    /// (`OMNI_BF16_PACK_ROWS`): decode steps, where packing the weights at every call would cost
    /// as much as the products. Above it a weight already packed is used; one that is not is packed
    /// tile by tile per call (a DiT's large products), so weights only ever multiplied by many rows
    /// are not held twice.
    static let bf16PackRowLimit = ProcessInfo.processInfo.environment["OMNI_BF16_PACK_ROWS"].flatMap(Int.init) ?? 128

    /// The weights (bf16 [n_i][k], one k; a single weight is one part) stacked and packed for
    /// `omni_gemm_bf16_packed`, kept with the first part's storage (the parts outlive it). Made,
    /// tiles split across threads, only when `create`; else nil unless an earlier call made it.
    private func packedBF16(_ parts: [Tensor], create: Bool) -> UnsafePointer<UInt16>? {
        let k = parts[0].shape[1], n = parts.reduce(0) { $0 + $1.shape[0] }
        // Where in its storage each part lies.
        var words: [Int] = []
        words.reserveCapacity(parts.count * 5)
        for part in parts {
            words += [Int(bitPattern: UInt(bitPattern: ObjectIdentifier(part.storage))), part.offset, part.shape[0], k, part.strides[0]]
        }
        let key = Storage.DerivedKey(words)
        let make = { [pool] () -> Storage in
            var rowPointers: [UnsafePointer<UInt16>?] = []
            rowPointers.reserveCapacity(n)
            for part in parts {
                let base = UnsafePointer(UnsafeRawPointer(part.rawPointer).assumingMemoryBound(to: UInt16.self))
                for r in 0..<part.shape[0] { rowPointers.append(base + r * part.strides[0]) }
            }
            let packed = Storage(hugePagedByteCount: omni_gemm_bf16_packed_count(n, k) * 2)
            let dst = packed.pointer.assumingMemoryBound(to: UInt16.self)
            rowPointers.withUnsafeBufferPointer { rows in
                pool.parallelFor((n + 31) / 32, grain: 16) { t in
                    omni_pack_b_bf16_rows(rows.baseAddress, n, k, t.lowerBound, t.upperBound, dst)
                }
            }
            return packed
        }
        guard let storage = create ? parts[0].storage.derived(key, make: make) : parts[0].storage.existingDerived(key) else {
            return nil
        }
        return UnsafePointer(storage.pointer.assumingMemoryBound(to: UInt16.self))
    }

    /// `out = x @ weight^T` for bf16 weights, by our GEMM over weight tiles of 32 rows split across
    /// threads: from the weight's packed copy (see `bf16PackRowLimit`), or else each thread packing
    /// its tiles as it goes. The activations are prepared once per product: in bf16 mode
    /// (`MatmulPrecision.bfloat16`) rounded to bf16, then packed as bf16 pairs for AVX512-BF16 or
    /// split into even and odd f32 elements for the AVX2 / portable kernels; in the default mode
    /// split as they are, f32. Each path sums every output in one order whatever the number of
    /// rows, so a row's result does not depend on the batch it came in. `packed`: the weights'
    /// packed copy, if the caller has it; else `weight`'s is looked up or made.
    private func bf16GEMM(x: UnsafePointer<Float>, rows: Int, n: Int, k: Int, packed given: UnsafePointer<UInt16>?,
                          weight: Tensor?, out: UnsafeMutablePointer<Float>) {
        let rounded = matmulPrecision == .bfloat16
        // AVX512-BF16 (bf16 mode only) takes the activations as bf16 pairs; every other path takes
        // them split once into even and odd f32 elements (rounded to bf16 in bf16 mode).
        let native = rounded && omni_gemm_bf16_native() == 2
        let kp = (k + 1) & ~1, padded = (rows + 7) / 8 * 8
        let aBuffer = scratchBuffer(bytes: native ? padded * kp * 2 : omni_split_count(rows, k) * 4)
        defer { withExtendedLifetime(aBuffer) {} }
        let a = aBuffer.pointer.assumingMemoryBound(to: UInt16.self), xs = aBuffer.pointer.assumingMemoryBound(to: Float.self)
        if native {
            (a + rows * kp).initialize(repeating: 0, count: (padded - rows) * kp)
            pool.parallelFor(rows, grain: 8) { r in
                omni_pack_a_bf16(x + r.lowerBound * k, k, r.count, k, a + r.lowerBound * kp, kp)
            }
        } else {
            pool.parallelFor((rows + 3) / 4 * 4, grain: 8) { r in
                omni_split_activations(x, k, rows, k, rounded ? 1 : 0, r.lowerBound, r.upperBound, xs)
            }
        }
        let tiles = (n + 31) / 32
        if let packed = given ?? weight.flatMap({ packedBF16([$0], create: rows <= Self.bf16PackRowLimit) }) {
            // Few rows read weights more than they compute: chunks of about `gemvChunkBytes` of
            // them. Many rows: one tile per chunk, so threads finish within a tile of each other.
            // One row multiplies whole tiles three at a time (on the split path and with
            // AVX512-BF16 alike), so it works in groups of three tiles. The one or two tiles over
            // a multiple of three form the first group, so the last chunks, which decide when the
            // product ends, are whole groups. A
            // lone tile joins three others, which run as two and two: alone it has four FMA chains
            // and runs at about half speed. (Measured in decode with the alternating harness:
            // groups +3.0-4.9% against chunks of any tile count and leftover first +1.8-3.6%, both
            // in one phase only, which favoured "on" by about 2.5%; the lone tile, bias cancelled,
            // +0.3%, within the noise: the other thread takes up the slack.)
            let unit = rows == 1 ? 3 : 1
            let rest = tiles % unit, lead = rest == 1 && tiles > unit ? unit + 1 : rest
            let groups = lead == 0 ? tiles / unit : 1 + (tiles - lead) / unit
            let start = { (g: Int) -> Int in lead == 0 || g == 0 ? g * unit : lead + (g - 1) * unit }
            // One row: a chunk per group, so the threads end a product within one group of each
            // other, and a thread's next group is the chunk `threads` on (steps 0.2% faster than
            // chunks of about gemvChunkBytes, 3 groups at K = 896: within the noise).
            let chunks = unit > 1 ? groups : rows < 32 ? tiles * kp * 64 / Self.gemvChunkBytes : tiles
            // While the caller works toward the next product, the workers prefetch its weights.
            if rows < 32 { AlternatingHarness.productStarts() }
            var after: ThreadPool.Prefetch?
            if rows < 32, ProductLookahead.bytes > 0, pool.threads > 1 {
                let tileBytes = kp * 64, parts = pool.partCount(groups, maxChunks: chunks)
                let per = (groups + parts - 1) / parts   // groups per chunk
                after = lookahead.advance(weights: packed, first: start(per) * tileBytes, chunk: per * unit * tileBytes,
                                          total: tiles * tileBytes)
            }
            pool.parallelFor(groups, grain: 1, maxChunks: chunks, thenPrefetch: after) { g in
                let t0 = start(g.lowerBound), t1 = start(g.upperBound)
                // Threads claim chunks in turn, so this thread's next chunk is probably the one
                // `threads` chunks on: its last group prefetches that chunk's start.
                let next = g.upperBound + (pool.threads - 1) * g.count, after = next < groups ? start(next) : tiles
                if native {
                    omni_gemm_bf16_packed(a, rows, kp, packed, n, t0, t1, out, n, after)
                } else {
                    omni_gemm_split_packed(xs, rows, k, packed, n, t0, t1, out, n, after)
                }
            }
            return
        }
        guard let w = weight else { preconditionFailure("bf16GEMM without weights") }
        let wp = UnsafeRawPointer(w.rawPointer).assumingMemoryBound(to: UInt16.self), ldw = w.strides[0]
        let tileScratch = ChunkScratch(pool: buffers, bytes: omni_gemm_bf16_scratch(k) * 2, threads: pool.threads)
        pool.parallelFor(tiles, grain: 1, maxChunks: tiles) { t in
            tileScratch.with { tile in
                let scratch = tile.assumingMemoryBound(to: UInt16.self), n0 = t.lowerBound * 32, n1 = min(n, t.upperBound * 32)
                if native {
                    omni_gemm_bf16(a, rows, kp, k, wp, ldw, n0, n1, out, n, scratch)
                } else {
                    omni_gemm_split(xs, rows, k, wp, ldw, n0, n1, out, n, scratch)
                }
            }
        }
    }

    /// `out = x @ weight^T` for a bf16/f16 weight: panels of weight rows are widened to f32 into a
    /// bounded scratch buffer (never a full f32 copy of the weight) and multiplied with SGEMM.
    private func widenedPanelGEMM(x: UnsafePointer<Float>, rows: Int, weight w: Tensor, out: UnsafeMutablePointer<Float>) {
        let outFeatures = w.shape[0], inFeatures = w.shape[1], ldw = w.strides[0], es = w.dtype.size
        let panelRows = max(16, min(outFeatures, (8 << 20) / max(inFeatures * 4, 1)))
        let panel = UnsafeMutablePointer<Float>.allocate(capacity: panelRows * inFeatures)
        defer { panel.deallocate() }
        let wp = UnsafeRawPointer(w.rawPointer), code = w.dtype.kernelCode
        var start = 0
        while start < outFeatures {
            let count = min(panelRows, outFeatures - start)
            pool.parallelFor(count, grain: 16) { r in
                for i in r {
                    omni_to_f32(wp + (start + i) * ldw * es, code, panel + i * inFeatures, inFeatures)
                }
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(count), Int32(inFeatures),
                        1, x, Int32(inFeatures), panel, Int32(inFeatures), 0, out + start, Int32(outFeatures))
            start += count
        }
    }
}
