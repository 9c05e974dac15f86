import CKernels
import Foundation
import Testing

/// Every instruction-set level the CPU has must compute what the portable C level computes: the
/// same bits for conversions, and for the loops the error a different summation order allows.
/// Levels are set for the test's own thread (`omni_isa_set_thread`), so suites running at the same
/// time, which need bit-for-bit repeatable results, keep computing at the process-wide level.
///
/// Tolerances: conversions bit-exact (NaN matches NaN; a bf16 NaN must be 0x7FC0 at every level);
/// dot/gemv within 1e-5 of a double-precision reference, relative to `sum |w·x|` (the scale of
/// the rounding error of any summation order); softmax, rmsnorm, sumsq, binary and unary within
/// 1e-6 elementwise of portable (gelu: floor 1e-2·max, its tail is a cancellation that FMA
/// contraction moves; axpy: relative to |y| + |a·x|, as an FMA rounds once where mul+add rounds
/// twice).
@Suite("ISA levels agree with portable C", .serialized)
struct ISADispatchTests {
    static let levels: [Int32] = Array(0...omni_isa_detected())
    static let names = ["portable", "avx2", "avx512"]
    static let sizes = [1, 7, 8, 17, 33, 64, 257, 1000]

    @Test func setClampsToDetectedLevel() {
        defer { omni_isa_set_thread(-1) }
        let detected = omni_isa_detected()
        for level in Self.levels {
            #expect(omni_isa_set_thread(level) == level)
            #expect(omni_isa_active() == level)
        }
        #expect(omni_isa_set_thread(detected + 1) == detected)
        #expect(omni_isa_set_thread(-1) == -1)
        #expect(omni_isa_active() == detected || ProcessInfo.processInfo.environment["OMNI_CPU_ISA"] != nil)
        // Another thread keeps the process-wide level while this one overrides it.
        omni_isa_set_thread(0)
        final class Seen: @unchecked Sendable { var level: Int32 = -2 }
        let seen = Seen(), done = DispatchSemaphore(value: 0)
        Thread { seen.level = omni_isa_active(); done.signal() }.start()
        done.wait()
        omni_isa_set_thread(-1)
        #expect(seen.level == omni_isa_detected() || ProcessInfo.processInfo.environment["OMNI_CPU_ISA"] != nil)
        print("ISA: detected \(Self.names[Int(detected)]), avx512bf16 \(omni_cpu_has_avx512bf16() != 0)")
    }

    /// The small-batch GEMM (decode steps of several sequences) against float64, for every batch
    /// size that exercises a different tile path (1-3 rows, 4x4 tiles, leftovers) and odd k.
    @Test(arguments: levels)
    func smallBatchGEMMMatchesDoubleReference(level: Int32) {
        var rng = SeededRandom(seed: 12)
        for dtype in [OMNI_DT_F32, OMNI_DT_BF16, OMNI_DT_F16] {
            var worst = 0.0
            for (m, k) in [(1, 45), (3, 16), (2, 130), (4, 33), (7, 100), (9, 17)] {
                let rows = 39, ldw = k + 5, ldx = k + 2, ldy = rows + 3
                let x = rng.normal(m * ldx), wValues = rng.normal(rows * ldw)
                let bytes = storage(wValues, dtype: dtype)
                var y = [Float](repeating: .nan, count: m * ldy)
                atLevel(level) {
                    bytes.withUnsafeBytes { omni_gemm_small($0.baseAddress, Int32(dtype.rawValue), ldw, x, ldx, &y, ldy, m, rows, k) }
                }
                let w = roundTrip(wValues, dtype: dtype)
                for i in 0..<m {
                    for r in 0..<rows {
                        var exact = 0.0, scale = 0.0
                        for j in 0..<k {
                            exact += Double(w[r * ldw + j]) * Double(x[i * ldx + j])
                            scale += abs(Double(w[r * ldw + j]) * Double(x[i * ldx + j]))
                        }
                        worst = max(worst, abs(Double(y[i * ldy + r]) - exact) / max(scale, 1e-30))
                    }
                }
            }
            report("gemm_small \(dtypeName(dtype)) @\(Self.names[Int(level)])", worst, 1e-5)
        }
    }

