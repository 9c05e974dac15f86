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

    /// Calls `body` on disjoint ranges covering `0..<count`, in parallel, each range at least
    /// `grain` long (so tiny loops stay on the calling thread). A loop started while the pool is
    /// busy (another thread's loop, or a loop nested in a body) runs on the calling thread.
    /// `maxChunks` raises the number of chunks past `chunksPerThread` per thread, for long loops
    /// whose last chunk would otherwise leave the other threads idle for a noticeable time.
    public func parallelFor(_ count: Int, grain: Int = 1, maxChunks: Int? = nil, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        // Several chunks per thread, claimed as threads get to them: a thread that joins late or
        // runs slower (a busy sibling, memory contention) takes fewer, instead of the others
        // waiting for its fixed share at the end of the loop.
        let parts = min(max(threads * Self.chunksPerThread, maxChunks ?? 0), max(1, count / max(grain, 1)))
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
            let job = PoolJob(chunks: parts) { part in
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
    /// Set while the loop runs; cleared (by the caller, once no worker can touch it) before the
    /// caller's non-escaping body goes out of scope.
    var body: ((Int) -> Void)?
    let next = Atomic<Int>(0)
    /// Workers that joined this job and have not yet left it.
    let active = Atomic<Int>(0)

    init(chunks: Int, body: @escaping (Int) -> Void) {
        self.chunks = chunks
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

    init(workers: Int) {
        for i in 0..<workers {
            let thread = Thread { [self] in workerLoop() }
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

    private func workerLoop() {
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
            job.active.subtract(1, ordering: .releasing)
        }
    }
}

struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
