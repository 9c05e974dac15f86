import CKernels
import Foundation
import OmniTensor
import Testing

/// The bf16 matmul mode (`CPUBackend.MatmulPrecision.bfloat16`): activations rounded to bf16, bf16
/// weights, sums in f32. Reference: the same bf16 values multiplied and summed in double. Tolerance:
/// |error| <= 1e-4 * sum |a_k w_k| per output (f32 summation of k terms is off by at most k * 2^-24
/// of that sum, 6e-5 at k = 1000; random-sign products stay near sqrt(k) * 2^-24, 5e-6 at k = 8203);
/// measured errors are printed. Every level the CPU has is checked (the calling thread set to it):
/// the AVX512-BF16 kernels, the AVX2 kernels and the portable loop, across tile and strip edges
/// (rows not a multiple of 8 or 4, columns not a multiple of 32, odd k, k past one widened chunk of
/// 512 pairs and past one packed block of 4096 pairs).
@Suite struct BF16GEMMTests {
    /// Every ISA level this CPU runs, highest first.
    private let levels: [Int32] = Array((0...omni_isa_detected()).reversed())
    /// The bf16 kernels at the calling thread's level.
    private var path: String { ["portable", "avx2", "avx512bf16"][Int(omni_gemm_bf16_native())] }

    /// bf16 round-to-nearest-even of f32, as f32.
    private func rounded(_ x: [Float]) -> [Float] {
        var bits = [UInt16](repeating: 0, count: x.count)
        omni_f32_to_bf16(x, &bits, x.count)
        var back = [Float](repeating: 0, count: x.count)
        omni_bf16_to_f32(bits, &back, x.count)
        return back
    }

    private func worstError(rows: Int, n: Int, k: Int, out: [Float], a: [Float], w: [Float]) -> Double {
        var worst = 0.0
        for m in 0..<rows {
            for j in 0..<n {
                var sum = 0.0, scale = 0.0
                for i in 0..<k {
                    let p = Double(a[m * k + i]) * Double(w[j * k + i])
                    sum += p
                    scale += abs(p)
                }
                worst = max(worst, abs(Double(out[m * n + j]) - sum) / max(scale, 1e-30))
            }
        }
        return worst
    }

    @Test(arguments: [(1, 5, 7), (8, 32, 64), (9, 33, 65), (13, 70, 129), (20, 96, 1000), (3, 1, 2), (70, 40, 600), (9, 40, 8203)])
    func kernelMatchesDoubleReference(shape: (Int, Int, Int)) {
        let (rows, n, k) = shape
        var rng = SeededRandom(seed: UInt64(rows * 1000 + n * 10 + k))
        let x = rng.normal(rows * k), wf = rounded(rng.normal(n * k, scale: 0.1))
        var w = [UInt16](repeating: 0, count: n * k)
        omni_f32_to_bf16(wf, &w, n * k)
        let kp = (k + 1) & ~1, padded = (rows + 7) / 8 * 8
        var packed = [UInt16](repeating: 0, count: padded * kp)
        omni_pack_a_bf16(x, k, rows, k, &packed, kp)
        var scratch = [UInt16](repeating: 0, count: omni_gemm_bf16_scratch(k))
        for level in levels {
            omni_isa_set_thread(level)
            defer { omni_isa_set_thread(-1) }
            var out = [Float](repeating: .nan, count: rows * n)
            // Two column ranges, as two threads would split them (the second not tile-aligned).
            let split = min(n, 32)
            omni_gemm_bf16(packed, rows, kp, k, w, k, 0, split, &out, n, &scratch)
            omni_gemm_bf16(packed, rows, kp, k, w, k, split, n, &out, n, &scratch)
            let error = worstError(rows: rows, n: n, k: k, out: out, a: rounded(x), w: wf)
            #expect(error <= 1e-4, "\(rows)x\(n)x\(k) \(path): max error \(error) of sum |a w| > 1e-4")
            print("bf16 GEMM \(rows)x\(n)x\(k) \(path): max error \(error) of sum |a w| (<= 1e-4)")
        }
    }

