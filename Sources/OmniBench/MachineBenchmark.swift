import Dispatch
import Foundation
import OmniTensor

/// The machine's own roofs: multi-threaded read bandwidth over a buffer far larger than the last
/// level cache, and GEMM throughput for f32 and for bf16 weights (the path prefill and DiT
/// steps take). Every other benchmark reports its result as a share of these.
public struct MachineBenchmark: Sendable {
    public struct Result: Codable, Sendable {
        public var cpu: String
        public var logicalCPUs: Int
        public var physicalCores: Int
        public var isa: String
        public var threads: Int
        public var bufferBytes: Int
        /// Best read bandwidth per thread count, GB/s (1e9 bytes per second).
        public var readBandwidthGBps: [String: Double]
        public var bestReadBandwidthGBps: Double
        public var gemmShape: [Int]
        public var f32GemmGFLOPs: Double
        public var bf16GemmGFLOPs: Double
        /// bf16 weights read by the GEMV kernel (batch-1 decode), GB/s of weight bytes.
        public var bf16GemvGBps: Double
        public var bf16GemvShareOfRoof: Double
        /// Each GEMV pass against the mean of the probe passes just before and just after it (the
        /// host's bandwidth drifts within seconds, so this compares the kernel with the probe under
        /// the same conditions), and their median.
        public var bf16GemvPairedShares: [Double]
        public var bf16GemvPairedShareMedian: Double
    }

    public var threads: Int
    public var bufferBytes: Int
    public var gemmSize: Int
    public var repeats: Int

    /// - Parameters:
    ///   - threads: the largest thread count tried (bandwidth is swept from 1 up to it).
    ///   - bufferBytes: the read buffer; default 1 GiB, far beyond any L3.
    public init(threads: Int = ThreadPool.physicalCores, bufferBytes: Int = 1 << 30, gemmSize: Int = 1024, repeats: Int = 5) {
        self.threads = threads
        self.bufferBytes = bufferBytes
        self.gemmSize = gemmSize
        self.repeats = repeats
    }

    public func run(progress: (String) -> Void = { _ in }) -> Result {
        progress("read bandwidth: filling \(bufferBytes >> 20) MiB with random bytes")
        let probe = ReadProbe(bytes: bufferBytes, fillThreads: threads)
        var bandwidth = probe.bandwidth(threadCounts: Array(1...threads), repeats: repeats, progress: progress)
        progress("GEMM \(gemmSize)^3, f32 and bf16 weights, \(threads) threads")
        let backend = CPUBackend(threads: threads)
        let f32Rate = gemmRate(backend: backend, weightDType: .f32)
        let bf16Rate = gemmRate(backend: backend, weightDType: .bf16)
        let (gemv, paired) = gemvBandwidth(backend: backend, probe: probe)
        // A shared host's bandwidth drifts from minute to minute: probe the roof again right after
        // the GEMV so the two are compared under the same conditions, and keep the best.
        progress("read bandwidth again, after the GEMV")
        for (n, rate) in probe.bandwidth(threadCounts: [threads], repeats: repeats, progress: progress) {
            bandwidth[n] = max(bandwidth[n] ?? 0, rate)
        }
        let best = bandwidth.values.max() ?? 0
        return Result(
            cpu: Self.cpuName(), logicalCPUs: ProcessInfo.processInfo.activeProcessorCount,
            physicalCores: ThreadPool.physicalCores, isa: CPUBackend.activeISA, threads: threads,
            bufferBytes: bufferBytes,
            readBandwidthGBps: Dictionary(uniqueKeysWithValues: bandwidth.map { (String($0.key), $0.value) }),
            bestReadBandwidthGBps: best, gemmShape: [gemmSize, gemmSize, gemmSize],
            f32GemmGFLOPs: f32Rate, bf16GemmGFLOPs: bf16Rate,
            bf16GemvGBps: gemv, bf16GemvShareOfRoof: best > 0 ? gemv / best : 0,
            bf16GemvPairedShares: paired, bf16GemvPairedShareMedian: LatencySummary(paired).median)
    }

    /// GFLOP/s of `x [n, n] @ W^T` with W `[n, n]` stored in `weightDType`, through the backend's
    /// `linear` (f32 weights by SGEMM, bf16 weights by our kernels in the backend's precision).
    func gemmRate(backend: CPUBackend, weightDType: DType) -> Double {
        let n = gemmSize
        let x = Self.random([n, n], seed: 1, dtype: .f32)
        let w = Self.random([n, n], seed: 2, dtype: weightDType)
        _ = backend.linear(x, weight: w, bias: nil)
        var best = Double.infinity
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = backend.linear(x, weight: w, bias: nil)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return 2 * Double(n) * Double(n) * Double(n) / best / 1e9
    }

    /// Weight bytes per second of a batch-1 bf16 GEMV (rows of 896, Qwen2.5-0.5B's hidden size)
    /// over a matrix as large as the read buffer, far beyond L3: the best of `repeats` passes; and
    /// each pass against the mean of the probe passes on either side of it (probe and GEMV take
    /// turns, one pass each).
    func gemvBandwidth(backend: CPUBackend, probe: ReadProbe) -> (best: Double, paired: [Double]) {
        let inFeatures = 896
        let outFeatures = bufferBytes / (inFeatures * 2)
        let w = Self.random([outFeatures, inFeatures], seed: 3, dtype: .bf16)
        let x = Self.random([1, inFeatures], seed: 4, dtype: .f32)
        _ = backend.linear(x, weight: w, bias: nil)
        let bytes = Double(outFeatures * inFeatures * 2)
        var rates = [Double](), probes = [probe.pass(threads: threads)]
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = backend.linear(x, weight: w, bias: nil)
            rates.append(bytes / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) / 1e9)
            probes.append(probe.pass(threads: threads))
        }
        let paired = rates.indices.map { i in rates[i] / ((probes[i] + probes[i + 1]) / 2) }
        return (rates.max() ?? 0, paired)
    }

    static func random(_ shape: [Int], seed: UInt64, dtype: DType) -> Tensor {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        let values = (0..<shape.reduce(1, *)).map { _ -> Float in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Float(state >> 40) / Float(1 << 24) - 0.5
        }
        return Tensor(values, shape: shape, dtype: dtype)
    }

    static func cpuName() -> String {
        #if os(Linux)
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = info.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
           let name = line.split(separator: ":", maxSplits: 1).last {
            return name.trimmingCharacters(in: .whitespaces)
        }
        #endif
        return "unknown CPU"
    }
}
