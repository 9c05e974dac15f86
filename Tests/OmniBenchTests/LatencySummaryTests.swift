import Testing
@testable import OmniBench

@Suite struct LatencySummaryTests {
    @Test func percentilesInterpolateLinearlyAsNumpyDoes() {
        // np.percentile([1, 2, 3, 4], [50, 99, 0, 100]) == [2.5, 3.97, 1, 4]
        let sorted = [1.0, 2, 3, 4]
        #expect(LatencySummary.percentile(sorted, 50) == 2.5)
        #expect(abs(LatencySummary.percentile(sorted, 99) - 3.97) < 1e-12)
        #expect(LatencySummary.percentile(sorted, 0) == 1)
        #expect(LatencySummary.percentile(sorted, 100) == 4)
        #expect(LatencySummary.percentile([7], 99) == 7)
        #expect(LatencySummary.percentile([], 50) == 0)
    }

    @Test func summaryOfUnsortedSamples() {
        // np.mean / np.median / np.percentile(.., 99) of [10, 0, 5, 20, 15]
        let s = LatencySummary([10, 0, 5, 20, 15])
        #expect(s.mean == 10)
        #expect(s.median == 10)
        #expect(abs(s.p99 - 19.8) < 1e-12)
        #expect(s.count == 5)
        let ms = s.scaled(by: 1000)
        #expect(ms.mean == 10_000 && ms.count == 5)
    }

    @Test func poissonArrivalsAreDeterministicPerSeed() {
        let a = PoissonArrivals.startTimes(count: 200, rate: 4, seed: 7)
        let b = PoissonArrivals.startTimes(count: 200, rate: 4, seed: 7)
        let c = PoissonArrivals.startTimes(count: 200, rate: 4, seed: 8)
        #expect(a == b)
        #expect(a != c)
        #expect(a.first == 0)
        #expect(zip(a, a.dropFirst()).allSatisfy { $0 <= $1 })
        // 199 exponential gaps of mean 1/4 s: their mean lies well within 0.25 +- 0.1.
        #expect(abs(a.last! / 199 - 0.25) < 0.1)
    }

    @Test func infiniteRateSendsEverythingAtOnce() {
        #expect(PoissonArrivals.startTimes(count: 5, rate: .infinity, seed: 0) == [0, 0, 0, 0, 0])
    }
}
