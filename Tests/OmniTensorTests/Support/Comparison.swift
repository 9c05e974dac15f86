import Foundation
import OmniTensor
import Testing

/// How close a result must be to torch's.
///
/// The error is the maximum over elements of `|got - want| / max(|want|, floor * max|want|)`:
/// - `floor: 1` gives the normwise error `max|got - want| / max|want|`, the right measure for
///   results that are sums of many terms (matmul, conv, attention, norms), where an element near
///   zero is the difference of large terms and carries the absolute error of those terms;
/// - a small `floor` gives an elementwise relative error, for elementwise ops where every element
///   must be accurate relative to itself; elements below `floor * max|want|` are compared
///   absolutely against that level, so values that underflow in one library and not the other
///   (exp(-100): 3.7e-44 or 0) do not count.
/// Non-finite expectations must be matched exactly (NaN by NaN, inf by the same inf); a
/// non-finite result where torch has a finite one is an infinite error.
struct Tolerance: CustomStringConvertible {
    var maxError: Double
    var floor: Double

    static func normwise(_ maxError: Double) -> Tolerance { Tolerance(maxError: maxError, floor: 1) }
    static func elementwise(_ maxError: Double, floor: Double = 0) -> Tolerance { Tolerance(maxError: maxError, floor: floor) }
    static let exact = Tolerance(maxError: 0, floor: 0)

    var description: String {
        floor == 1 ? "normwise" : floor == 0 ? "elementwise" : "elementwise, floor \(format(floor))·max|want|"
    }
}

/// The error of `got` against `want` (see `Tolerance`), and where the worst element is.
struct ErrorReport {
    var error: Double
    var index: Int
    var got: Float
    var want: Float
}

func relativeError(got: [Float], want: [Float], floor: Double) -> ErrorReport {
    let finite = want.filter { $0.isFinite }
    let scale = finite.map { Double(abs($0)) }.max() ?? 0
    let level = max(floor * scale, Double(Float.leastNonzeroMagnitude))
    var worst = ErrorReport(error: 0, index: -1, got: 0, want: 0)
    for i in 0..<min(got.count, want.count) {
        let g = got[i], w = want[i]
        let e: Double
        if w.isNaN || g.isNaN {
            e = w.isNaN && g.isNaN ? 0 : .infinity
        } else if !w.isFinite || !g.isFinite {
            e = g == w ? 0 : .infinity
        } else {
            e = abs(Double(g) - Double(w)) / max(Double(abs(w)), level)
        }
        if e > worst.error || worst.index < 0 { worst = ErrorReport(error: e, index: i, got: g, want: w) }
    }
    return worst
}

/// Error in units in the last place of a 16-bit float format (`mantissaBits` 7 for bf16, 10 for
/// f16) at `max(|want|, floor * max|want|)`: both arguments hold values of that format.
func ulpError(got: [Float], want: [Float], mantissaBits: Int, floor: Double) -> ErrorReport {
    let scale = want.filter { $0.isFinite }.map { Double(abs($0)) }.max() ?? 0
    let minNormal = mantissaBits == 7 ? 0x1p-126 : 0x1p-14
    var worst = ErrorReport(error: 0, index: -1, got: 0, want: 0)
    for i in 0..<min(got.count, want.count) {
        let g = got[i], w = want[i]
        let e: Double
        if w.isNaN || g.isNaN {
            e = w.isNaN && g.isNaN ? 0 : .infinity
        } else if !w.isFinite || !g.isFinite {
            e = g == w ? 0 : .infinity
        } else {
            let magnitude = max(Double(abs(w)), floor * scale, minNormal)
            let ulp = Foundation.pow(2.0, Foundation.floor(log2(magnitude)) - Double(mantissaBits))
            e = abs(Double(g) - Double(w)) / ulp
        }
        if e > worst.error || worst.index < 0 { worst = ErrorReport(error: e, index: i, got: g, want: w) }
    }
    return worst
}

