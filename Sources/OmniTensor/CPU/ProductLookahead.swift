import Foundation
import Synchronization

/// Which packed weight followed which in the products so far: a decode step multiplies the same
/// weights in the same order every step, so once a product's chunks are claimed its threads can
/// prefetch the first of their chunks of the next one (`ThreadPool.Prefetch`) while the
/// calling thread finishes and works alone toward it (norms, RoPE, SiLU, sampling), when the
/// memory bus would otherwise idle. A wrong guess (another model's step in between, a changed
/// order) costs only the prefetched reads.
final class ProductLookahead: Sendable {
    /// A product's weights as its threads read them: from `address`, a first chunk of `first`
    /// bytes, then chunks of `chunk` bytes, `total` bytes in all.
    private struct Layout { let address: Int, first: Int, chunk: Int, total: Int }
    private struct State {
        var last = 0
        var next: [Int: Layout] = [:]
    }
    private let state = Mutex(State())

    /// Bytes each thread prefetches after a product (`OMNI_LOOKAHEAD_KB`, default 1024; 0 turns it
    /// off). Measured on Zen 3 (512 KiB L2), 2 threads, batch-1 decode of Qwen2.5-0.5B with the
    /// alternating harness (the change on and off every two steps of one run, once in each phase
    /// and the two ratios' geometric mean taken, which cancels the harness's 2.5% bias toward one
    /// phase; docs/benchmarks.md, fourth and fifth rounds): each thread's own chunks
    /// (`ThreadPool.Prefetch`) against one contiguous run from its first chunk, 256 KiB: +0.3,
    /// +0.8%; then 1 MiB against 256 KiB of its own chunks: +2.7, +0.2, +2.6, +1.7%; 512 KiB +0.4,
    /// +1.6%; 2 MiB -0.3, +2.1%; 1 MiB of its own chunks against the old 256 KiB contiguous: +2.8,
    /// +3.1, +2.2%, where the harness's A/A control read -2.1 to +0.9%. (Contiguous, 2 MiB against
    /// 256 KiB had measured +0.9, -0.7%: half of it was the other thread's.)
    static let bytes = (ProcessInfo.processInfo.environment["OMNI_LOOKAHEAD_KB"].flatMap(Int.init) ?? 1024) << 10

    /// Records that the product over the weights at `weights` (`total` bytes, read in a first
    /// chunk of `first` bytes and then chunks of `chunk`) runs now, and returns what its threads
    /// should prefetch once their chunks are done: the product that followed it last time, if any.
    func advance(weights: UnsafeRawPointer, first: Int, chunk: Int, total: Int) -> ThreadPool.Prefetch? {
        let key = Int(bitPattern: weights)
        let here = Layout(address: key, first: first, chunk: chunk, total: total)
        let next: Layout? = state.withLock { s in
            if s.last != 0 { s.next[s.last] = here }
            s.last = key
            return s.next[key]
        }
        guard let next, let base = UnsafeRawPointer(bitPattern: next.address) else { return nil }
        return ThreadPool.Prefetch(base: base, first: next.first, chunk: next.chunk, bytes: Self.bytes, total: next.total)
    }
}
