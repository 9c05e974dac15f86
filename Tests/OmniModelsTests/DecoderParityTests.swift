import Foundation
import OmniModels
import OmniTensor
import OmniWeights
import Testing

/// Tiny random checkpoints made by tools/reference/make_lm_fixtures.py with transformers, and
/// transformers' own outputs for them (reference.safetensors).
private let fixtureRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../Fixtures/lm").standardized
private let fixtureNames = ["qwen2-f32-untied-gqa2", "qwen2-bf16-tied-mha", "qwen3-f32-headdim-gqa3",
                            "qwen3-bf16-tied-gqa2", "llama-f32-llama3rope"]
private let backend = CPUBackend(threads: 2)

/// A model and a small paged cache, with sequences laid out block by block.
private struct Harness {
    let model: DecoderOnlyLM
    let reference: SafeTensorsFile
    let caches: [PagedKVCache]
    let blockSize = 4
    var nextBlock = 0

    init(_ name: String) throws {
        let dir = fixtureRoot.appendingPathComponent(name)
        model = try CausalLMLoader.load(directory: dir, backend: backend)
        reference = try SafeTensorsFile(url: dir.appendingPathComponent("reference.safetensors"))
        caches = model.makeCaches(blocks: 64, blockSize: 4)
    }

    func ints(_ name: String) throws -> [Int32] { try reference.tensor(name).toInts().map { Int32($0) } }
    func floats(_ name: String) throws -> [Float] { try reference.tensor(name).toFloats() }

    mutating func allocate(tokens: Int) -> [Int32] {
        let blocks = (tokens + blockSize - 1) / blockSize
        defer { nextBlock += blocks }
        return (nextBlock..<(nextBlock + blocks)).map { Int32($0) }
    }

    /// Runs `chunks` of new tokens for several sequences at once; returns logits for every new token.
    func step(_ parts: [(tokens: [Int32], start: Int, table: [Int32])], hidden: Set<Int> = []) -> ForwardOutput {
        var tokens = [Int32](), positions = [Int32](), slots = [Int32](), seqs = [AttentionBatch.Sequence]()
        for part in parts {
            seqs.append(.init(queryStart: tokens.count, queryCount: part.tokens.count,
                              contextLength: part.start + part.tokens.count, blockTable: part.table))
            for (j, tok) in part.tokens.enumerated() {
                let pos = part.start + j
                tokens.append(tok)
                positions.append(Int32(pos))
                slots.append(part.table[pos / blockSize] * Int32(blockSize) + Int32(pos % blockSize))
            }
        }
        let batch = ForwardBatch(tokens: tokens, positions: positions, slots: slots,
                                 attention: AttentionBatch(sequences: seqs), logitRows: Array(0..<tokens.count),
                                 hiddenStateLayers: hidden)
        return model.forward(batch, caches: caches)
    }
}

@Suite struct DecoderParityTests {
    @Test(arguments: fixtureNames)
    func promptLogitsMatchTransformers(name: String) throws {
        var h = try Harness(name)
        let tolerance: Float = 1e-4   // f32 math over the stored weights, bf16 checkpoints included
        for i in 0..<3 {
            let prompt = try h.ints("prompt_\(i)")
            let table = h.allocate(tokens: prompt.count)
            let logits = h.step([(prompt, 0, table)]).logits.toFloats()
            let err = maxRelativeError(logits, try h.floats("logits_\(i)"))
            #expect(err <= tolerance, "\(name) prompt \(i): max rel err \(err) > \(tolerance)")
            print("\(name) prompt \(i) logits: OK (max rel \(err) <= \(tolerance))")
        }
    }

    @Test(arguments: fixtureNames)
    func everyLayerMatchesTransformers(name: String) throws {
        var h = try Harness(name)
        let prompt = try h.ints("prompt_0")
        let layers = h.model.config.layers
        let out = h.step([(prompt, 0, h.allocate(tokens: prompt.count))], hidden: Set(0...layers))
        for layer in 0...layers {
            let err = maxRelativeError(out.hiddenStates[layer]!.toFloats(), try h.floats("hidden_0_\(layer)"))
            #expect(err <= 1e-5, "\(name) hidden_states[\(layer)]: max rel err \(err) > 1e-5")
        }
    }

    /// Greedy continuations equal `generate(do_sample=False)` up to the first step where the
    /// reference's own top-1/top-2 margin is below 1e-3 (there rounding may legitimately flip it).
    @Test(arguments: fixtureNames)
    func greedyContinuationMatchesGenerate(name: String) throws {
        var h = try Harness(name)
        for i in 0..<3 {
            let prompt = try h.ints("prompt_\(i)")
            let expected = try h.ints("greedy_\(i)"), margins = try h.floats("margin_\(i)")
            let table = h.allocate(tokens: prompt.count + expected.count)
            var logits = h.step([(prompt, 0, table)]).logits
            var generated = [Int32]()
            for step in 0..<expected.count {
                let row = logits.selecting(dim: 0, index: logits.shape[0] - 1).toFloats()
                let next = Int32(row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }!)
                generated.append(next)
                if margins[step] < 1e-3 { break }
                #expect(next == expected[step], "\(name) prompt \(i) step \(step): got \(next), transformers \(expected[step])")
                if next != expected[step] { break }
                logits = h.step([([next], prompt.count + step, table)]).logits
            }
            #expect(generated.count >= 8, "\(name) prompt \(i): compared only \(generated.count) steps")
        }
    }

    /// Chunked prefill, and several sequences in one step, give the same logits as one whole prompt.
    @Test(arguments: fixtureNames)
    func chunkedAndBatchedPrefillMatchWholePrompt(name: String) throws {
        var h = try Harness(name)
        let long = try h.ints("prompt_2"), short = try h.ints("prompt_0"), single = try h.ints("prompt_1")
        let tLong = h.allocate(tokens: long.count), tShort = h.allocate(tokens: short.count), tSingle = h.allocate(tokens: 1)
        // Step 1: the first 5 tokens of the long prompt with the whole short prompt.
        let first = h.step([(Array(long[0..<5]), 0, tLong), (short, 0, tShort)]).logits
        // Step 2: the rest of the long prompt with the one-token prompt.
        let second = h.step([(Array(long[5...]), 5, tLong), (single, 0, tSingle)]).logits
        let v = h.model.config.vocabularySize
        let longLogits = first.sliced(dim: 0, 0..<5).toFloats() + second.sliced(dim: 0, 0..<(long.count - 5)).toFloats()
        let errLong = maxRelativeError(longLogits, try h.floats("logits_2"))
        let errShort = maxRelativeError(first.sliced(dim: 0, 5..<(5 + short.count)).toFloats(), try h.floats("logits_0"))
        let errSingle = maxRelativeError(second.sliced(dim: 0, (long.count - 5)..<(long.count - 4)).toFloats(), try h.floats("logits_1"))
        #expect(first.shape == [5 + short.count, v])
        for (label, err) in [("chunked long", errLong), ("batched short", errShort), ("batched single", errSingle)] {
            #expect(err <= 1e-4, "\(name) \(label): max rel err \(err) > 1e-4")
        }
    }
}