    /// Weights packed once (`omni_pack_b_bf16_rows`, `omni_gemm_bf16_packed`): against the double
    /// reference (same tolerance), and bit for bit against the per-call packing of `omni_gemm_bf16`
    /// and against each row computed alone (in one range of tiles and in two): 1, 2, 3, 5 and 8-row
    /// groups, a weight stride past k, odd k, columns not a multiple of 32, k past one 4096-pair
    /// block, four whole tiles (one row runs them two and two). Both paths, every ISA level; the
    /// AVX2 kernels and the portable loop bit for bit.
    @Test(arguments: [(1, 5, 8), (2, 40, 33), (3, 33, 64), (5, 70, 129), (13, 64, 896), (70, 37, 46), (6, 64, 2050), (9, 40, 8203), (1, 200, 300), (1, 96, 8203), (3, 136, 70)])
    func packedWeightsMatchReferenceAndPerCallPacking(shape: (Int, Int, Int)) {
        let (rows, n, k) = shape
        var rng = SeededRandom(seed: UInt64(rows * 7919 + n * 31 + k))
        let ldw = k + 6
        let x = rng.normal(rows * k), wf = rounded(rng.normal(n * ldw, scale: 0.1))
        var w = [UInt16](repeating: 0, count: n * ldw)
        omni_f32_to_bf16(wf, &w, n * ldw)
        let kp = (k + 1) & ~1, padded = (rows + 7) / 8 * 8
        var a = [UInt16](repeating: 0, count: padded * kp)
        omni_pack_a_bf16(x, k, rows, k, &a, kp)
        let tiles = (n + 31) / 32
        let dense = Array((0..<n).flatMap { j in wf[(j * ldw)..<(j * ldw + k)] })
        var byPath: [String: [UInt32]] = [:]
        for level in levels {
            omni_isa_set_thread(level)
            defer { omni_isa_set_thread(-1) }
            var packed = [UInt16](repeating: 0xFFFF, count: omni_gemm_bf16_packed_count(n, k))
            w.withUnsafeBufferPointer { wb in
                let rows: [UnsafePointer<UInt16>?] = (0..<n).map { wb.baseAddress! + $0 * ldw }
                omni_pack_b_bf16_rows(rows, n, k, 0, 1, &packed)  // in two calls, as threads split it
                omni_pack_b_bf16_rows(rows, n, k, 1, tiles, &packed)
            }
            var out = [Float](repeating: .nan, count: rows * n)
            omni_gemm_bf16_packed(a, rows, kp, packed, n, 0, 1, &out, n, tiles)
            omni_gemm_bf16_packed(a, rows, kp, packed, n, 1, tiles, &out, n, tiles)
            let error = worstError(rows: rows, n: n, k: k, out: out, a: rounded(x), w: dense)
            #expect(error <= 1e-4, "packed \(rows)x\(n)x\(k) \(path): max error \(error) of sum |a w| > 1e-4")
            print("bf16 GEMM, packed weights, \(rows)x\(n)x\(k) \(path): max error \(error) of sum |a w| (<= 1e-4)")

            var perCall = [Float](repeating: .nan, count: rows * n)
            var scratch = [UInt16](repeating: 0, count: omni_gemm_bf16_scratch(k))
            omni_gemm_bf16(a, rows, kp, k, w, ldw, 0, n, &perCall, n, &scratch)
            #expect(perCall.map(\.bitPattern) == out.map(\.bitPattern), "\(rows)x\(n)x\(k) \(path): packed once != per call")
            byPath[path] = out.map(\.bitPattern)
            if path != "avx512bf16" { // bf16-rounded activations split once: the same bits
                var xs = [Float](repeating: .nan, count: omni_split_count(rows, k))
                omni_split_activations(x, k, rows, k, 1, 0, (rows + 3) / 4 * 4, &xs)
                var split = [Float](repeating: .nan, count: rows * n)
                omni_gemm_split_packed(xs, rows, k, packed, n, 0, tiles, &split, n, tiles)
                #expect(split.map(\.bitPattern) == out.map(\.bitPattern), "\(rows)x\(n)x\(k) \(path): split bf16 != packed bf16")
            }
            for r in [0, rows / 2, rows - 1] {
                var alone = [UInt16](repeating: 0, count: 8 * kp)
                omni_pack_a_bf16(Array(x[(r * k)..<(r * k + k)]), k, 1, k, &alone, kp)
                var row = [Float](repeating: .nan, count: n)
                omni_gemm_bf16_packed(alone, 1, kp, packed, n, 0, tiles, &row, n, tiles)
                #expect(row.map(\.bitPattern) == out[(r * n)..<(r * n + n)].map(\.bitPattern),
                        "\(rows)x\(n)x\(k) \(path): row \(r) alone differs from it among \(rows)")
                // In two ranges, the first told that its thread goes on a tile past the second's
                // start (the batch-1 kernels prefetch there): prefetches move, results do not.
                let mid = tiles / 2
                var parts = [Float](repeating: .nan, count: n)
                omni_gemm_bf16_packed(alone, 1, kp, packed, n, 0, mid, &parts, n, min(mid + 1, tiles))
                omni_gemm_bf16_packed(alone, 1, kp, packed, n, mid, tiles, &parts, n, tiles)
                #expect(parts.map(\.bitPattern) == row.map(\.bitPattern),
                        "\(rows)x\(n)x\(k) \(path): row \(r) in two ranges differs from it in one")
            }
        }
        // The AVX2 kernels sum as the portable loop does (one FMA per element in k order).
        if let avx2 = byPath["avx2"], let portable = byPath["portable"] {
            #expect(avx2 == portable, "\(rows)x\(n)x\(k): AVX2 != portable")
        }
    }

    /// f32 activations against bf16 weights (the default precision), split once per product:
    /// `omni_gemm_split_packed` against the double reference on the unrounded activations (same
    /// tolerance), bit for bit against `omni_gemm_split` (tiles packed per call, in two column
    /// ranges) and row by row (told of different next tiles), at every level; AVX2 and portable bit
    /// for bit.
    /// Batch 1 runs whole tiles three and two at a time: (1, 200, 300) takes 3 + 2 tiles (from tile
    /// 1, as the second call starts there) and a narrow one, (1, 96, 8203) three tiles over more
    /// pairs than one block of the per-call path, (1, 160, 64) four tiles as two and two.
    @Test(arguments: [(1, 5, 7), (3, 33, 64), (5, 70, 129), (13, 64, 896), (70, 37, 47), (6, 64, 2051), (9, 40, 8203),
                      (1, 200, 300), (1, 96, 8203), (4, 160, 896), (1, 160, 64)])
    func f32ActivationsMatchReferenceAndAreBatchInvariant(shape: (Int, Int, Int)) {
        let (rows, n, k) = shape
        var rng = SeededRandom(seed: UInt64(rows * 131 + n * 17 + k))
        let ldx = k + 3, ldw = k + 5
        let x = rng.normal(rows * ldx), wf = rounded(rng.normal(n * ldw, scale: 0.1))
        var w = [UInt16](repeating: 0, count: n * ldw)
        omni_f32_to_bf16(wf, &w, n * ldw)
        let tiles = (n + 31) / 32
        let dense = Array((0..<n).flatMap { j in wf[(j * ldw)..<(j * ldw + k)] })
        let xd = Array((0..<rows).flatMap { r in x[(r * ldx)..<(r * ldx + k)] })
        var xs = [Float](repeating: .nan, count: omni_split_count(rows, k))
        omni_split_activations(x, ldx, rows, k, 0, 0, (rows + 3) / 4 * 4, &xs)
        var byPath: [String: [UInt32]] = [:]
        for level in levels {
            omni_isa_set_thread(level)
            defer { omni_isa_set_thread(-1) }
            let path = omni_isa_active() >= 1 ? "avx2" : "portable"
            var packed = [UInt16](repeating: 0xFFFF, count: omni_gemm_bf16_packed_count(n, k))
            w.withUnsafeBufferPointer { wb in
                let rowPointers: [UnsafePointer<UInt16>?] = (0..<n).map { wb.baseAddress! + $0 * ldw }
                omni_pack_b_bf16_rows(rowPointers, n, k, 0, tiles, &packed)
            }
            var out = [Float](repeating: .nan, count: rows * n)
            omni_gemm_split_packed(xs, rows, k, packed, n, 0, 1, &out, n, 1)
            omni_gemm_split_packed(xs, rows, k, packed, n, 1, tiles, &out, n, tiles)
            let error = worstError(rows: rows, n: n, k: k, out: out, a: xd, w: dense)
            #expect(error <= 1e-4, "f32 x bf16 \(rows)x\(n)x\(k) \(path): max error \(error) of sum |a w| > 1e-4")
            print("GEMM f32 activations x bf16 weights \(rows)x\(n)x\(k) \(path): max error \(error) of sum |a w| (<= 1e-4)")
            var perCall = [Float](repeating: .nan, count: rows * n)
            var scratch = [UInt16](repeating: 0, count: omni_gemm_bf16_scratch(k))
            omni_gemm_split(xs, rows, k, w, ldw, 0, min(n, 32), &perCall, n, &scratch)
            omni_gemm_split(xs, rows, k, w, ldw, min(n, 32), n, &perCall, n, &scratch)
            #expect(perCall.map(\.bitPattern) == out.map(\.bitPattern), "\(rows)x\(n)x\(k) \(path): packed once != per call")
            for r in Set([0, rows / 2, rows - 1]) {
                var alone = [Float](repeating: .nan, count: omni_split_count(1, k))
                omni_split_activations(Array(x[(r * ldx)..<(r * ldx + k)]), k, 1, k, 0, 0, 4, &alone)
                var row = [Float](repeating: .nan, count: n)
                // What the thread is told comes next (`after`) moves its prefetches only.
                omni_gemm_split_packed(alone, 1, k, packed, n, 0, tiles, &row, n, [tiles, 3, 2][r % 3])
                #expect(row.map(\.bitPattern) == out[(r * n)..<(r * n + n)].map(\.bitPattern),
                        "\(rows)x\(n)x\(k) \(path): row \(r) alone differs from it among \(rows)")
            }
            byPath[path] = out.map(\.bitPattern)
        }
        if let avx2 = byPath["avx2"], let portable = byPath["portable"] {
            #expect(avx2 == portable, "\(rows)x\(n)x\(k): AVX2 != portable")
        }
    }

    /// Through the backend: linear over bf16 weights in bf16 mode against the f32 mode, beyond the
    /// small-batch limit (rows > 48), threaded, with a bias.
    @Test func linearInBF16ModeAgreesWithF32Mode() {
        var rng = SeededRandom(seed: 99)
        for (rows, k) in [(70, 257), (70, 256), (20, 256)] {  // packed (odd k and many rows) and unpacked
        let n = 100
        let x = Tensor(rng.normal(rows * k), shape: [rows, k])
        let fp = CPUBackend(threads: 2, matmulPrecision: .float32), bf = CPUBackend(threads: 2, matmulPrecision: .bfloat16)
        let w = fp.cast(Tensor(rng.normal(n * k, scale: 0.1), shape: [n, k]), to: .bf16)
        let bias = Tensor(rng.normal(n), shape: [n])
        let exact = fp.linear(x, weight: w, bias: bias).toFloats()
        let fast = bf.linear(x, weight: w, bias: bias).toFloats()
        let reference = fp.linear(Tensor(rounded(x.toFloats()), shape: [rows, k]), weight: w, bias: bias).toFloats()
        // Against the f32 GEMM of the bf16-rounded activations: summation order only.
        let orderError = zip(fast, reference).map { abs($0 - $1) }.max()!
        // Against f32 activations: the bf16 rounding of x (2^-9 relative per element).
        let roundingError = zip(fast, exact).map { abs($0 - $1) }.max()!, scale = exact.map(abs).max()!
        #expect(orderError <= 1e-4 * scale, "max |bf16 mode - f32 GEMM of rounded x| \(orderError)")
        #expect(roundingError <= 2e-2 * scale, "max |bf16 mode - f32 mode| \(roundingError) of max \(scale)")
        print("linear \(rows)x\(k) -> 100, bf16 mode: \(orderError / scale) (order), \(roundingError / scale) (bf16 activations) of max |y|")
        }
    }
}

