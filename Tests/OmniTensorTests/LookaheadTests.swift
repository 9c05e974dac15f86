import Foundation
@testable import OmniTensor
import Testing

/// The prefetch between products (`ThreadPool.Prefetch`, `ProductLookahead`): it must learn the
/// order products run in, give each thread the chunk it will likely claim first, and never change
/// what a loop computes.
@Suite("lookahead prefetch between products")
struct LookaheadTests {
    /// Thread p's pieces are its chunks in claim order (p, p + threads, ...), chunk 0 being
    /// `first` bytes and the rest `chunk`, clipped to the data.
    @Test func eachThreadGetsTheChunksItWillClaimClippedToTheData() throws {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1000, alignment: 64)
        defer { buffer.deallocate() }
        let plan = ThreadPool.Prefetch(base: buffer, first: 300, chunk: 200, bytes: 256, total: 1000)
        func pieces(_ p: Int) -> [[Int]] {
            (0..<4).map { k in
                let piece = plan.piece(p, of: 2, k)
                return [piece.start - UnsafeRawPointer(buffer), piece.bytes]
            }
        }
        // Chunks: 0 = 0..<300, 1 = 300..<500, 2 = 500..<700, 3 = 700..<900, 4 = 900..<1000.
        #expect(pieces(0) == [[0, 300], [500, 200], [900, 100], [1000, 0]])
        #expect(pieces(1) == [[300, 200], [700, 200], [1000, 0], [1000, 0]])
    }

    @Test func learnsWhichProductFollowsWhich() throws {
        let lookahead = ProductLookahead()
        let a = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 64)
        let b = UnsafeMutableRawPointer.allocate(byteCount: 8192, alignment: 64)
        let c = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
        defer { [a, b, c].forEach { $0.deallocate() } }
        // First pass: nothing is known yet.
        #expect(lookahead.advance(weights: a, first: 1024, chunk: 1024, total: 4096) == nil)
        #expect(lookahead.advance(weights: b, first: 2048, chunk: 2048, total: 8192) == nil)
        // Second pass: after a comes b (with b's chunks), after b comes a.
        let afterA = try #require(lookahead.advance(weights: a, first: 1024, chunk: 1024, total: 4096))
        #expect(afterA.base == UnsafeRawPointer(b) && afterA.first == 2048 && afterA.chunk == 2048 && afterA.total == 8192)
        #expect(afterA.bytes == ProductLookahead.bytes)
        let afterB = try #require(lookahead.advance(weights: b, first: 2048, chunk: 2048, total: 8192))
        #expect(afterB.base == UnsafeRawPointer(a) && afterB.first == 1024 && afterB.chunk == 1024 && afterB.total == 4096)
        // The order changes: the newest successor replaces the old one.
        _ = lookahead.advance(weights: c, first: 64, chunk: 64, total: 64)
        _ = lookahead.advance(weights: a, first: 1024, chunk: 1024, total: 4096)
        let afterANow = try #require(lookahead.advance(weights: a, first: 1024, chunk: 1024, total: 4096))
        #expect(afterANow.base == UnsafeRawPointer(a))
        let afterC = try #require(lookahead.advance(weights: c, first: 64, chunk: 64, total: 64))
        #expect(afterC.base == UnsafeRawPointer(a))
    }

    /// Every index is visited once with a plan attached, including one over memory already freed
    /// (a stale plan: prefetches do not fault).
    @Test func loopsWithAPlanCoverEveryIndexOnce() {
        let pool = ThreadPool(threads: 3)
        let data = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 64)
        let freed = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 64)
        freed.deallocate()
        defer { data.deallocate() }
        for base in [UnsafeRawPointer(data), UnsafeRawPointer(freed)] {
            for _ in 0..<50 {
                let counts = UnsafeMutablePointer<Int>.allocate(capacity: 997)
                counts.initialize(repeating: 0, count: 997)
                let plan = ThreadPool.Prefetch(base: base, first: 1 << 17, chunk: 1 << 16, bytes: 1 << 18, total: 1 << 20)
                pool.parallelFor(997, maxChunks: 40, thenPrefetch: plan) { range in
                    for i in range { counts[i] += 1 }
                }
                #expect((0..<997).allSatisfy { counts[$0] == 1 })
                counts.deallocate()
            }
        }
    }

    /// Products run in a repeating order over bf16 weights (decode), so from the second round on
    /// each is followed by the next one's prefetch: the results stay those of a single thread.
    @Test func productsInARepeatingOrderKeepTheirBits() {
        var rng = SeededRandom(seed: 31)
        let up = Tensor(rng.normal(700 * 300), shape: [700, 300], dtype: .bf16)
        let down = Tensor(rng.normal(300 * 700), shape: [300, 700], dtype: .bf16)
        let x = Tensor(rng.normal(2 * 300), shape: [2, 300])
        let one = CPUBackend(threads: 1), three = CPUBackend(threads: 3)
        let want = one.linear(one.linear(x, weight: up, bias: nil), weight: down, bias: nil)
        for round in 0..<4 {
            let got = three.linear(three.linear(x, weight: up, bias: nil), weight: down, bias: nil)
            expectBitExact("round \(round): up then down, 3 threads vs 1", got: got, want: want)
        }
    }
}
