@testable import OmniEngine

/// A model without weights that still behaves like one where the engine can get it wrong.
///
/// Its "KV" at a position is a hash chained over the token there and the KV before it, so the
/// logits at a position depend on the whole history, read back through the block table from the
/// cache slots earlier steps wrote. Before computing, it checks every cached position the
/// sequence attends to: a block handed to the wrong sequence, a prefix hit on other content, a
/// slot overwritten while still in use or a slot mapping that disagrees with the block table
/// throws instead of quietly giving different tokens.
final class FakeModelRunner: ModelRunner {
    struct CacheEntry {
        var tokenId: Int
        var position: Int
        var state: UInt64
    }

    enum Failure: Error, Equatable {
        case injected
        case corruptKV(sequence: Int, position: Int)
        case badSlot(sequence: Int, position: Int)
        case slotWrittenTwice(slot: Int)
        case readsSlotWrittenInSameBatch(slot: Int)
        case blockTableTooShort(sequence: Int)
    }

    let vocabularySize: Int
    let hiddenStateLayerCount = 4
    let hiddenSize = 3
    let blockSize: Int
    /// When set, the logit of `script[position + 1]` gets +100: greedy decoding follows the script.
    var script: [Int]?
    /// The next `execute` throws `Failure.injected`.
    var failNextStep = false
    private var cache: [CacheEntry?]
    private(set) var numComputedTokens = 0
    private(set) var numSteps = 0
    /// Tokens computed per request id.
    private(set) var computedTokensByRequest: [String: Int] = [:]
    private(set) var largestBatch = 0

    init(vocabularySize: Int = 48, numBlocks: Int, blockSize: Int) {
        self.vocabularySize = vocabularySize
        self.blockSize = blockSize
        cache = Array(repeating: nil, count: numBlocks * blockSize)
    }

    static let initialState: UInt64 = 0x5EED

    static func advance(_ state: UInt64, tokenId: Int, position: Int) -> UInt64 {
        SplitMix64.mix(state &* 31 &+ UInt64(tokenId) &* 1_000_003 &+ UInt64(position))
    }

    /// The logits a sequence whose KV state at its last position is `state` gets.
    func logitsRow(state: UInt64, position: Int) -> [Float] {
        var row = (0..<vocabularySize).map { v in
            Float(Int(SplitMix64.mix(state ^ (UInt64(v) &* 0x9E37_79B9)) % 1001) - 500) / 200
        }
        if let script, position + 1 < script.count { row[script[position + 1]] += 100 }
        return row
    }

    /// The KV states of a token list, as a solo computation would give them.
    static func states(of tokens: [Int]) -> [UInt64] {
        var state = initialState
        return tokens.enumerated().map { position, token in
            state = advance(state, tokenId: token, position: position)
            return state
        }
    }

    func execute(_ batch: ModelBatch) throws -> ModelOutput {
        if failNextStep {
            failNextStep = false
            throw Failure.injected
        }
        numSteps += 1
        largestBatch = max(largestBatch, batch.sequences.count)
        var written = Set<Int>()
        var logits: [Float] = []
        var hidden: [[HiddenStates]] = []
        let wantsHidden = batch.sequences.contains { !$0.hiddenStateLayers.isEmpty }
        for scheduled in batch.sequences {
            let id = scheduled.sequenceId
            guard scheduled.blockTable.count * blockSize >= scheduled.contextLength else {
                throw Failure.blockTableTooShort(sequence: id)
            }
            func slot(_ position: Int) -> Int {
                scheduled.blockTable[position / blockSize] * blockSize + position % blockSize
            }
            var state = Self.initialState
            for position in 0..<scheduled.startPosition {
                let slot = slot(position)
                guard !written.contains(slot) else { throw Failure.readsSlotWrittenInSameBatch(slot: slot) }
                guard let entry = cache[slot], entry.position == position,
                      entry.state == Self.advance(state, tokenId: entry.tokenId, position: position)
                else { throw Failure.corruptKV(sequence: id, position: position) }
                state = entry.state
            }
            var states: [UInt64] = []
            for (offset, token) in scheduled.tokenIds.enumerated() {
                let position = scheduled.startPosition + offset
                let target = scheduled.slotMapping[offset]
                guard target == slot(position) else { throw Failure.badSlot(sequence: id, position: position) }
                guard written.insert(target).inserted else { throw Failure.slotWrittenTwice(slot: target) }
                state = Self.advance(state, tokenId: token, position: position)
                cache[target] = CacheEntry(tokenId: token, position: position, state: state)
                states.append(state)
            }
            numComputedTokens += scheduled.tokenIds.count
            computedTokensByRequest[scheduled.requestId, default: 0] += scheduled.tokenIds.count
            precondition(logits.count == scheduled.logitsRowOffset * vocabularySize, "row offsets out of order")
            switch scheduled.logits {
            case .none: break
            case .last: logits += logitsRow(state: states.last!, position: scheduled.contextLength - 1)
            case .all:
                for (offset, state) in states.enumerated() {
                    logits += logitsRow(state: state, position: scheduled.startPosition + offset)
                }
            }
            if wantsHidden {
                hidden.append(scheduled.hiddenStateLayers.map { layer in
                    HiddenStates(
                        layer: layer, startPosition: scheduled.startPosition, hiddenSize: hiddenSize,
                        values: states.enumerated().flatMap { offset, state in
                            [Float(state % 997), Float(scheduled.startPosition + offset), Float(layer)]
                        }
                    )
                })
            }
        }
        return ModelOutput(logits: logits, hiddenStates: hidden)
    }
}

