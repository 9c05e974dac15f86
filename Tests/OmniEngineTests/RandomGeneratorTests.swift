import Testing
@testable import OmniEngine

@Suite struct RandomGeneratorTests {
    @Test func splitMix64MatchesTheReferenceOutput() {
        var generator = SplitMix64(state: 0)
        #expect([generator.next(), generator.next(), generator.next()] == [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F])
    }

    @Test func xoshiro256StarStarMatchesTheReferenceOutput() {
        var generator = Xoshiro256StarStar(state: (1, 2, 3, 4))
        #expect((0..<4).map { _ in generator.next() } == [11520, 0, 1_509_978_240, 1_215_971_899_390_074_240])
        var seeded = Xoshiro256StarStar(seed: 42)
        #expect([seeded.next(), seeded.next()] == [1_546_998_764_402_558_742, 6_990_951_692_964_543_102])
    }

    @Test func unitIntervalStaysInRange() {
        var generator = Xoshiro256StarStar(seed: 7)
        for _ in 0..<10_000 {
            let value = generator.nextUnitInterval()
            #expect(value >= 0 && value < 1)
        }
    }
}
