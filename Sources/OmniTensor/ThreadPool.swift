import CKernels
import Foundation
import Synchronization

/// Runs data-parallel loops on a fixed set of threads: the caller plus `threads - 1` persistent
/// workers, which spin briefly after each loop (a decode step issues hundreds of small loops, and
/// waking a sleeping thread costs more than the loop) and then sleep. BLAS gets the same thread
/// count and is never called from inside `parallelFor`, so the two never oversubscribe the cores.
public final class ThreadPool: Sendable {
    public let threads: Int
    private let core: PoolCore?
    /// `OMNI_POOL=gcd` runs loops through Dispatch instead of the spinning workers: better when the
    /// cores are shared with other busy processes (measured: spinning is 15% faster for batch-1
    /// decode on an idle 2-core machine, and slower under a load average of 3).
    static let useGCD = ProcessInfo.processInfo.environment["OMNI_POOL"] == "gcd"

    /// Chunks a loop is cut into per thread (`OMNI_POOL_CHUNKS`, default 4; 1 is one fixed share per
    /// thread). Measured on the shared 2-core host, same minutes: bf16 prefill of 512 tokens 274-293
    /// tok/s with 4 against 243-247 with 1; batch-1 decode unchanged within its noise.
    static let chunksPerThread = max(1, ProcessInfo.processInfo.environment["OMNI_POOL_CHUNKS"].flatMap(Int.init) ?? 4)

    public init(threads: Int) {
        precondition(threads >= 1, "a thread pool needs at least one thread")
        self.threads = threads
        core = threads > 1 ? PoolCore(workers: threads - 1) : nil
    }

    deinit { core?.shutdown() }

    /// Physical cores (logical CPUs divided by SMT siblings where Linux tells us), at least 1.
    public static var physicalCores: Int {
        let logical = ProcessInfo.processInfo.activeProcessorCount
        #if os(Linux)
        if let siblings = try? String(contentsOfFile: "/sys/devices/system/cpu/cpu0/topology/thread_siblings_list", encoding: .utf8) {
            let perCore = siblings.split(separator: ",").reduce(0) { total, part in
                let bounds = part.split(separator: "-").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                return total + (bounds.count == 2 ? bounds[1] - bounds[0] + 1 : 1)
            }
            if perCore > 1 { return max(1, logical / perCore) }
        }
        #endif
        return max(1, logical)
    }

    /// Memory the threads of a loop prefetch once they have no chunk left to claim: the start of
    /// the data the next loop reads, brought into their caches while the memory bus would otherwise
    /// idle (the caller waiting for the last chunk, then working alone between loops, as a decode
    /// step does between products). Thread `p` (the caller is 0, workers 1, 2, ...) prefetches
    /// `bytes` of the chunks it will likely claim, within `total` bytes of `base`: chunks p,
    /// p + threads, p + 2 threads, ..., as the caller claims chunk 0 while it publishes a loop, the
    /// workers follow, and threads of equal speed then claim in turn. (A contiguous `bytes` from
    /// the thread's first chunk had run into the next thread's chunks.) The caller stops when the
    /// workers are done, a worker when the next loop starts. Prefetches never fault and nothing
    /// depends on them, so a wrong or stale plan only costs the reads.
    public struct Prefetch {
        public var base: UnsafeRawPointer
        /// Bytes of the next loop's chunk 0 (the caller's first).
        public var first: Int
        /// Bytes of each of its later chunks.
        public var chunk: Int
        /// Bytes each thread prefetches.
        public var bytes: Int
        public var total: Int

        public init(base: UnsafeRawPointer, first: Int, chunk: Int, bytes: Int, total: Int) {
            self.base = base
            self.first = first
            self.chunk = max(1, chunk)
            self.bytes = bytes
            self.total = total
        }

        /// The `k`-th piece participant `p` of `threads` prefetches: its chunks p, p + threads,
        /// p + 2 threads, ... (the ones it will claim if threads claim chunks in turn), clipped to
        /// `total`; empty past it.
        func piece(_ p: Int, of threads: Int, _ k: Int) -> (start: UnsafeRawPointer, bytes: Int) {
            let c = p + k * max(1, threads)
            let offset = min(total, c == 0 ? 0 : first + (c - 1) * chunk)
            return (base + offset, max(0, min(c == 0 ? first : chunk, total - offset)))
        }
    }

    /// How many chunks `parallelFor` cuts a loop of `count` into (each `(count + parts - 1) / parts`
    /// long, the last shorter).
    public func partCount(_ count: Int, grain: Int = 1, maxChunks: Int? = nil) -> Int {
        min(max(threads * Self.chunksPerThread, maxChunks ?? 0), max(1, count / max(grain, 1)))
    }