/// Products with bf16 weights through the backend, in both precisions: a row's result does not
/// depend on how many rows it came with,
/// whether the weight's packed copy is made for the call (<= 128 rows), used after it was made, or
/// not there (many rows, packed per call by a second backend that never saw few rows).
@Suite struct BF16BatchInvarianceTests {
    @Test(arguments: CPUBackend.MatmulPrecision.allCases)
    func linearRowsAreBatchInvariant(precision: CPUBackend.MatmulPrecision) {
        var rng = SeededRandom(seed: 4242)
        let n = 70, k = 97, rows = 200
        let fresh = { CPUBackend(threads: 2, matmulPrecision: precision) }
        let w = fresh().cast(Tensor(rng.normal(n * k, scale: 0.1), shape: [n, k]), to: .bf16)
        let x = rng.normal(rows * k)
        let manyFirst = fresh().linear(Tensor(x, shape: [rows, k]), weight: w, bias: nil).toFloats()
        let bf = fresh()
        for count in [1, 3, 5, 8, 47, 49, 64, 129, 200] {
            let part = bf.linear(Tensor(Array(x[0..<(count * k)]), shape: [count, k]), weight: w, bias: nil).toFloats()
            #expect(part.map(\.bitPattern) == manyFirst[0..<(count * n)].map(\.bitPattern), "\(precision): first \(count) rows differ")
        }
    }

