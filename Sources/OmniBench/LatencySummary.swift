import Foundation

/// Mean, median and 99th percentile of a set of latencies, as `vllm bench serve` prints them.
public struct LatencySummary: Codable, Sendable, Equatable {
    public var mean: Double
    public var median: Double
    public var p99: Double
    public var count: Int

    /// Empty samples summarise to zeros (vLLM prints 0 for a metric no request produced).
    public init(_ samples: [Double]) {
        let sorted = samples.sorted()
        count = sorted.count
        mean = sorted.isEmpty ? 0 : sorted.reduce(0, +) / Double(sorted.count)
        median = Self.percentile(sorted, 50)
        p99 = Self.percentile(sorted, 99)
    }

    /// The `p`-th percentile (0...100) of ascending `sorted` values with linear interpolation
    /// between the two nearest ranks: numpy's default `np.percentile`, which vLLM uses.
    public static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = min(max(p, 0), 100) / 100 * Double(sorted.count - 1)
        let lower = Int(rank.rounded(.down)), upper = Int(rank.rounded(.up))
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (rank - Double(lower))
    }

    /// The same summary with every value multiplied by `factor` (seconds to milliseconds).
    public func scaled(by factor: Double) -> LatencySummary {
        var copy = self
        copy.mean *= factor
        copy.median *= factor
        copy.p99 *= factor
        return copy
    }
}

/// Request start times of a benchmark run: Poisson arrivals at `rate` requests per second (the
/// gaps drawn from an exponential distribution, as `vllm bench serve` does with burstiness 1), or
/// all at time 0 when the rate is infinite.
public enum PoissonArrivals {
    /// Seconds from the start of the run at which each of `count` requests is sent.
    public static func startTimes(count: Int, rate: Double, seed: UInt64) -> [Double] {
        guard rate.isFinite, rate > 0 else { return Array(repeating: 0, count: count) }
        var random = SeededRandom(seed: seed)
        var now = 0.0
        return (0..<count).map { i in
            if i > 0 { now += -Foundation.log(1 - random.unit()) / rate }
            return now
        }
    }
}