/// Token pieces for a fake detokenizer: token v reads `pieces[v]` (or "<v>" past the table).
func fakeDetokenizer(pieces: [String]) -> DetokenizerFactory {
    { _, _ in TextStream(append: { token in token < pieces.count ? pieces[token] : "<\(token)>" }, finish: { "" }) }
}

/// What one sequence produced over a whole run.
struct Completion: Equatable {
    var tokens: [Int] = []
    var text = ""
    var finishReason: FinishReason?
    var stopReason: StopReason?
    var logprobs: [TokenLogprobs] = []
    var promptLogprobs: [TokenLogprobs?]?
    var hiddenStates: [HiddenStates] = []
    var numCachedPromptTokens = 0
}

struct CompletionKey: Hashable, CustomStringConvertible {
    var requestId: String
    var index: Int
    var description: String { "\(requestId)#\(index)" }
}

extension Engine {
    /// Steps until every request finishes, collecting each sequence's outputs.
    @discardableResult
    func runToCompletion(maxSteps: Int = 10_000) throws -> [CompletionKey: Completion] {
        var completions: [CompletionKey: Completion] = [:]
        try runToCompletion(into: &completions, maxSteps: maxSteps)
        return completions
    }

    func runToCompletion(into completions: inout [CompletionKey: Completion], maxSteps: Int = 10_000) throws {
        var steps = 0
        while hasUnfinishedRequests {
            steps += 1
            precondition(steps <= maxSteps, "the engine did not finish in \(maxSteps) steps")
            try step(into: &completions)
        }
    }

    /// One step, its outputs added to `completions`.
    func step(into completions: inout [CompletionKey: Completion]) throws {
        for output in try step() {
            completions[CompletionKey(requestId: output.requestId, index: output.index), default: Completion()].absorb(output)
        }
    }
}

extension Completion {
    mutating func absorb(_ output: SequenceOutput) {
        tokens += output.newTokenIds
        text += output.text
        logprobs += output.logprobs
        hiddenStates += output.hiddenStates
        if let prompt = output.promptLogprobs {
            precondition(promptLogprobs == nil, "prompt logprobs returned twice")
            promptLogprobs = prompt
        }
        if output.isFinished {
            precondition(finishReason == nil, "finished twice")
            finishReason = output.finishReason
            stopReason = output.stopReason
        }
        numCachedPromptTokens = output.numCachedPromptTokens
    }
}

/// An engine over a fake runner with the same KV geometry.
func makeEngine(
    numBlocks: Int = 64,
    blockSize: Int = 4,
    maxModelLen: Int = 128,
    maxNumSeqs: Int = 16,
    maxNumBatchedTokens: Int = 64,
    enablePrefixCaching: Bool = true,
    eosTokenId: Int? = nil,
    generationDefaults: GenerationDefaults = .none,
    vocabularySize: Int = 48,
    detokenizer: DetokenizerFactory? = nil
) throws -> (Engine, FakeModelRunner) {
    let config = try EngineConfig(
        numKVBlocks: numBlocks, maxModelLen: maxModelLen, blockSize: blockSize, maxNumSeqs: maxNumSeqs,
        maxNumBatchedTokens: maxNumBatchedTokens, enablePrefixCaching: enablePrefixCaching,
        eosTokenId: eosTokenId, generationDefaults: generationDefaults
    )
    let runner = FakeModelRunner(vocabularySize: vocabularySize, numBlocks: numBlocks, blockSize: blockSize)
    return (Engine(config: config, runner: runner, detokenizer: detokenizer), runner)
}

/// A prompt of `count` tokens in 1..<vocabularySize, different for each `salt`.
func prompt(_ count: Int, salt: Int, vocabularySize: Int = 48) -> [Int] {
    (0..<count).map { 1 + Int(SplitMix64.mix(UInt64(salt * 7919 + $0)) % UInt64(vocabularySize - 1)) }
}