/// Records an expectation that `got` matches `want` within `tolerance`, in llm.c's style:
/// "silu_odd: OK (max rel 3.1e-07 <= 1e-05)". The line is printed whether or not it passes, so a
/// test run lists the achieved error of every case.
func expectClose(_ label: String, got: Tensor, want: Tensor, _ tolerance: Tolerance,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    guard got.shape == want.shape else {
        let message = "\(label): FAIL (shape \(got.shape), torch \(want.shape))"
        print(message)
        Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
        return
    }
    let report = relativeError(got: got.toFloats(), want: want.toFloats(), floor: tolerance.floor)
    let passed = report.error <= tolerance.maxError
    var message = "\(label): \(passed ? "OK" : "FAIL") (max rel \(format(report.error)) \(passed ? "<=" : ">") \(format(tolerance.maxError)), \(tolerance))"
    if !passed, report.index >= 0 {
        message += " at flat index \(report.index): got \(report.got), torch \(report.want)"
    }
    print(message)
    #expect(passed, Comment(rawValue: message), sourceLocation: sourceLocation)
}

/// Records an expectation that `got` (an f32 result) rounded to `want`'s 16-bit dtype is within
/// `maxUlps` of torch's native 16-bit result.
func expectWithinUlps(_ label: String, got: Tensor, want: Tensor, maxUlps: Double, floor: Double,
                      sourceLocation: SourceLocation = #_sourceLocation) {
    precondition(want.dtype == .bf16 || want.dtype == .f16, "ulp comparison against \(want.dtype)")
    guard got.shape == want.shape else {
        let message = "\(label): FAIL (shape \(got.shape), torch \(want.shape))"
        print(message)
        Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
        return
    }
    let rounded = backend.cast(got, to: want.dtype)
    let bits = want.dtype == .bf16 ? 7 : 10
    let report = ulpError(got: rounded.toFloats(), want: want.toFloats(), mantissaBits: bits, floor: floor)
    let passed = report.error <= maxUlps
    let measure = floor == 1 ? "normwise" : "elementwise, floor \(format(floor))·max|want|"
    var message = "\(label): \(passed ? "OK" : "FAIL") (max \(format(report.error)) \(want.dtype) ulp \(passed ? "<=" : ">") \(format(maxUlps)), \(measure))"
    if !passed, report.index >= 0 {
        message += " at flat index \(report.index): got \(report.got), torch \(report.want)"
    }
    print(message)
    #expect(passed, Comment(rawValue: message), sourceLocation: sourceLocation)
}

/// Records an expectation that two tensors hold the same dtype, shape and bits (NaNs match any NaN:
/// torch itself gives 0x7FC0 or 0xFFFF for a bf16 NaN depending on whether its vectorised path ran).
func expectBitExact(_ label: String, got: Tensor, want: Tensor, sourceLocation: SourceLocation = #_sourceLocation) {
    var problem: String?
    if got.dtype != want.dtype {
        problem = "dtype \(got.dtype), torch \(want.dtype)"
    } else if got.shape != want.shape {
        problem = "shape \(got.shape), torch \(want.shape)"
    } else {
        let g = rawBits(got), w = rawBits(want)
        let gotFloats = got.dtype.isFloatingPoint ? got.toFloats() : []
        let wantFloats = want.dtype.isFloatingPoint ? want.toFloats() : []
        var mismatches = 0
        var first: Int?
        for i in 0..<g.count where g[i] != w[i] {
            if got.dtype.isFloatingPoint && gotFloats[i].isNaN && wantFloats[i].isNaN { continue }
            mismatches += 1
            if first == nil { first = i }
        }
        if let i = first {
            problem = "\(mismatches) of \(g.count) differ; first at flat index \(i): got 0x\(String(g[i], radix: 16)), torch 0x\(String(w[i], radix: 16))"
        }
    }
    let message = problem.map { "\(label): FAIL (\($0))" } ?? "\(label): OK (bit-exact, \(got.count) elements)"
    print(message)
    #expect(problem == nil, Comment(rawValue: message), sourceLocation: sourceLocation)
}

/// Each element's bits, in logical order, widened to UInt64.
func rawBits(_ t: Tensor) -> [UInt64] {
    var out = [UInt64]()
    out.reserveCapacity(t.count)
    let base = t.storage.pointer
    let size = t.dtype.size
    t.forEachOffset { offset in
        let p = base + offset * size
        switch size {
        case 1: out.append(UInt64(p.load(as: UInt8.self)))
        case 2: out.append(UInt64(p.loadUnaligned(as: UInt16.self)))
        case 4: out.append(UInt64(p.loadUnaligned(as: UInt32.self)))
        default: out.append(p.loadUnaligned(as: UInt64.self))
        }
    }
    return out
}

func format(_ value: Double) -> String {
    if value == 0 { return "0" }
    if !value.isFinite { return "\(value)" }
    return String(format: "%.2g", value)
}
