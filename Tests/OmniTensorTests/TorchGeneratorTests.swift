import Foundation
import OmniTensor
import Testing

/// `TorchGenerator` against torch's own draws (Tests/Fixtures/random/torch_generator.json, written
/// by tools/reference/make_random_fixtures.py under both of torch's Box-Muller kernels). The bar is
/// bit equality: every element's bit pattern, or the FNV-1a hash of all of them for large draws.
@Suite("torch CPU generator")
struct TorchGeneratorTests {
    struct Draw: Decodable {
        let op: String
        let shape: [Int]?
        let dtype: String?
        let seed: UInt64?
        let count: Int?
        let fnv: String?
        let bits, head, tail: [String]?
    }

    struct Case: Decodable {
        let name: String
        let seed: UInt64
        let draws: [Draw]
    }

    struct Fixture: Decodable {
        let torch: String
        let kernels: [String: [Case]]
    }

    static let fixture: Fixture? = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/random/torch_generator.json")
        return (try? Data(contentsOf: url)).flatMap { try? JSONDecoder().decode(Fixture.self, from: $0) }
    }()

    static func cases(_ kernel: String) -> [String] {
        fixture?.kernels[kernel]?.map(\.name) ?? ["<fixture missing or unreadable>"]
    }

    @Test("avx2 kernel", arguments: cases("avx2"))
    func avx2(_ name: String) throws { try check(kernel: "avx2", boxMuller: .avx2, name: name) }

    @Test("libm kernel", arguments: cases("libm"))
    func libm(_ name: String) throws { try check(kernel: "libm", boxMuller: .libm, name: name) }

    func check(kernel: String, boxMuller: TorchGenerator.BoxMuller, name: String) throws {
        let testCase = try #require(Self.fixture?.kernels[kernel]?.first { $0.name == name })
        var generator = TorchGenerator(seed: testCase.seed, boxMuller: boxMuller)
        for (index, draw) in testCase.draws.enumerated() {
            if draw.op == "manual_seed" {
                generator.manualSeed(try #require(draw.seed))
                continue
            }
            let shape = try #require(draw.shape), dtype = try #require(draw.dtype)
            let got = bitPatterns(&generator, op: draw.op, shape: shape, dtype: dtype)
            let label = "\(name) draw \(index) (\(draw.op) \(shape) \(dtype))"
            #expect(got.count == draw.count, "\(label): \(got.count) values")
            let hash = String(fnv1a(got), radix: 16).leftPadded(to: 16)
            if let bits = draw.bits {
                #expect(firstMismatch(got, bits, offset: 0) == nil, "\(label): \(firstMismatch(got, bits, offset: 0) ?? "")")
            }
            if let head = draw.head, let tail = draw.tail {
                #expect(firstMismatch(Array(got.prefix(head.count)), head, offset: 0) == nil,
                        "\(label): \(firstMismatch(Array(got.prefix(head.count)), head, offset: 0) ?? "")")
                #expect(firstMismatch(Array(got.suffix(tail.count)), tail, offset: got.count - tail.count) == nil,
                        "\(label): \(firstMismatch(Array(got.suffix(tail.count)), tail, offset: got.count - tail.count) ?? "")")
            }
            #expect(hash == draw.fnv, "\(label): FNV-1a \(hash), torch \(draw.fnv ?? "?")")
        }
    }

    /// One draw as bit patterns, through the public API the engine uses (tensors for f32/bf16/f16).
    func bitPatterns(_ generator: inout TorchGenerator, op: String, shape: [Int], dtype: String) -> [UInt64] {
        let count = shape.reduce(1, *)
        if dtype == "f64" {
            let values = op == "randn" ? generator.normalDoubles(count: count) : generator.uniformDoubles(count: count)
            return values.map { $0.bitPattern }
        }
        let type: DType = dtype == "bf16" ? .bf16 : dtype == "f16" ? .f16 : .f32
        let t = op == "randn" ? generator.randn(shape, dtype: type) : generator.rand(shape, dtype: type)
        #expect(t.shape == shape && t.dtype == type)
        if type == .f32 { return t.toFloats().map { UInt64($0.bitPattern) } }
        let p = t.rawPointer.assumingMemoryBound(to: UInt16.self)
        return (0..<count).map { UInt64(p[$0]) }
    }

    func firstMismatch(_ got: [UInt64], _ want: [String], offset: Int) -> String? {
        for (i, w) in want.enumerated() where i >= got.count || UInt64(w, radix: 16) != got[i] {
            let g = i < got.count ? String(got[i], radix: 16) : "none"
            return "element \(offset + i): got bits \(g), torch \(w)"
        }
        return nil
    }

    func fnv1a(_ words: [UInt64]) -> UInt64 {
        words.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ $1) &* 0x100_0000_01B3 }
    }

    @Test func seedKeepsSixtyFourBitsButTheEngineOnlyThirtyTwo() {
        var a = TorchGenerator(seed: 5, boxMuller: .avx2)
        var b = TorchGenerator(seed: (1 << 32) + 5, boxMuller: .avx2)
        #expect(b.initialSeed == (1 << 32) + 5)
        #expect(a.randn([20]).toFloats() == b.randn([20]).toFloats())
    }

    @Test func manualSeedDropsTheCachedNormal() {
        var fresh = TorchGenerator(seed: 3)
        let first = fresh.randn([1]).toFloats()
        var reseeded = TorchGenerator(seed: 3)
        _ = reseeded.randn([1])  // leaves the pair's second value cached
        reseeded.manualSeed(3)
        #expect(reseeded.randn([1]).toFloats() == first)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