    /// Parts multiplied without a stacked copy (bf16 mode packs them into one, the tiles crossing the
    /// parts' boundaries at 40 and 47 rows) give the stacked weight's results bit for bit, with a
    /// bias, for a decode row, a small batch and a prefill-sized one; f32 mode stacks them per call.
    @Test func stackedPartsEqualTheStackedWeight() {
        var rng = SeededRandom(seed: 77)
        let k = 96
        for precision in CPUBackend.MatmulPrecision.allCases {
            let bf = CPUBackend(threads: 2, matmulPrecision: precision)
            let parts = [40, 7, 25].map { bf.cast(Tensor(rng.normal($0 * k, scale: 0.1), shape: [$0, k]), to: .bf16) }
            let bias = Tensor(rng.normal(72), shape: [72])
            #expect(bf.multipliesStackedParts(parts))
            #expect(!bf.multipliesStackedParts([Tensor(rng.normal(8 * k), shape: [8, k])]), "f32 weights are stacked")
            let stacked = bf.concat(parts, dim: 0)
            for rows in [1, 5, 200] {
                let x = Tensor(rng.normal(rows * k), shape: [rows, k])
                let fromParts = bf.linear(x, stacked: parts, bias: bias).toFloats()
                let fromStacked = bf.linear(x, weight: stacked, bias: bias).toFloats()
                #expect(fromParts.map(\.bitPattern) == fromStacked.map(\.bitPattern), "\(precision), \(rows) rows: parts != stacked")
            }
        }
    }