    @Test(arguments: levels)
    func gemvMatchesDoubleReference(level: Int32) {
        var rng = SeededRandom(seed: 11)
        for dtype in [OMNI_DT_F32, OMNI_DT_BF16, OMNI_DT_F16] {
            var worst = 0.0
            for k in Self.sizes {
                let rows = 37, ldw = k + 3
                let x = rng.normal(k)
                let wValues = rng.normal(rows * ldw)
                let y = atLevel(level) { gemv(wValues, dtype: dtype, ldw: ldw, x: x, rows: rows, k: k) }
                let w = roundTrip(wValues, dtype: dtype)
                for r in 0..<rows {
                    var exact = 0.0, scale = 0.0
                    for i in 0..<k {
                        exact += Double(w[r * ldw + i]) * Double(x[i])
                        scale += abs(Double(w[r * ldw + i]) * Double(x[i]))
                    }
                    worst = max(worst, abs(Double(y[r]) - exact) / max(scale, 1e-30))
                }
            }
            report("gemv \(dtypeName(dtype)) @\(Self.names[Int(level)])", worst, 1e-5)
        }
        var worst = 0.0
        for n in Self.sizes {
            let a = rng.normal(n), b = rng.normal(n)
            let dot = atLevel(level) { omni_dot_f32(a, b, n) }
            var exact = 0.0, scale = 0.0
            for i in 0..<n { exact += Double(a[i]) * Double(b[i]); scale += abs(Double(a[i]) * Double(b[i])) }
            worst = max(worst, abs(Double(dot) - exact) / scale)
        }
        report("dot f32 @\(Self.names[Int(level)])", worst, 1e-5)
    }

    @Test(arguments: levels)
    func conversionsAreBitIdentical(level: Int32) {
        var rng = SeededRandom(seed: 12)
        let specials: [Float] = [0, -0, 1, -1, .infinity, -.infinity, .nan, -.nan, .greatestFiniteMagnitude,
                                 .leastNonzeroMagnitude, .leastNormalMagnitude, 65504, 65519, 65520, 1e-40, 6e-8]
        let values = specials + rng.wide(1001, decades: 40) + rng.normal(1000)
        let n = values.count
        for (name, convert) in [("f32->bf16", omni_f32_to_bf16), ("f32->f16", omni_f32_to_f16)] as [(String, (UnsafePointer<Float>?, UnsafeMutablePointer<UInt16>?, Int) -> Void)] {
            var portable = [UInt16](repeating: 0, count: n), here = portable
            atLevel(0) { convert(values, &portable, n) }
            atLevel(level) { convert(values, &here, n) }
            let differing = (0..<n).filter { portable[$0] != here[$0] && !(isNaN16(portable[$0], name) && isNaN16(here[$0], name)) }
            #expect(differing.isEmpty, "\(name) @\(Self.names[Int(level)]): \(differing.count) values differ from portable, first \(differing.first.map { "\(values[$0])" } ?? "")")
            if name == "f32->bf16" {
                let nanBits = (0..<n).filter { values[$0].isNaN }.map { here[$0] }
                #expect(nanBits.allSatisfy { $0 == 0x7FC0 }, "f32->bf16 @\(Self.names[Int(level)]): NaN became \(nanBits.map { String($0, radix: 16) })")
            } else {
                // Swift's own Float16 conversion rounds to nearest even: an independent reference.
                let wrong = (0..<n).filter { !values[$0].isNaN && here[$0] != Float16(values[$0]).bitPattern }
                #expect(wrong.isEmpty, "f32->f16 @\(Self.names[Int(level)]): \(wrong.count) differ from Float16(_:), first \(wrong.first.map { "\(values[$0])" } ?? "")")
            }
        }
        let allBits = (0...UInt16.max).map { $0 }
        for (name, convert) in [("bf16->f32", omni_bf16_to_f32), ("f16->f32", omni_f16_to_f32)] as [(String, (UnsafePointer<UInt16>?, UnsafeMutablePointer<Float>?, Int) -> Void)] {
            var here = [Float](repeating: 0, count: allBits.count)
            atLevel(level) { convert(allBits, &here, allBits.count) }
            let wrong = allBits.indices.filter { i in
                let want: Float = name == "bf16->f32" ? Float(bitPattern: UInt32(allBits[i]) << 16) : Float(Float16(bitPattern: allBits[i]))
                return want.isNaN ? !here[i].isNaN : here[i].bitPattern != want.bitPattern
            }
            #expect(wrong.isEmpty, "\(name) @\(Self.names[Int(level)]): \(wrong.count) of 65536 bit patterns wrong, first 0x\(wrong.first.map { String(allBits[$0], radix: 16) } ?? "")")
        }
        print("conversions @\(Self.names[Int(level)]): bit-identical to portable (f32->bf16, f32->f16 on \(n) values; bf16/f16->f32 on all 65536 patterns)")
    }