    /// Calls `body` on disjoint ranges covering `0..<count`, in parallel, each range at least
    /// `grain` long (so tiny loops stay on the calling thread). A loop started while the pool is
    /// busy (another thread's loop, or a loop nested in a body) runs on the calling thread.
    /// `maxChunks` raises the number of chunks past `chunksPerThread` per thread, for long loops
    /// whose last chunk would otherwise leave the other threads idle for a noticeable time.
    ///
    /// `thenPrefetch`: memory each thread prefetches once it has no chunk left (see `Prefetch`).
    public func parallelFor(_ count: Int, grain: Int = 1, maxChunks: Int? = nil, thenPrefetch: Prefetch? = nil,
                            _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        // Several chunks per thread, claimed as threads get to them: a thread that joins late or
        // runs slower (a busy sibling, memory contention) takes fewer, instead of the others
        // waiting for its fixed share at the end of the loop.
        let parts = partCount(count, grain: grain, maxChunks: maxChunks)
        guard parts > 1, threads > 1, let core else { body(0..<count); return }
        let chunk = (count + parts - 1) / parts
        if ThreadPool.useGCD {
            withoutActuallyEscaping(body) { body in
                let shared = UncheckedSendable(body)
                DispatchQueue.concurrentPerform(iterations: parts) { part in
                    let start = part * chunk
                    if start < min(count, start + chunk) { shared.value(start..<min(count, start + chunk)) }
                }
            }
            return
        }
        guard core.tryAcquire() else { body(0..<count); return }
        withoutActuallyEscaping(body) { body in
            let job = PoolJob(chunks: parts, prefetch: thenPrefetch) { part in
                let start = part * chunk
                let end = min(count, start + chunk)
                if start < end { body(start..<end) }
            }
            core.run(job)
        }
    }
}

/// One parallel loop: chunks are claimed through an atomic counter by the caller and the workers.
private final class PoolJob: @unchecked Sendable {
    let chunks: Int
    /// What the threads prefetch after their last chunk (see `ThreadPool.Prefetch`).
    let prefetch: ThreadPool.Prefetch?
    /// Set while the loop runs; cleared (by the caller, once no worker can touch it) before the
    /// caller's non-escaping body goes out of scope.
    var body: ((Int) -> Void)?
    let next = Atomic<Int>(0)
    /// Workers that joined this job and have not yet left it.
    let active = Atomic<Int>(0)

    init(chunks: Int, prefetch: ThreadPool.Prefetch?, body: @escaping (Int) -> Void) {
        self.chunks = chunks
        self.prefetch = prefetch
        self.body = body
    }

    func work() {
        while true {
            let part = next.add(1, ordering: .relaxed).oldValue
            if part >= chunks { return }
            body!(part)
        }
    }
}

private final class PoolCore: @unchecked Sendable {
    private let condition = NSCondition()
    private var current: PoolJob?          // guarded by condition
    private var generation = 0             // guarded by condition
    private var stopping = false           // guarded by condition
    private let published = Atomic<Int>(0) // mirrors generation, for spinning without the lock
    private let busy = Atomic<Bool>(false)
    /// Relax iterations a worker spins before sleeping (tens of microseconds).
    private let spinLimit = 4000
    /// The caller and the workers.
    private let threads: Int

    init(workers: Int) {
        threads = workers + 1
        for i in 0..<workers {
            let thread = Thread { [self] in workerLoop(i) }
            thread.name = "omni-pool-\(i)"
            thread.start()
        }
    }

    func tryAcquire() -> Bool {
        busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    }

    func run(_ job: PoolJob) {
        condition.lock()
        current = job
        generation += 1
        published.store(generation, ordering: .releasing)
        condition.broadcast()
        condition.unlock()

        job.work()

        condition.lock()
        current = nil   // no worker joins after this
        condition.unlock()
        if let plan = job.prefetch {
            prefetch(plan, participant: 0) { job.active.load(ordering: .acquiring) > 0 }
        }
        while job.active.load(ordering: .acquiring) > 0 { omni_cpu_relax() }
        job.body = nil
        busy.store(false, ordering: .releasing)
    }

    func shutdown() {
        condition.lock()
        stopping = true
        generation += 1
        published.store(generation, ordering: .releasing)
        condition.broadcast()
        condition.unlock()
    }

    private func workerLoop(_ index: Int) {
        var seen = 0
        while true {
            var spins = 0
            while published.load(ordering: .acquiring) == seen && spins < spinLimit {
                omni_cpu_relax()
                spins += 1
            }
            condition.lock()
            while generation == seen && !stopping { condition.wait() }
            if stopping { condition.unlock(); return }
            seen = generation
            let job = current
            job?.active.add(1, ordering: .relaxed)
            condition.unlock()
            guard let job else { continue }
            job.work()
            let plan = job.prefetch
            job.active.subtract(1, ordering: .releasing)
            if let plan {
                let generation = seen
                prefetch(plan, participant: index + 1) { published.load(ordering: .relaxed) == generation }
            }
        }
    }

    /// Prefetches participant `p`'s pieces of `plan`, `plan.bytes` in all, a few KiB at a time
    /// while `going()` holds.
    private func prefetch(_ plan: ThreadPool.Prefetch, participant p: Int, while going: () -> Bool) {
        var left = plan.bytes, k = 0
        while left > 0 {
            let piece = plan.piece(p, of: threads, k)
            if piece.bytes == 0 { return }
            var done = 0
            while done < min(piece.bytes, left) {
                guard going() else { return }
                let step = min(Self.prefetchPiece, min(piece.bytes, left) - done)
                omni_prefetch_read(piece.start + done, step)
                done += step
            }
            left -= done
            k += 1
        }
    }

    /// Bytes prefetched between checks for a new loop (a few hundred nanoseconds of memory reads).
    private static let prefetchPiece = 4096
}

struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