    @Test func derivedBuffersAreMadeOncePerKey() {
        let storage = Storage(byteCount: 64)
        var made = 0
        let make = { () -> Storage in made += 1; return Storage(byteCount: 16) }
        let first = storage.derived(Storage.DerivedKey([1]), make: make), again = storage.derived(Storage.DerivedKey([1]), make: make)
        let other = storage.derived(Storage.DerivedKey([2]), make: make)
        #expect(first === again && first !== other && made == 2)
        #expect(storage.existingDerived(Storage.DerivedKey([1])) === first && storage.existingDerived(Storage.DerivedKey([3])) == nil)
    }
}

/// The blocked unmasked attention (query blocks of 32 rows as two small GEMMs) against the row-by-row
/// path, forced by an all-zero additive mask, on shapes with a partial last block, GQA and a value
/// width unlike the key's. Both are parity-tested against torch elsewhere (op fixtures; the DiT and
/// VAE suites run the blocked path); here they must agree to 1e-5 of max |out|.
@Suite struct BlockedAttentionTests {
    @Test(arguments: [(1, 2, 1, 32, 32, 16, 16), (2, 4, 2, 70, 45, 24, 20), (1, 3, 3, 100, 130, 64, 64)])
    func blockedEqualsRowByRow(shape: (Int, Int, Int, Int, Int, Int, Int)) {
        let (b, hq, hkv, sq, sk, d, dv) = shape
        var rng = SeededRandom(seed: UInt64(sq * 7 + sk))
        let cpu = CPUBackend(threads: 2)
        let q = Tensor(rng.normal(b * hq * sq * d), shape: [b, hq, sq, d])
        let k = Tensor(rng.normal(b * hkv * sk * d), shape: [b, hkv, sk, d])
        let v = Tensor(rng.normal(b * hkv * sk * dv), shape: [b, hkv, sk, dv])
        let blocked = cpu.attention(query: q, key: k, value: v, mask: nil, causal: nil, scale: nil).toFloats()
        let zero = Tensor(zeros: [sq, sk])
        let rows = cpu.attention(query: q, key: k, value: v, mask: zero, causal: nil, scale: nil).toFloats()
        let diff = zip(blocked, rows).map { abs($0 - $1) }.max()!, scale = rows.map(abs).max()!
        #expect(diff <= 1e-5 * scale, "\(shape): max diff \(diff) of max |out| \(scale)")
        print("blocked attention \(shape): max diff \(diff / scale) of max |out| (<= 1e-5)")
    }

