import Foundation
import Synchronization

/// Keeps the blocks of freed tensor buffers for the next buffer of the same size class, so a steady
/// stream of same-shaped steps (decode) takes its results and scratch from here instead of the
/// system allocator: after the first steps, a step allocates no new tensor memory
/// (`freshAllocations` stops moving; tested). Each `CPUBackend` has one for its results and scratch.
///
/// Size classes: multiples of 64 bytes up to 64 KiB, then 8 classes per power of two (at most 12.5%
/// over the request), so batches of nearby sizes share blocks. Blocks over `largestPooled` and
/// blocks past `capacity` bytes in all go back to the system allocator at once.
final class BufferPool: @unchecked Sendable {
    private let lock = NSLock()
    private var free: [Int: [UnsafeMutableRawPointer]] = [:]
    private var pooledBytes = 0
    private var fresh = 0
    let capacity: Int, largestPooled: Int

    init(capacity: Int, largestPooled: Int) {
        self.capacity = capacity
        self.largestPooled = largestPooled
    }

    /// The bytes actually reserved for a request of `byteCount`.
    static func sizeClass(_ byteCount: Int) -> Int {
        let n = max(byteCount, 64)
        if n <= 64 << 10 { return (n + 63) & ~63 }
        let step = 1 << (Int.bitWidth - n.leadingZeroBitCount - 1 - 3) // an eighth of n's power of two
        return (n + step - 1) / step * step
    }

    /// A block of at least `byteCount` bytes, 64-byte aligned, contents unspecified; with the
    /// bytes to hand back to `give`.
    func take(_ byteCount: Int) -> (pointer: UnsafeMutableRawPointer, reserved: Int) {
        let size = Self.sizeClass(byteCount)
        if size <= largestPooled {
            let reused: UnsafeMutableRawPointer? = lock.withLock {
                guard let p = free[size]?.popLast() else { fresh += 1; return nil }
                pooledBytes -= size
                return p
            }
            if let reused { return (reused, size) }
        } else {
            lock.withLock { fresh += 1 }
        }
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, size) == 0, let raw else { fatalError("out of memory allocating \(byteCount) bytes") }
        return (raw, size)
    }

    /// Returns a block from `take` (its `reserved` size).
    func give(_ pointer: UnsafeMutableRawPointer, reserved size: Int) {
        let kept: Bool = size <= largestPooled && lock.withLock {
            guard pooledBytes + size <= capacity else { return false }
            free[size, default: []].append(pointer)
            pooledBytes += size
            return true
        }
        if !kept { Foundation.free(pointer) }
    }

    /// Counts a buffer its owner allocated past the pool (a zero-filled block too large to keep,
    /// taken from calloc for its lazily zeroed pages).
    func noteUnpooled() { lock.withLock { fresh += 1 } }

    /// Buffers that were not served from the pool since the process started (a counter, for tests
    /// and diagnostics).
    var freshAllocations: Int { lock.withLock { fresh } }
}

/// Scratch for the chunks of one parallel loop: one buffer for each thread that can run a chunk at
/// once, all taken from the pool before the loop (so how the threads happen to share the chunks
/// does not change what is allocated), each lent to one chunk at a time.
final class ChunkScratch: @unchecked Sendable {
    private let buffers: [Storage]
    private let free: Atomic<UInt64>
    /// Read once: Foundation's `activeProcessorCount` reads the cgroup's CPU quota and cpuset files
    /// on every call, and a decode step makes a `ChunkScratch` per attention call (1.6% of the
    /// engine thread's time went there).
    private static let processors = ProcessInfo.processInfo.activeProcessorCount

    /// `threads`: the loop's thread pool size (Dispatch, with `OMNI_POOL=gcd`, runs up to one
    /// chunk per processor at once).
    init(pool: BufferPool, bytes: Int, threads: Int) {
        let slots = min(64, max(threads, Self.processors))
        buffers = (0..<slots).map { _ in Storage(uninitializedByteCount: bytes, pool: pool) }
        free = Atomic(slots == 64 ? ~0 : (1 << UInt64(slots)) - 1)
    }

    /// Runs `body` with a buffer no other chunk holds meanwhile.
    func with<R>(_ body: (UnsafeMutableRawPointer) -> R) -> R {
        while true {
            let mask = free.load(ordering: .acquiring)
            precondition(mask != 0, "more chunks at once than ChunkScratch slots")
            let bit = mask & (~mask &+ 1)
            if free.compareExchange(expected: mask, desired: mask & ~bit, ordering: .acquiringAndReleasing).exchanged {
                defer { free.bitwiseOr(bit, ordering: .releasing) }
                return body(buffers[bit.trailingZeroBitCount].pointer)
            }
        }
    }
}
