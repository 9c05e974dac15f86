import Foundation
import Synchronization

/// Which packed weight followed which in the products so far: a decode step multiplies the same
/// weights in the same order every step, so once a product's chunks are claimed its threads can
/// prefetch the start of their first chunks of the next one (`ThreadPool.Prefetch`) while the
/// calling thread finishes and works alone toward it (norms, RoPE, SiLU, sampling), when the
/// memory bus would otherwise idle. A wrong guess (another model's step in between, a changed
/// order) costs only the prefetched reads.
final class ProductLookahead: Sendable {
    /// A product's weights as its threads read them: from `address`, chunks of `stride` bytes,
    /// `total` bytes in all.
    private struct Layout { let address: Int, stride: Int, total: Int }
    private struct State {
        var last = 0
        var next: [Int: Layout] = [:]
    }
    private let state = Mutex(State())

    /// Bytes each thread prefetches after a product (`OMNI_LOOKAHEAD_KB`, default 256; 0 turns it
    /// off). Measured on Zen 3 (512 KiB L2), 2 threads, batch-1 decode of Qwen2.5-0.5B with the
    /// prefetch on and off every other two steps of one run (so the host's drifting bandwidth falls
    /// on both alike), workers only: 128 KiB 2.4% faster steps, 256 KiB 3.0-4.7%, 512 KiB 3.0-4.0%,
    /// 768 KiB 2.8%; the caller too, 256 KiB: 2.4-3.5% in bf16 mode, 2.8-3.8% in the default mode.
    /// That harness later proved to favour the "on" half by about 2.5% whatever the code
    /// (docs/benchmarks.md, fourth round), so these gains may be mostly its bias; with the bias
    /// cancelled, 2 MiB against 256 KiB measured +0.9 and -0.7%.
    static let bytes = (ProcessInfo.processInfo.environment["OMNI_LOOKAHEAD_KB"].flatMap(Int.init) ?? 256) << 10

    /// Records that the product over the weights at `weights` (`total` bytes, read in chunks of
    /// `stride`) runs now, and returns what its threads should prefetch once their chunks are done:
    /// the product that followed it last time, if any.
    func advance(weights: UnsafeRawPointer, stride: Int, total: Int) -> ThreadPool.Prefetch? {
        let key = Int(bitPattern: weights)
        let here = Layout(address: key, stride: stride, total: total)
        let next: Layout? = state.withLock { s in
            if s.last != 0 { s.next[s.last] = here }
            s.last = key
            return s.next[key]
        }
        guard let next, let base = UnsafeRawPointer(bitPattern: next.address) else { return nil }
        return ThreadPool.Prefetch(base: base, stride: next.stride, bytes: Self.bytes, total: next.total)
    }
}
