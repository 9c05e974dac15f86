import Foundation
import OmniTensor
import Testing

/// `pagedAttention`'s blocked kernel (rows of a KV head's group and a block of tokens together):
/// every row must come out bit-identical however the engine batched it — a whole prefill chunk, a
/// shorter chunk, or one token at a time as in decode — because batch invariance of the engine's
/// outputs rests on it. Values are checked against attention summed in double: tolerance 1e-5 of
/// sum |p v| per output (f32 sums of <= 200 terms), achieved error printed. Shapes cross the
/// kernel's edges: head and value sizes not multiples of 16 or 64 (value 72 = 64 + a narrow slice),
/// contexts not multiples of 32 keys, groups of 1 and 3, scattered blocks.
@Suite struct PagedAttentionKernelTests {
    struct Shape: Sendable, CustomStringConvertible {
        var kvHeads, group, headDim, valueDim, blockSize, context, chunk: Int
        var description: String { "kv\(kvHeads) g\(group) d\(headDim)/\(valueDim) blk\(blockSize) ctx\(context) chunk\(chunk)" }
    }

    static let shapes = [
        Shape(kvHeads: 2, group: 3, headDim: 20, valueDim: 72, blockSize: 4, context: 77, chunk: 45),
        Shape(kvHeads: 1, group: 1, headDim: 64, valueDim: 64, blockSize: 16, context: 200, chunk: 200),
        Shape(kvHeads: 2, group: 7, headDim: 64, valueDim: 64, blockSize: 16, context: 33, chunk: 33),
        Shape(kvHeads: 3, group: 2, headDim: 128, valueDim: 128, blockSize: 8, context: 65, chunk: 9),
    ]

    @Test(arguments: shapes)
    func rowsDoNotDependOnBatching(_ s: Shape) {
        let backend = CPUBackend(threads: 2)
        var rng = SeededRandom(seed: UInt64(s.context * 131 + s.headDim))
        let blocksNeeded = (s.context + s.blockSize - 1) / s.blockSize
        let blocks = blocksNeeded * 2 + 1
        let cache = PagedKVCache(blocks: blocks, blockSize: s.blockSize, kvHeads: s.kvHeads, headDim: s.headDim,
                                 valueDim: s.valueDim)
        // Scattered, reversed block table; every slot of the sequence written.
        let table = (0..<blocksNeeded).map { Int32(blocks - 1 - 2 * $0) }
        let slots = (0..<s.context).map { table[$0 / s.blockSize] * Int32(s.blockSize) + Int32($0 % s.blockSize) }
        let keys = rng.normal(s.context * s.kvHeads * s.headDim)
        let values = rng.normal(s.context * s.kvHeads * s.valueDim)
        backend.writeKV(key: Tensor(keys, shape: [s.context, s.kvHeads, s.headDim]),
                        value: Tensor(values, shape: [s.context, s.kvHeads, s.valueDim]), into: cache, slots: slots)
        let qHeads = s.kvHeads * s.group, scale = 1 / Float(s.headDim).squareRoot()
        let queries = rng.normal(s.chunk * qHeads * s.headDim, scale: 2)
        let first = s.context - s.chunk

        // The whole chunk in one call.
        let whole = backend.pagedAttention(
            query: Tensor(queries, shape: [s.chunk, qHeads, s.headDim]), cache: cache,
            batch: AttentionBatch(sequences: [.init(queryStart: 0, queryCount: s.chunk, contextLength: s.context,
                                                    blockTable: table)]),
            scale: scale).toFloats()
        // Each token alone (decode), and the chunk split in two behind another sequence's token.
        let rowFloats = qHeads * s.headDim, outFloats = qHeads * s.valueDim
        var mismatches = 0
        for t in 0..<s.chunk {
            let alone = backend.pagedAttention(
                query: Tensor(Array(queries[(t * rowFloats)..<((t + 1) * rowFloats)]), shape: [1, qHeads, s.headDim]),
                cache: cache,
                batch: AttentionBatch(sequences: [.init(queryStart: 0, queryCount: 1, contextLength: first + t + 1,
                                                        blockTable: table)]),
                scale: scale).toFloats()
            if alone != Array(whole[(t * outFloats)..<((t + 1) * outFloats)]) { mismatches += 1 }
        }
        #expect(mismatches == 0, "\(s): \(mismatches) of \(s.chunk) tokens differ between the chunk and one at a time")

        let split = s.chunk / 2
        let other = rng.normal(rowFloats)
        let mixed = backend.pagedAttention(
            query: Tensor(other + Array(queries[(split * rowFloats)...]), shape: [1 + s.chunk - split, qHeads, s.headDim]),
            cache: cache,
            batch: AttentionBatch(sequences: [
                .init(queryStart: 0, queryCount: 1, contextLength: 3, blockTable: table),
                .init(queryStart: 1, queryCount: s.chunk - split, contextLength: s.context, blockTable: table),
            ]),
            scale: scale).toFloats()
        #expect(Array(mixed[outFloats...]) == Array(whole[(split * outFloats)...]), "\(s): the chunk's tail differs when batched")

        // Against double-precision attention.
        var worst = 0.0
        for t in 0..<s.chunk {
            let visible = first + t + 1
            for h in 0..<qHeads {
                let kvh = h / s.group
                let q = (t * qHeads + h) * s.headDim
                var scores = (0..<visible).map { j -> Double in
                    var dot = 0.0
                    for d in 0..<s.headDim { dot += Double(queries[q + d]) * Double(keys[(j * s.kvHeads + kvh) * s.headDim + d]) }
                    return dot * Double(scale)
                }
                let top = scores.max()!
                scores = scores.map { exp($0 - top) }
                let total = scores.reduce(0, +)
                for e in 0..<s.valueDim {
                    var sum = 0.0, magnitude = 0.0
                    for j in 0..<visible {
                        let term = scores[j] / total * Double(values[(j * s.kvHeads + kvh) * s.valueDim + e])
                        sum += term
                        magnitude += abs(term)
                    }
                    let got = Double(whole[(t * qHeads + h) * s.valueDim + e])
                    worst = max(worst, abs(got - sum) / max(magnitude, 1e-30))
                }
            }
        }
        print("paged attention \(s): max error \(worst) of sum |p v|")
        #expect(worst <= 1e-5, "\(s): max error \(worst) of sum |p v| > 1e-5")
    }

