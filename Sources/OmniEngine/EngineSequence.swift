/// Where a sequence is in its life.
public enum SequenceStatus: Sendable, Equatable {
    /// In the waiting queue: never admitted yet, or preempted (its blocks freed, its tokens kept).
    case waiting
    /// Holds KV blocks and is scheduled every step until it finishes or is preempted.
    case running
    case finished(FinishReason)
}

/// One completion's state: its tokens, how much of them the KV cache holds, its block table and
/// everything needed to sample and stop it. A request with n > 1 has n of them.
///
/// Named `EngineSequence`, not `Sequence`, so that it never shadows Swift's `Sequence` protocol in
/// this module or its clients.
public final class EngineSequence {
    /// Unique in the engine and increasing with arrival: the scheduler's FCFS order.
    public let id: Int
    public let requestId: String
    /// Which of the request's n completions this is.
    public let index: Int
    /// The request's parameters, with this sequence's own seed.
    public let params: SamplingParams
    /// The most tokens this sequence may generate (resolved against max_model_len at admission).
    public let maxTokens: Int
    public let numPromptTokens: Int
    /// Layers whose hidden states the runner returns for every position of this sequence.
    public let hiddenStateLayers: [Int]
    /// The prompt followed by the generated tokens.
    public private(set) var tokenIds: [Int]
    public internal(set) var status: SequenceStatus = .waiting
    /// Tokens whose KV is in the cache: the next step computes from here. Reset by preemption.
    public internal(set) var numComputedTokens = 0
    /// Prompt tokens found in the prefix cache at the first admission (nil before it).
    public internal(set) var numCachedPromptTokens: Int?
    /// KV blocks holding this sequence's tokens, in position order.
    public internal(set) var blockTable: [Int] = []
    public internal(set) var numPreemptions = 0
    /// Set once the whole prompt has been computed (and its full blocks offered to the prefix cache).
    public internal(set) var hasComputedPrompt = false

    /// The model's EOS id for this sequence (nil under ignore_eos).
    let eosTokenId: Int?
    /// Token ids that finish the sequence: stop_token_ids plus generation_config's extra EOS ids.
    let stopTokenIds: Set<Int>
    /// A sibling of an n > 1 request waits in the queue until its leader (sequence 0) has computed
    /// the prompt, so that it finds the prompt's blocks in the prefix cache instead of recomputing.
    weak var leader: EngineSequence?
    /// How many blocks of `blockTable`, from the start, have been offered to the prefix cache.
    var numRegisteredBlocks = 0
    private var blockHashes: [UInt64] = []

    var sampler: SamplerState
    var stopChecker: StopChecker
    var detokenize: TextStream?
    /// Prompt positions whose logits have been turned into prompt logprobs (position j scores token j+1).
    var numPromptLogprobPositions = 0
    var promptLogprobs: [TokenLogprobs] = []
    var hasEmittedPromptLogprobs = false
    /// Positions whose hidden states have been returned; recomputation does not return them again.
    var numHiddenStatePositions = 0

    public init(
        id: Int,
        requestId: String,
        index: Int = 0,
        promptTokenIds: [Int],
        params: SamplingParams = SamplingParams(),
        maxTokens: Int,
        hiddenStateLayers: [Int] = [],
        eosTokenId: Int? = nil,
        stopTokenIds: Set<Int> = [],
        minTokensStopIds: [Int] = []
    ) {
        precondition(!promptTokenIds.isEmpty, "a sequence needs a prompt")
        self.id = id
        self.requestId = requestId
        self.index = index
        self.params = params
        self.maxTokens = maxTokens
        self.numPromptTokens = promptTokenIds.count
        self.hiddenStateLayers = hiddenStateLayers
        self.tokenIds = promptTokenIds
        self.eosTokenId = eosTokenId
        self.stopTokenIds = stopTokenIds
        self.sampler = SamplerState(
            params: params,
            promptTokenIds: promptTokenIds,
            minTokensStopIds: minTokensStopIds,
            seed: params.seed ?? UInt64.random(in: .min ... .max)
        )
        self.stopChecker = StopChecker(stopStrings: params.stop, includeStopString: params.includeStopStringInOutput)
    }

    public var numTokens: Int { tokenIds.count }
    public var numOutputTokens: Int { tokenIds.count - numPromptTokens }
    public var promptTokenIds: ArraySlice<Int> { tokenIds[..<numPromptTokens] }
    public var outputTokenIds: ArraySlice<Int> { tokenIds[numPromptTokens...] }
    public var isFinished: Bool {
        if case .finished = status { return true }
        return false
    }

    /// Only sequence 0 of a request returns prompt logprobs (the prompt is the same for all n).
    var wantsPromptLogprobs: Bool { params.promptLogprobs != nil && index == 0 }

    /// The most tokens a prefix-cache hit may cover: never the last token (its logits are needed),
    /// and never positions whose prompt logprobs or hidden states this sequence has yet to return.
    var prefixCacheReadLimit: Int {
        var limit = numTokens - 1
        if wantsPromptLogprobs && !hasEmittedPromptLogprobs { limit = min(limit, numPromptLogprobPositions) }
        if !hiddenStateLayers.isEmpty { limit = min(limit, numHiddenStatePositions) }
        return limit
    }

    /// Held back in the queue for its leader's prompt (see `leader`).
    var isWaitingForLeader: Bool {
        guard let leader else { return false }
        return !leader.hasComputedPrompt && !leader.isFinished
    }

    func append(_ tokenId: Int) {
        tokenIds.append(tokenId)
    }

    /// The prefix-cache key of full block `index`: a hash chained over every token up to its end.
    func blockHash(_ index: Int, blockSize: Int) -> UInt64 {
        precondition((index + 1) * blockSize <= tokenIds.count, "block \(index) is not full")
        while blockHashes.count <= index {
            let i = blockHashes.count
            let parent = i == 0 ? nil : blockHashes[i - 1]
            blockHashes.append(BlockManager.chainHash(parent: parent, tokens: tokenIds[(i * blockSize)..<((i + 1) * blockSize)]))
        }
        return blockHashes[index]
    }
}
