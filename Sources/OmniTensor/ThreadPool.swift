import Dispatch
import Foundation

/// Runs data-parallel loops on a fixed number of threads. BLAS gets the same number of threads
/// and is never called from inside `parallelFor`, so the two never oversubscribe the cores.
public struct ThreadPool: Sendable {
    public let threads: Int

    public init(threads: Int) {
        precondition(threads >= 1, "a thread pool needs at least one thread")
        self.threads = threads
    }

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
    /// `grain` long (so tiny loops stay on the calling thread).
    public func parallelFor(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let workers = min(threads, max(1, count / max(grain, 1)))
        if workers <= 1 { body(0..<count); return }
        let chunk = (count + workers - 1) / workers
        withoutActuallyEscaping(body) { body in
            // The body runs only while this call waits, so sharing it across threads is safe.
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let start = w * chunk
                let end = min(count, start + chunk)
                if start < end { shared.value(start..<end) }
            }
        }
    }
}

/// Carries a value the compiler can't prove Sendable into a closure that runs while its owner waits.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
