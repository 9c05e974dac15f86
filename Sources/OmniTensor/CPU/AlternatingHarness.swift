import CKernels
import Dispatch
import Foundation
import Synchronization

/// The alternating A/B harness for decode experiments, off unless `OMNI_AB_EVERY` is set. Every
/// `OMNI_AB_EVERY` products (a decode step of Qwen2.5-0.5B has 97) it switches `omni_ab_variant()`
/// between `OMNI_AB_BASE` (default 0) and `OMNI_AB_BASE + 1`, so both versions of the code under
/// test run in turns within one run, in the same seconds of an unsteady host. It times each
/// interval from one product's start to the next's (the product and the serial work after it)
/// under the variant that ran it, leaves out intervals over 3 ms (a step's end, a prefill), and
/// every 40 switches prints to stderr `AB variant A: x us, variant B: y us, ratio A/B r` (over
/// 1: B faster). The first block runs A, or B with `OMNI_AB_PHASE=1`: on the Zen 3 host the
/// harness favours the odd blocks by about 2.5% whatever the code, so take one run in each phase
/// and the geometric mean of their ratios (`scripts/ab-decode.sh` does; docs/benchmarks.md).
enum AlternatingHarness {
    private struct State {
        var products = 0
        var last: UInt64 = 0
        var nanoseconds: [UInt64] = [0, 0]
        var intervals = [0, 0]
    }

    private static let environment = ProcessInfo.processInfo.environment
    static let every = environment["OMNI_AB_EVERY"].flatMap(Int.init) ?? 0
    private static let base = environment["OMNI_AB_BASE"].flatMap(Int.init) ?? 0
    private static let phase = environment["OMNI_AB_PHASE"].flatMap(Int.init) ?? 0
    private static let state = Mutex(State())

    /// Called as each product over few rows (under 32: decode steps) starts, whether or not the
    /// lookahead between products is on.
    static func productStarts() {
        guard every > 0 else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        let line: String? = state.withLock { s in
            let running = (s.products / every + phase) % 2
            if s.last != 0 && now - s.last < 3_000_000 {
                s.nanoseconds[running] += now - s.last
                s.intervals[running] += 1
            }
            s.last = now
            s.products += 1
            omni_ab_set_variant(Int32(base + (s.products / every + phase) % 2))
            guard s.products % (every * 40) == 0, s.intervals[0] > 0, s.intervals[1] > 0 else { return nil }
            let a = Double(s.nanoseconds[0]) / Double(s.intervals[0]) / 1e3
            let b = Double(s.nanoseconds[1]) / Double(s.intervals[1]) / 1e3
            return String(format: "AB variant %d: %.1f us, variant %d: %.1f us, ratio %.4f\n", base, a, base + 1, b, a / b)
        }
        if let line { FileHandle.standardError.write(Data(line.utf8)) }
    }
}
