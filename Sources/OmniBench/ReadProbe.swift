import CKernels
import Dispatch
import Foundation
import OmniTensor

/// The read-bandwidth probe: a buffer of random bytes far beyond L3, filled once, then read in
/// three patterns. `MachineBenchmark`'s roof is the best of several passes; `DecodeBenchmark` also
/// reads it just before and just after each timed run, so each run has a roof from its own seconds
/// (the host's bandwidth drifts by a third within minutes, docs/benchmarks.md).
///
/// The patterns, each one pass over the buffer: each thread streaming its own share; the buffer in
/// 512 KiB chunks claimed by the threads as they get free (how the few-row products read their
/// weights); and the same chunks each read as 4 streams side by side (as the batch-1 kernels read
/// three tiles at once). On the Zen 3 host, C microbenchmarks (8 - 10 alternating rounds, 2
/// threads) read 6.5% faster in chunks than in halves, and 1.4x faster with 4 streams per chunk
/// than with one (8 streams: no more). With the first pattern alone, decode steps came out at up
/// to 122% of the "roof" once the batch-1 kernels read several tiles at once; the roof is the
/// fastest read found, so it must not be a pattern the engine beats.
final class ReadProbe {
    /// Bytes per chunk of the second pattern (`CPUBackend.gemvChunkBytes`'s default, the chunk size
    /// of products over a few rows; batch-1 decode claims whole tile groups, 168 KiB to 912 KiB on
    /// Qwen2.5-0.5B).
    static let chunkBytes = 512 << 10
    /// Streams per chunk of the third pattern (512 KiB / 4: each part a multiple of 64 bytes).
    static let streams = 4

    let bytes: Int
    private let buffer: UnsafeMutableRawPointer
    private let sink: UnsafeMutablePointer<UInt64>
    private var pools: [Int: ThreadPool] = [:]

    /// Allocates `bytes` (rounded down to whole 512 KiB chunks) and fills them with xorshift
    /// output on `fillThreads` threads, so no page is shared zeros.
    init(bytes: Int, fillThreads: Int) {
        self.bytes = max(Self.chunkBytes, bytes / Self.chunkBytes * Self.chunkBytes)
        buffer = UnsafeMutableRawPointer.allocate(byteCount: self.bytes, alignment: 4096)
        sink = UnsafeMutablePointer<UInt64>.allocate(capacity: max(self.bytes / Self.chunkBytes, 1024))
        let words = buffer.assumingMemoryBound(to: UInt64.self), count = self.bytes / 8
        let threads = max(1, fillThreads)
        ThreadPool(threads: threads).parallelFor(threads) { range in
            let t = range.lowerBound
            var state = UInt64(0x9E37_79B9_7F4A_7C15) &* UInt64(t + 1)
            let chunk = (count + threads - 1) / threads
            for i in (t * chunk)..<min(count, (t + 1) * chunk) {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                words[i] = state
            }
        }
    }

    deinit {
        buffer.deallocate()
        sink.deallocate()
    }

    /// The probe's read patterns, in the order above.
    enum Pattern: CaseIterable { case halves, claimed, streamed }

    /// One pass over the buffer in `pattern` on `threads` threads: bytes read and nanoseconds taken.
    private func read(_ pattern: Pattern, threads: Int) -> (bytes: Int, nanoseconds: UInt64) {
        let n = max(1, threads)
        let pool = pools[n] ?? ThreadPool(threads: n)
        pools[n] = pool
        let buffer = self.buffer, sink = self.sink
        let per = bytes / n / 64 * 64, chunks = bytes / Self.chunkBytes, chunkBytes = Self.chunkBytes
        let start = DispatchTime.now().uptimeNanoseconds
        switch pattern {
        case .halves:
            pool.parallelFor(n, maxChunks: n) { range in
                for t in range { sink[t] = omni_read_checksum(buffer + t * per, per) }
            }
        case .claimed:
            pool.parallelFor(chunks, maxChunks: chunks) { range in
                for c in range { sink[c] = omni_read_checksum(buffer + c * chunkBytes, chunkBytes) }
            }
        case .streamed:
            pool.parallelFor(chunks, maxChunks: chunks) { range in
                for c in range { sink[c] = omni_read_checksum_streams(buffer + c * chunkBytes, chunkBytes, Self.streams) }
            }
        }
        return (pattern == .halves ? per * n : bytes, max(1, DispatchTime.now().uptimeNanoseconds - start))
    }

    /// GB/s (1e9 bytes per second) of the fastest of one pass of each pattern on `threads` threads.
    func pass(threads: Int) -> Double {
        Pattern.allCases.map { pattern in
            let r = read(pattern, threads: threads)
            return Double(r.bytes) / Double(r.nanoseconds)
        }.max() ?? 0
    }

    /// GB/s of the fastest pattern over a window of at least `seconds`: the patterns take turns, a
    /// pass each, until the window has passed, and each pattern's rate is its bytes over its own
    /// time in the window. A run of seconds averages over the host's swings from one pass to the
    /// next; a roof taken over a window as long as the run does too, where the best single pass
    /// (tens of milliseconds) is the best moment.
    func window(threads: Int, seconds: Double) -> Double {
        var bytes = [Int](repeating: 0, count: Pattern.allCases.count)
        var nanoseconds = [UInt64](repeating: 0, count: Pattern.allCases.count)
        let start = DispatchTime.now().uptimeNanoseconds, length = UInt64(max(0, seconds) * 1e9)
        repeat {
            for (i, pattern) in Pattern.allCases.enumerated() {
                let r = read(pattern, threads: threads)
                bytes[i] += r.bytes
                nanoseconds[i] += r.nanoseconds
            }
        } while DispatchTime.now().uptimeNanoseconds - start < length
        return zip(bytes, nanoseconds).map { Double($0) / Double($1) }.max() ?? 0
    }

    /// The fastest of `repeats` passes (each the fastest of its patterns).
    func best(threads: Int, repeats: Int) -> Double {
        passes(threads: threads, count: repeats).max() ?? 0
    }

    /// Best-of-`repeats` bandwidth for each thread count, each reported to `progress`.
    func bandwidth(threadCounts: [Int], repeats: Int, progress: (String) -> Void) -> [Int: Double] {
        var results = [Int: Double]()
        for n in threadCounts {
            results[n] = best(threads: n, repeats: repeats)
            progress(String(format: "  %d thread(s): %.1f GB/s", n, results[n]!))
        }
        return results
    }

    /// `count` passes in a row (each the fastest of its patterns), GB/s.
    func passes(threads: Int, count: Int) -> [Double] {
        (0..<max(1, count)).map { _ in pass(threads: threads) }
    }
}