    @Test(arguments: levels)
    func rowKernelsMatchPortable(level: Int32) {
        var rng = SeededRandom(seed: 13)
        let tag = "@\(Self.names[Int(level)])"
        var softmaxWorst = 0.0, rmsWorst = 0.0, sumsqWorst = 0.0
        for n in Self.sizes {
            var row = rng.normal(n, scale: 10)
            if n > 4 { row[1] = -.infinity; row[n - 2] = -.infinity }
            var a = row, b = row
            atLevel(0) { omni_softmax_f32(&a, n) }
            atLevel(level) { omni_softmax_f32(&b, n) }
            softmaxWorst = max(softmaxWorst, elementwiseError(b, a, floor: 0))

            let x = rng.normal(n, scale: 3)
            let sumsqA = atLevel(0) { omni_sumsq_f32(x, n) }, sumsqB = atLevel(level) { omni_sumsq_f32(x, n) }
            sumsqWorst = max(sumsqWorst, abs(sumsqA - sumsqB) / sumsqA)
            let weight = rng.normal(n)
            for dtype in [nil, OMNI_DT_F32, OMNI_DT_BF16, OMNI_DT_F16] {
                let w: [UInt8] = dtype.map { storage(weight, dtype: $0) } ?? []
                let code = Int32(dtype?.rawValue ?? 0)
                var outA = [Float](repeating: 0, count: n), outB = outA
                w.withUnsafeBytes { wp in
                    let p = dtype == nil ? nil : wp.baseAddress
                    atLevel(0) { omni_rmsnorm_f32(x, p, code, &outA, n, 1e-6) }
                    atLevel(level) { omni_rmsnorm_f32(x, p, code, &outB, n, 1e-6) }
                }
                rmsWorst = max(rmsWorst, elementwiseError(outB, outA, floor: 0))
            }
        }
        report("softmax \(tag)", softmaxWorst, 1e-6)
        report("rmsnorm (none/f32/bf16/f16 weight) \(tag)", rmsWorst, 1e-6)
        report("sumsq \(tag)", sumsqWorst, 1e-6)
    }