    /// A bf16 cache (the bf16 matmul mode's): writeKV rounds keys and values to bf16, and the
    /// attention must equal, bit for bit, the f32 kernel over an f32 cache holding those rounded
    /// values (the widening is exact), with the chunk batched as in the engine.
    @Test(arguments: shapes)
    func bf16CacheEqualsF32CacheOfTheRoundedValues(_ s: Shape) {
        let backend = CPUBackend(threads: 2)
        var rng = SeededRandom(seed: UInt64(s.context * 7 + s.valueDim))
        let blocksNeeded = (s.context + s.blockSize - 1) / s.blockSize
        let table = (0..<blocksNeeded).map { Int32(blocksNeeded - 1 - $0) }
        let slots = (0..<s.context).map { table[$0 / s.blockSize] * Int32(s.blockSize) + Int32($0 % s.blockSize) }
        let keys = Tensor(rng.normal(s.context * s.kvHeads * s.headDim), shape: [s.context, s.kvHeads, s.headDim])
        let values = Tensor(rng.normal(s.context * s.kvHeads * s.valueDim), shape: [s.context, s.kvHeads, s.valueDim])
        let rounded = { (t: Tensor) in backend.cast(backend.cast(t, to: .bf16), to: .f32) }
        let bf16Cache = PagedKVCache(blocks: blocksNeeded, blockSize: s.blockSize, kvHeads: s.kvHeads, headDim: s.headDim,
                                     valueDim: s.valueDim, dtype: .bf16)
        let f32Cache = PagedKVCache(blocks: blocksNeeded, blockSize: s.blockSize, kvHeads: s.kvHeads, headDim: s.headDim,
                                    valueDim: s.valueDim)
        backend.writeKV(key: keys, value: values, into: bf16Cache, slots: slots)
        backend.writeKV(key: rounded(keys), value: rounded(values), into: f32Cache, slots: slots)
        let qHeads = s.kvHeads * s.group
        let query = Tensor(rng.normal(s.chunk * qHeads * s.headDim), shape: [s.chunk, qHeads, s.headDim])
        let batch = AttentionBatch(sequences: [.init(queryStart: 0, queryCount: s.chunk, contextLength: s.context, blockTable: table)])
        let scale = 1 / Float(s.headDim).squareRoot()
        let fromBF16 = backend.pagedAttention(query: query, cache: bf16Cache, batch: batch, scale: scale).toFloats()
        let fromF32 = backend.pagedAttention(query: query, cache: f32Cache, batch: batch, scale: scale).toFloats()
        #expect(fromBF16.map(\.bitPattern) == fromF32.map(\.bitPattern), "\(s): bf16 cache differs from the f32 cache of its values")
    }
}
