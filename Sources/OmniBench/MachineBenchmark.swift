import CKernels
import COpenBLAS
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
        var bandwidth = readBandwidth(threadCounts: Array(1...threads), progress: progress)
        progress("GEMM \(gemmSize)^3, f32 and bf16 weights, \(threads) threads")
        let backend = CPUBackend(threads: threads)
        let f32Rate = gemmRate(backend: backend, weightDType: .f32)
        let bf16Rate = gemmRate(backend: backend, weightDType: .bf16)
        let gemv = gemvBandwidth(backend: backend)
        // A shared host's bandwidth drifts from minute to minute: probe the roof again right after
        // the GEMV so the two are compared under the same conditions, and keep the best.
        progress("read bandwidth again, after the GEMV")
        for (n, rate) in readBandwidth(threadCounts: [threads], progress: progress) {
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
            bf16GemvGBps: gemv, bf16GemvShareOfRoof: best > 0 ? gemv / best : 0)
    }

    /// Bytes per chunk of the probe's second pattern (`CPUBackend.gemvChunkBytes`'s default, the
    /// chunk size of products over a few rows; batch-1 decode claims whole tile groups, 168 KiB to
    /// 912 KiB on Qwen2.5-0.5B).
    static let probeChunkBytes = 512 << 10
    /// Streams per chunk of the probe's third pattern (512 KiB / 4: each part a multiple of 64 bytes).
    static let probeStreams = 4

    /// Best-of-`repeats` read bandwidth for each thread count, over three patterns in each repeat:
    /// each thread streaming its own share of the buffer; the buffer in 512 KiB chunks claimed by
    /// the threads as they get free (how the few-row products read their weights); and the same
    /// chunks each read as 4 streams side by side (as the batch-1 kernels read three tiles at
    /// once). On the Zen 3 host, C microbenchmarks (8 - 10 alternating rounds, 2 threads) read 6.5%
    /// faster in chunks than in halves, and 1.4x faster with 4 streams per chunk than with one (8
    /// streams: no more). With the first pattern alone, decode steps came out at up to 122% of the
    /// "roof" once the batch-1 kernels read several tiles at once; the roof is the fastest read
    /// found, so it must not be a pattern the engine beats.
    func readBandwidth(threadCounts: [Int], progress: (String) -> Void) -> [Int: Double] {
        let bytes = bufferBytes / 4096 * 4096
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
        defer { buffer.deallocate() }
        let words = buffer.assumingMemoryBound(to: UInt64.self)
        let count = bytes / 8
        // Random contents, written in parallel (xorshift per chunk) so no page is shared zeros.
        let fillPool = ThreadPool(threads: threads)
        fillPool.parallelFor(threads) { range in
            let t = range.lowerBound
            var state = UInt64(0x9E37_79B9_7F4A_7C15) &* UInt64(t + 1)
            let chunk = (count + threads - 1) / threads
            for i in (t * chunk)..<min(count, (t + 1) * chunk) {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                words[i] = state
            }
        }
        var results = [Int: Double]()
        for n in threadCounts {
            let pool = ThreadPool(threads: n)
            var best = 0.0
            let chunks = bytes / Self.probeChunkBytes
            let sink = UnsafeMutablePointer<UInt64>.allocate(capacity: max(n, chunks))
            defer { sink.deallocate() }
            // GB/s of one pass of `read` over `readBytes`, cut into `parts` chunks.
            func rate(_ readBytes: Int, _ read: (Range<Int>) -> Void, parts: Int) -> Double {
                let start = DispatchTime.now().uptimeNanoseconds
                pool.parallelFor(parts, maxChunks: parts, read)
                return Double(readBytes) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) / 1e9
            }
            let per = bytes / n / 64 * 64, chunkBytes = Self.probeChunkBytes
            for _ in 0..<repeats {
                best = max(best, rate(per * n, { for t in $0 { sink[t] = omni_read_checksum(buffer + t * per, per) } }, parts: n))
                best = max(best, rate(chunks * chunkBytes, { range in
                    for c in range { sink[c] = omni_read_checksum(buffer + c * chunkBytes, chunkBytes) }
                }, parts: chunks))
                best = max(best, rate(chunks * chunkBytes, { range in
                    for c in range { sink[c] = omni_read_checksum_streams(buffer + c * chunkBytes, chunkBytes, Self.probeStreams) }
                }, parts: chunks))
            }
            results[n] = best
            progress(String(format: "  %d thread(s): %.1f GB/s", n, best))
        }
        return results
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
    /// over a matrix as large as the read buffer, far beyond L3.
    func gemvBandwidth(backend: CPUBackend) -> Double {
        let inFeatures = 896
        let outFeatures = bufferBytes / (inFeatures * 2)
        let w = Self.random([outFeatures, inFeatures], seed: 3, dtype: .bf16)
        let x = Self.random([1, inFeatures], seed: 4, dtype: .f32)
        _ = backend.linear(x, weight: w, bias: nil)
        var best = Double.infinity
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = backend.linear(x, weight: w, bias: nil)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return Double(outFeatures * inFeatures * 2) / best / 1e9
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
