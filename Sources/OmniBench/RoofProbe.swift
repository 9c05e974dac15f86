import OmniTensor

/// The machine's roofs measured inside another benchmark's run, before and after it: the host's
/// bandwidth drifts from minute to minute (docs/benchmarks.md), so a roof from another run would
/// make the ratio drift with it. The best of the two probes is the roof, the conservative choice.
public struct RoofProbe: Sendable {
    public var bufferBytes: Int
    public var repeats: Int
    public var gemmSize: Int

    public init(bufferBytes: Int = 1 << 30, repeats: Int = 5, gemmSize: Int = 1024) {
        self.bufferBytes = bufferBytes
        self.repeats = repeats
        self.gemmSize = gemmSize
    }

    /// Best-of-`repeats` read bandwidth in GB/s for each thread count, over `reads`' buffer (filled
    /// once for all the probes of a run).
    func readBandwidth(_ reads: ReadProbe, threadCounts: [Int], progress: (String) -> Void = { _ in }) -> [Int: Double] {
        reads.bandwidth(threadCounts: threadCounts.sorted(), repeats: repeats, progress: progress)
    }

    /// GFLOP/s of an n^3 GEMM with weights in `dtype` on `threads` threads (the backend's `linear`,
    /// the path prefill takes).
    public func gemmRate(threads: Int, dtype: DType) -> Double {
        let machine = MachineBenchmark(threads: threads, bufferBytes: bufferBytes, gemmSize: gemmSize, repeats: repeats)
        return machine.gemmRate(backend: CPUBackend(threads: threads), weightDType: dtype)
    }

    /// Keeps the larger of two probes per thread count.
    static func best(_ a: [Int: Double], _ b: [Int: Double]) -> [Int: Double] {
        a.merging(b, uniquingKeysWith: max)
    }
}