    /// Paged attention, over an f32 cache and over a bf16 cache read in place: bit-identical to
    /// portable at every level (every sum runs in one fixed order at every level), and the bf16
    /// cache's result bit-identical to the f32 kernel's over the widened values. Shapes cross the
    /// kernels' lane counts (8, 16, 64 and a second group of 64), a value size with a narrow last
    /// slice (72 = 64 + 8 with AVX2, 32 + 32 + 8 with AVX-512), rows that see different numbers of
    /// keys, and a scattered block table.
    @Test(arguments: levels)
    func pagedAttentionMatchesPortable(level: Int32) {
        var rng = SeededRandom(seed: 29)
        let block = 4, blocks = 40, kvHeads = 2
        for (rows, headDim, valueDim, context) in [(7, 64, 64, 80), (12, 20, 72, 33), (40, 64, 72, 61), (70, 16, 16, 90)] {
            let table = (0..<((context + block - 1) / block)).map { Int32((blocks - 1 - 3 * $0 + 3 * blocks) % blocks) }
            let kStride = kvHeads * headDim, vStride = kvHeads * valueDim
            // The second KV head's part of the cache: each row starts part-way into the cache's row.
            let keys16 = Array(rng.normal(blocks * block * kStride).map(HalfBits.bf16)[headDim...])
            let values16 = Array(rng.normal(blocks * block * vStride).map(HalfBits.bf16)[valueDim...])
            let widen = { (b: UInt16) in Float(bitPattern: UInt32(b) << 16) }
            let keys = keys16.map(widen), values = values16.map(widen)
            let queries = rng.normal(rows * headDim, scale: 2)
            let visible = (0..<rows).map { context - (rows - 1 - $0) % 9 } // a few rows see fewer keys
            let scale = 1 / Float(headDim).squareRoot()
            var scratch = [Float](repeating: 0, count: omni_paged_attention_scratch(context, headDim))
            func attention(_ level: Int32, bf16: Bool) -> [Float] {
                var out = [Float](repeating: .nan, count: rows * valueDim)
                queries.withUnsafeBufferPointer { q in
                    out.withUnsafeMutableBufferPointer { o in
                        let qRows: [UnsafePointer<Float>?] = (0..<rows).map { q.baseAddress! + $0 * headDim }
                        let oRows: [UnsafeMutablePointer<Float>?] = (0..<rows).map { o.baseAddress! + $0 * valueDim }
                        atLevel(level) {
                            if bf16 {
                                omni_paged_attention_bf16(rows, qRows, oRows, visible, keys16, kStride, values16, vStride,
                                                          table, block, headDim, valueDim, scale, &scratch)
                            } else {
                                omni_paged_attention_f32(rows, qRows, oRows, visible, keys, kStride, values, vStride,
                                                         table, block, headDim, valueDim, scale, &scratch)
                            }
                        }
                    }
                }
                return out
            }
            let want = attention(0, bf16: false)
            let shape = "\(rows) rows, d \(headDim)/\(valueDim), ctx \(context) @\(Self.names[Int(level)])"
            #expect(want.allSatisfy { !$0.isNaN }, "\(shape): an output was not written")
            #expect(attention(level, bf16: false).map(\.bitPattern) == want.map(\.bitPattern), "f32 cache, \(shape)")
            #expect(attention(level, bf16: true).map(\.bitPattern) == want.map(\.bitPattern), "bf16 cache, \(shape)")
        }
    }