    /// The bf16-mode attention (Q, K, V and the softmax weights rounded to bf16, f32 sums) against
    /// the f32 path on the same inputs: partial last blocks (130 and 300 query rows against blocks
    /// of 128), an odd head size, GQA and a value width unlike the key's. Tolerance 2e-2 of max
    /// |out|: bf16 keeps 8 significant bits (2^-9 relative per rounded value), and each output is
    /// a weighted mean of rounded values with rounded weights.
    @Test(arguments: [(1, 2, 1, 130, 45, 16, 24), (1, 3, 3, 300, 257, 33, 64)])
    func bf16ModeAgreesWithF32(shape: (Int, Int, Int, Int, Int, Int, Int)) {
        let (b, hq, hkv, sq, sk, d, dv) = shape
        var rng = SeededRandom(seed: UInt64(sq * 13 + sk))
        let q = Tensor(rng.normal(b * hq * sq * d), shape: [b, hq, sq, d])
        let k = Tensor(rng.normal(b * hkv * sk * d), shape: [b, hkv, sk, d])
        let v = Tensor(rng.normal(b * hkv * sk * dv), shape: [b, hkv, sk, dv])
        let f32 = CPUBackend(threads: 2, matmulPrecision: .float32).attention(query: q, key: k, value: v, mask: nil, causal: nil, scale: nil).toFloats()
        let bf16 = CPUBackend(threads: 2, matmulPrecision: .bfloat16).attention(query: q, key: k, value: v, mask: nil, causal: nil, scale: nil).toFloats()
        let diff = zip(bf16, f32).map { abs($0 - $1) }.max()!, scale = f32.map(abs).max()!
        #expect(diff <= 2e-2 * scale, "\(shape): max diff \(diff) of max |out| \(scale)")
        print("bf16-mode attention \(shape): max diff \(diff / scale) of max |out| (<= 2e-2)")
    }
}
