/// The seam between the engine, which moves token ids and block ids, and the model code, which owns
/// the weights, the KV cache tensors and the Backend. The engine calls `execute` once per step with
/// everything scheduled for that step and samples from the logits it returns.
///
/// The contract, for each `ScheduledSequence` of a batch:
/// - Its tokens sit at positions `startPosition ..< startPosition + tokenIds.count`. The KV of every
///   position before `startPosition` is already in the cache, at the slots its `blockTable` gives
///   (position p lives in block `blockTable[p / blockSize]` at offset `p % blockSize`), written by
///   an earlier call: by this sequence, or by another one whose prompt shared the block.
/// - Write the K/V of `tokenIds[j]` at `slotMapping[j]` (= block * blockSize + offset), and attend
///   causally over positions `0 ... startPosition + j` through the block table.
/// - No two tokens of a batch share a slot, and no sequence reads a slot that another sequence of
///   the same batch writes: shared (prefix-cached) blocks are full and were computed by an earlier
///   call. Sequences of a batch are independent; compute them in any order or all at once.
/// - Blocks are recycled without being cleared: never read a slot the block table does not cover
///   up to `startPosition`.
/// - Return raw logits (no temperature, penalty or mask; the Sampler does all that) as `Float`,
///   `vocabularySize` per row: one row for `.last` (the last position), one per token for `.all`,
///   none for `.none`; rows of all sequences concatenated in batch order (`logitsRowOffset`).
/// - For a sequence with `hiddenStateLayers`, return the hidden states of each of those layers at
///   each of its positions in this call, with the layer numbering of transformers'
///   `output_hidden_states` (0 = the embeddings, i = the output of decoder layer i, the last = after
///   the final norm).
///
/// If `execute` throws, the engine advances nothing: every sequence stays where it was, so the
/// caller may retry the step or abort the requests. The runner is owned by one `Engine` and called
/// from the engine's owner only (see `Engine`).
public protocol ModelRunner: AnyObject {
    /// Width of a logits row (the lm_head's output size, which may exceed the tokenizer's vocabulary).
    var vocabularySize: Int { get }
    /// How many hidden-state layers a request may choose from (transformers' num_hidden_layers + 1).
    var hiddenStateLayerCount: Int { get }
    /// Runs one forward pass over the batch.
    func execute(_ batch: ModelBatch) throws -> ModelOutput
    /// Calls `body` on disjoint ranges covering 0..<count, on the runner's compute threads where it
    /// has them (the engine samples a step's sequences this way). Default: one call on the caller.
    func parallelFor(_ count: Int, _ body: (Range<Int>) -> Void)
}

extension ModelRunner {
    public func parallelFor(_ count: Int, _ body: (Range<Int>) -> Void) {
        if count > 0 { body(0..<count) }
    }
}

/// Which logits rows a sequence needs from a step.
public enum LogitsRequest: Sendable, Equatable {
    /// A chunk in the middle of a prefill: only KV is written.
    case none
    /// The last position's row, to sample the next token.
    case last
    /// One row per computed token: for prompt logprobs (the last row also samples when the chunk
    /// ends the sequence).
    case all
}

/// Everything the runner computes in one step.
public struct ModelBatch: Sendable {
    public let blockSize: Int
    public let sequences: [ScheduledSequence]
    /// Tokens computed in this step over all sequences.
    public let numTokens: Int
    /// Logits rows the runner returns (`vocabularySize` floats each).
    public let numLogitsRows: Int

    public init(blockSize: Int, sequences: [ScheduledSequence]) {
        self.blockSize = blockSize
        self.sequences = sequences
        numTokens = sequences.reduce(0) { $0 + $1.tokenIds.count }
        numLogitsRows = sequences.reduce(0) { $0 + $1.numLogitsRows }
    }
}

/// One sequence's work in a step (see `ModelRunner` for the contract).
public struct ScheduledSequence: Sendable {
    /// The engine's id for the sequence, stable across steps (and preemptions) until it finishes,
    /// for state the runner keeps per sequence.
    public let sequenceId: Int
    public let requestId: String
    /// The tokens to compute: a chunk of the prompt (or, after a preemption, of prompt + output),
    /// or the last generated token.
    public let tokenIds: [Int]
    /// Position of `tokenIds[0]`: the number of tokens whose KV is already cached.
    public let startPosition: Int
    /// The sequence's KV blocks, covering positions `0 ..< startPosition + tokenIds.count`.
    public let blockTable: [Int]
    /// Where each new token's K/V goes: block * blockSize + offset.
    public let slotMapping: [Int]
    public let logits: LogitsRequest
    /// Index of this sequence's first logits row in `ModelOutput.logits`.
    public let logitsRowOffset: Int
    /// Layers whose hidden states to return for every token of this step (empty: none).
    public let hiddenStateLayers: [Int]

    public init(
        sequenceId: Int,
        requestId: String,
        tokenIds: [Int],
        startPosition: Int,
        blockTable: [Int],
        slotMapping: [Int],
        logits: LogitsRequest,
        logitsRowOffset: Int,
        hiddenStateLayers: [Int]
    ) {
        self.sequenceId = sequenceId
        self.requestId = requestId
        self.tokenIds = tokenIds
        self.startPosition = startPosition
        self.blockTable = blockTable
        self.slotMapping = slotMapping
        self.logits = logits
        self.logitsRowOffset = logitsRowOffset
        self.hiddenStateLayers = hiddenStateLayers
    }

    /// Positions of `tokenIds`.
    public var positions: Range<Int> { startPosition..<(startPosition + tokenIds.count) }
    /// Tokens this sequence attends over after the step.
    public var contextLength: Int { startPosition + tokenIds.count }
    public var numLogitsRows: Int {
        switch logits {
        case .none: 0
        case .last: 1
        case .all: tokenIds.count
        }
    }
}

/// What the runner returns for a batch.
public struct ModelOutput: Sendable {
    /// `batch.numLogitsRows` rows of `vocabularySize` raw logits, row-major, in batch order.
    public var logits: [Float]
    /// Per sequence of the batch, in batch order, one entry per requested layer; empty when no
    /// sequence of the batch asked for hidden states.
    public var hiddenStates: [[HiddenStates]]

    public init(logits: [Float], hiddenStates: [[HiddenStates]] = []) {
        self.logits = logits
        self.hiddenStates = hiddenStates
    }
}

/// One layer's hidden states at consecutive positions of one sequence.
public struct HiddenStates: Sendable, Equatable {
    public var layer: Int
    /// Position of the first row.
    public var startPosition: Int
    public var hiddenSize: Int
    /// Row-major, `hiddenSize` floats per position.
    public var values: [Float]

    public init(layer: Int, startPosition: Int, hiddenSize: Int, values: [Float]) {
        self.layer = layer
        self.startPosition = startPosition
        self.hiddenSize = hiddenSize
        self.values = values
    }

    public var numPositions: Int { hiddenSize == 0 ? 0 : values.count / hiddenSize }
}