    /// exp (our own polynomial, used by softmax, silu and sigmoid): bit-identical at every level,
    /// and within 1 ulp of the correctly rounded e^x (double exp, rounded) over 2^20 points of
    /// [-104, 89] (subnormal results included), with inf, 0 and NaN where they belong.
    @Test func expIsIdenticalAtEveryLevelAndWithinOneULP() {
        let count = 1 << 20
        var x = (0..<count).map { Float(-104.0 + 193.0 * Double($0) / Double(count - 1)) }
        x += [0, -0, 1, -1, 88.72283, 88.72284, 89, 100, -87.33, -103.97, -103.98, -150, .infinity, -.infinity, .nan, 1e-30, -1e-30]
        let n = x.count
        var results: [[Float]] = []
        for level in Self.levels {
            var y = [Float](repeating: 0, count: n)
            atLevel(level) { omni_unary_f32(5, x, &y, n) }  // OMNI_EXP
            results.append(y)
        }
        for (level, y) in results.enumerated().dropFirst() {
            let differing = (0..<n).filter { y[$0].bitPattern != results[0][$0].bitPattern && !(y[$0].isNaN && results[0][$0].isNaN) }
            #expect(differing.isEmpty, "exp @\(Self.names[level]): \(differing.count) values differ from portable, first x = \(differing.first.map { "\(x[$0])" } ?? "")")
        }
        var worstULP: Float = 0
        for i in 0..<n {
            let want = Float(Foundation.exp(Double(x[i]))), got = results[0][i]
            if want.isNaN || x[i].isNaN { #expect(got.isNaN && x[i].isNaN); continue }
            if want.isInfinite || want == 0 { #expect(got == want || abs(got - want) <= want.ulp, "exp(\(x[i])) = \(got), want \(want)"); continue }
            worstULP = max(worstULP, abs(got - want) / want.ulp)
        }
        print("exp: identical at \(Self.levels.count) levels, max error \(worstULP) ulp (<= 1) over \(n) values")
        #expect(worstULP <= 1, "exp: max error \(worstULP) ulp > 1")
    }

    @Test(arguments: levels)
    func elementwiseKernelsMatchPortable(level: Int32) {
        var rng = SeededRandom(seed: 14)
        let tag = "@\(Self.names[Int(level)])"
        let n = 1000
        let x = rng.normal(n, scale: 4), positive = rng.wide(n, decades: 10).map(abs), y = rng.normal(n)
        for op in 0...15 {
            let input = [7, 8, 11].contains(op) || op == 15 ? positive : x  // sqrt, rsqrt, log, reciprocal
            var a = [Float](repeating: 0, count: n), b = a
            atLevel(0) { omni_unary_f32(Int32(op), input, &a, n) }
            atLevel(level) { omni_unary_f32(Int32(op), input, &b, n) }
            report("unary op \(op) \(tag)", elementwiseError(b, a, floor: op == 1 || op == 2 ? 1e-2 : 0), 1e-6, quiet: true)
        }
        for op in 0...6 {
            let lhs = op == 6 ? positive.map { min($0, 100) } : x
            for step in [0, 1, 3] {
                let rhs = step == 3 ? rng.normal(3 * n) : y
                var a = [Float](repeating: 0, count: n), b = a
                atLevel(0) { omni_binary_f32(Int32(op), lhs, rhs, step, &a, n) }
                atLevel(level) { omni_binary_f32(Int32(op), lhs, rhs, step, &b, n) }
                report("binary op \(op) step \(step) \(tag)", elementwiseError(b, a, floor: 0), 1e-6, quiet: true)
            }
        }
        var axA = y, axB = y, scA = x, scB = x
        atLevel(0) { omni_axpy_f32(0.37, x, &axA, n); omni_scale_f32(&scA, -1.7, n) }
        atLevel(level) { omni_axpy_f32(0.37, x, &axB, n); omni_scale_f32(&scB, -1.7, n) }
        var axpyError = 0.0
        for i in 0..<n {
            let scale = abs(Double(y[i])) + abs(0.37 * Double(x[i]))
            axpyError = max(axpyError, abs(Double(axB[i]) - Double(axA[i])) / scale)
        }
        report("axpy \(tag)", axpyError, 1e-6)
        report("scale \(tag)", elementwiseError(scB, scA, floor: 0), 0)
        print("unary ops 0-15 and binary ops 0-6 (steps 0, 1, 3) \(tag): within 1e-6 of portable")
    }

    /// The activations' split into even and odd elements (every bf16 product runs it): the same bits
    /// at every level, rounded to bf16 or not, for k odd and even, below and past a vector of pairs,
    /// over values that test the rounding (ties both ways, NaN of either sign, infinities, values
    /// that round up to infinity, subnormals).
    @Test(arguments: levels)
    func splitActivationsAreIdenticalToPortable(level: Int32) {
        var rng = SeededRandom(seed: 15)
        let special: [Float] = [.nan, -.nan, .infinity, -.infinity, .greatestFiniteMagnitude, -0.0, 0,
                                Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000), // ties: to even, up
                                Float(bitPattern: 0x0000_0001), Float(bitPattern: 0x807F_FFFF), Float(bitPattern: 0x7F7F_FFFF)]
        for k in [1, 2, 15, 16, 17, 33, 896, 4863] {
            let rows = 3, ldx = k + 3
            var x = rng.normal(rows * ldx, scale: 3)
            for (i, v) in special.enumerated() where i * 7 < x.count { x[i * 7] = v }
            for round in Int32(0)...1 {
                var want = [Float](repeating: 0, count: omni_split_count(rows, k)), got = want
                atLevel(0) { omni_split_activations(x, ldx, rows, k, round, 0, 4, &want) }
                atLevel(level) { omni_split_activations(x, ldx, rows, k, round, 0, 4, &got) }
                #expect(got.map(\.bitPattern) == want.map(\.bitPattern),
                        "split k=\(k) round=\(round) @\(Self.names[Int(level)]) differs from portable")
            }
        }
        print("split activations @\(Self.names[Int(level)]): bit-identical to portable (8 widths, f32 and bf16-rounded)")
    }

