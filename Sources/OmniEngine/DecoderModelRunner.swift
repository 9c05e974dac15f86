import OmniModels
import OmniTensor

/// Runs a decoder-only LM for the engine: owns the paged KV cache tensors and turns a
/// `ModelBatch` into one forward pass (all sequences' new tokens flattened into one batch).
public final class DecoderModelRunner: ModelRunner {
    public let model: DecoderOnlyLM
    public let blockSize: Int
    public let numBlocks: Int
    private let caches: [PagedKVCache]

    /// - Parameters:
    ///   - numBlocks: KV cache blocks to allocate (the engine's BlockManager must use the same).
    public init(model: DecoderOnlyLM, numBlocks: Int, blockSize: Int) {
        self.model = model
        self.blockSize = blockSize
        self.numBlocks = numBlocks
        caches = model.makeCaches(blocks: numBlocks, blockSize: blockSize)
    }

    /// KV cache blocks that fit in `bytes` for this model.
    public static func blocks(fitting bytes: Int, model: DecoderOnlyLM, blockSize: Int) -> Int {
        bytes / max(1, model.kvBytesPerToken * blockSize)
    }

    public var vocabularySize: Int { model.config.vocabularySize }

    /// The CPU backend's pool, one sequence per chunk (sampling a row costs ~0.1 ms).
    public func parallelFor(_ count: Int, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        if let cpu = model.backend as? CPUBackend {
            cpu.pool.parallelFor(count, grain: 1, maxChunks: count, body)
        } else {
            body(0..<count)
        }
    }
    public var hiddenStateLayerCount: Int { model.config.layers + 1 }

    public func execute(_ batch: ModelBatch) throws -> ModelOutput {
        precondition(batch.blockSize == blockSize, "engine block size \(batch.blockSize) != runner's \(blockSize)")
        var tokens = [Int32](), positions = [Int32](), slots = [Int32]()
        tokens.reserveCapacity(batch.numTokens)
        positions.reserveCapacity(batch.numTokens)
        slots.reserveCapacity(batch.numTokens)
        var sequences = [AttentionBatch.Sequence]()
        var logitRows = [Int](), hiddenLayers = Set<Int>()
        for s in batch.sequences {
            let start = tokens.count
            sequences.append(.init(queryStart: start, queryCount: s.tokenIds.count, contextLength: s.contextLength,
                                   blockTable: s.blockTable.map { Int32($0) }))
            for (j, id) in s.tokenIds.enumerated() {
                tokens.append(Int32(id))
                positions.append(Int32(s.startPosition + j))
                slots.append(Int32(s.slotMapping[j]))
            }
            switch s.logits {
            case .none: break
            case .last: logitRows.append(tokens.count - 1)
            case .all: logitRows.append(contentsOf: start..<tokens.count)
            }
            hiddenLayers.formUnion(s.hiddenStateLayers)
        }
        if tokens.isEmpty { return ModelOutput(logits: []) }
        let forward = ForwardBatch(tokens: tokens, positions: positions, slots: slots,
                                   attention: AttentionBatch(sequences: sequences), logitRows: logitRows,
                                   hiddenStateLayers: hiddenLayers)
        let out = model.forward(forward, caches: caches)
        let logits = logitRows.isEmpty ? [] : out.logits.toFloats()
        guard !hiddenLayers.isEmpty else { return ModelOutput(logits: logits) }
        let width = model.config.hiddenSize
        var hidden = [[HiddenStates]]()
        for (s, seq) in zip(batch.sequences, sequences) {
            hidden.append(s.hiddenStateLayers.map { layer in
                let rows = out.hiddenStates[layer]!.sliced(dim: 0, seq.queryStart..<(seq.queryStart + seq.queryCount))
                return HiddenStates(layer: layer, startPosition: s.startPosition, hiddenSize: width, values: rows.toFloats())
            })
        }
        return ModelOutput(logits: logits, hiddenStates: hidden)
    }
}
