/// One sequence's share of a step: compute its tokens `startPosition ..< endPosition`.
public struct ScheduledChunk {
    public let sequence: EngineSequence
    public let startPosition: Int
    public let numNewTokens: Int
    /// The chunk reaches the sequence's last token (when scheduled), so its logits give the next
    /// token: the end of a prefill (or of a recompute after preemption), or a decode.
    public let samplesNextToken: Bool

    init(sequence: EngineSequence, startPosition: Int, numNewTokens: Int) {
        self.sequence = sequence
        self.startPosition = startPosition
        self.numNewTokens = numNewTokens
        samplesNextToken = startPosition + numNewTokens == sequence.numTokens
    }

    public var endPosition: Int { startPosition + numNewTokens }
}

/// Continuous batching in nano-vllm's shape, with vLLM v1's unified view of prefill and decode:
/// every step, each scheduled sequence computes the tokens between `numComputedTokens` and its
/// end, up to the step's token budget, so prefills, chunks of long prefills and decodes share one
/// step and a prompt longer than the budget is split across steps.
///
/// Each step first serves the running sequences in admission order (each needs at least one
/// token), then admits waiting ones first come, first served while `maxNumSeqs`, the token budget
/// and free blocks allow. When a running sequence needs a block and none is free, the newest
/// running sequence is preempted by recompute: its blocks are freed and it goes back to the head
/// of the waiting queue with its generated tokens, to compute prompt + output again when it is
/// readmitted (the prefix cache usually still holds most of it). Nothing is admitted in a step
/// that preempted.
public final class Scheduler {
    public let blockManager: BlockManager
    public let maxNumSeqs: Int
    public let maxNumBatchedTokens: Int
    /// Sequences not holding blocks, next admitted first.
    public private(set) var waiting: [EngineSequence] = []
    /// Sequences holding blocks, oldest admission first (preemption takes from the end).
    public private(set) var running: [EngineSequence] = []
    public private(set) var numPreemptions = 0

    public init(blockManager: BlockManager, maxNumSeqs: Int, maxNumBatchedTokens: Int) {
        precondition(maxNumSeqs > 0 && maxNumBatchedTokens > 0, "a scheduler needs room for a token")
        self.blockManager = blockManager
        self.maxNumSeqs = maxNumSeqs
        self.maxNumBatchedTokens = maxNumBatchedTokens
    }

    public var hasUnfinishedSequences: Bool { !waiting.isEmpty || !running.isEmpty }

    /// Queues a new sequence behind every waiting one.
    public func add(_ sequence: EngineSequence) {
        precondition(sequence.status == .waiting && sequence.blockTable.isEmpty, "only new sequences are added")
        waiting.append(sequence)
    }

    /// Chooses this step's work and reserves the KV slots it writes.
    public func schedule() -> [ScheduledChunk] {
        var budget = maxNumBatchedTokens
        var chunks: [ScheduledChunk] = []
        var didPreempt = false

        var index = 0
        while index < running.count && budget > 0 {
            let sequence = running[index]
            let numNew = min(sequence.numTokens - sequence.numComputedTokens, budget)
            precondition(numNew > 0, "running sequence \(sequence.id) has nothing to compute")
            var isPreempted = false
            while !blockManager.allocateSlots(for: sequence, upTo: sequence.numComputedTokens + numNew) {
                let victim = running.removeLast()
                preempt(victim)
                didPreempt = true
                if victim === sequence {
                    isPreempted = true
                    break
                }
            }
            if isPreempted { break }
            chunks.append(ScheduledChunk(sequence: sequence, startPosition: sequence.numComputedTokens, numNewTokens: numNew))
            budget -= numNew
            index += 1
        }

        if !didPreempt {
            admitWaiting(budget: &budget, into: &chunks)
        }
        return chunks
    }

    private func admitWaiting(budget: inout Int, into chunks: inout [ScheduledChunk]) {
        var position = 0
        while position < waiting.count && running.count < maxNumSeqs && budget > 0 {
            let sequence = waiting[position]
            if sequence.isWaitingForLeader {
                position += 1
                continue
            }
            let cachedBlocks = blockManager.cachedPrefix(of: sequence)
            let numCached = cachedBlocks.count * blockManager.blockSize
            let numNew = min(sequence.numTokens - numCached, budget)
            // First come, first served: a later, smaller sequence does not jump a blocked one.
            guard blockManager.allocate(sequence, cachedBlocks: cachedBlocks, upTo: numCached + numNew) else { break }
            waiting.remove(at: position)
            sequence.status = .running
            sequence.numComputedTokens = numCached
            sequence.leader = nil
            if sequence.numCachedPromptTokens == nil { sequence.numCachedPromptTokens = min(numCached, sequence.numPromptTokens) }
            running.append(sequence)
            chunks.append(ScheduledChunk(sequence: sequence, startPosition: numCached, numNewTokens: numNew))
            budget -= numNew
        }
    }

    private func preempt(_ sequence: EngineSequence) {
        blockManager.free(sequence)
        sequence.numComputedTokens = 0
        sequence.status = .waiting
        sequence.numPreemptions += 1
        numPreemptions += 1
        waiting.insert(sequence, at: 0)
    }

    /// Records that the runner computed `chunks`: their KV is written, so their full blocks may
    /// enter the prefix cache.
    public func commit(_ chunks: [ScheduledChunk]) {
        for chunk in chunks {
            let sequence = chunk.sequence
            precondition(sequence.numComputedTokens == chunk.startPosition, "chunk of sequence \(sequence.id) committed twice")
            sequence.numComputedTokens = chunk.endPosition
            if sequence.numComputedTokens >= sequence.numPromptTokens { sequence.hasComputedPrompt = true }
            blockManager.cacheComputedBlocks(of: sequence)
        }
    }

    /// Ends a running sequence and releases its blocks at once.
    public func finish(_ sequence: EngineSequence, reason: FinishReason) {
        if let index = running.firstIndex(where: { $0 === sequence }) {
            running.remove(at: index)
        } else if let index = waiting.firstIndex(where: { $0 === sequence }) {
            waiting.remove(at: index)
        }
        blockManager.free(sequence)
        sequence.status = .finished(reason)
    }
}