    /// The read probe's checksums cover every byte once: the XOR of all 64-bit words, whether read
    /// as one stream or as 2, 4 or 8 side by side, at every level.
    @Test(arguments: levels)
    func readChecksumsCoverEveryWord(level: Int32) {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let words: [UInt64] = (0..<(8 * 1024)).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return state
        }
        let want = words.reduce(0, ^)
        words.withUnsafeBytes { bytes in
            atLevel(level) {
                #expect(omni_read_checksum(bytes.baseAddress, bytes.count) == want, "one stream @\(Self.names[Int(level)])")
                for streams in [1, 2, 4, 8] {
                    #expect(omni_read_checksum_streams(bytes.baseAddress, bytes.count, streams) == want,
                            "\(streams) streams @\(Self.names[Int(level)])")
                }
            }
        }
    }

    // MARK: Helpers

    private func atLevel<T>(_ level: Int32, _ body: () -> T) -> T {
        omni_isa_set_thread(level)
        defer { omni_isa_set_thread(-1) }
        return body()
    }

    private func report(_ label: String, _ error: Double, _ tolerance: Double, quiet: Bool = false,
                        sourceLocation: SourceLocation = #_sourceLocation) {
        let passed = error <= tolerance
        let message = "\(label): \(passed ? "OK" : "FAIL") (max rel \(format(error)) \(passed ? "<=" : ">") \(format(tolerance)))"
        if !quiet || !passed { print(message) }
        #expect(passed, Comment(rawValue: message), sourceLocation: sourceLocation)
    }

    private func elementwiseError(_ got: [Float], _ want: [Float], floor: Double) -> Double {
        relativeError(got: got, want: want, floor: floor).error
    }

    private func gemv(_ w: [Float], dtype: omni_dtype, ldw: Int, x: [Float], rows: Int, k: Int) -> [Float] {
        let bytes = storage(w, dtype: dtype)
        var y = [Float](repeating: 0, count: rows)
        bytes.withUnsafeBytes { omni_gemv($0.baseAddress, Int32(dtype.rawValue), ldw, x, &y, rows, k) }
        return y
    }

    /// `values` stored in `dtype` (rounded to nearest even), as raw bytes.
    private func storage(_ values: [Float], dtype: omni_dtype) -> [UInt8] {
        switch dtype {
        case OMNI_DT_BF16, OMNI_DT_F16:
            var half = [UInt16](repeating: 0, count: values.count)
            if dtype == OMNI_DT_BF16 { omni_f32_to_bf16(values, &half, values.count) } else { omni_f32_to_f16(values, &half, values.count) }
            return half.withUnsafeBytes { Array($0) }
        default:
            return values.withUnsafeBytes { Array($0) }
        }
    }

    /// `values` as the kernels see them after storing in `dtype`.
    private func roundTrip(_ values: [Float], dtype: omni_dtype) -> [Float] {
        switch dtype {
        case OMNI_DT_BF16: values.map { Float(bitPattern: (UInt32(HalfBits.bf16($0)) << 16)) }
        case OMNI_DT_F16: values.map { Float(Float16($0)) }
        default: values
        }
    }

    private func isNaN16(_ bits: UInt16, _ conversion: String) -> Bool {
        conversion == "f32->bf16" ? (bits & 0x7F80) == 0x7F80 && (bits & 0x7F) != 0 : (bits & 0x7C00) == 0x7C00 && (bits & 0x3FF) != 0
    }

    private func dtypeName(_ dtype: omni_dtype) -> String {
        switch dtype {
        case OMNI_DT_BF16: "bf16"
        case OMNI_DT_F16: "f16"
        default: "f32"
        }
    }
}

/// Round-to-nearest-even f32 -> bf16 written out here, independent of the kernels under test.
enum HalfBits {
    static func bf16(_ value: Float) -> UInt16 {
        if value.isNaN { return 0x7FC0 }
        let u = value.bitPattern
        return UInt16(truncatingIfNeeded: (u &+ 0x7FFF &+ ((u >> 16) & 1)) >> 16)
    }
}
