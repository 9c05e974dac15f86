/// How an AR engine is sized: one flat value with vLLM's defaults, checked once in `init`.
public struct EngineConfig: Sendable, Equatable {
    /// KV blocks the runner allocated (see `numKVBlocks(memoryBytes:bytesPerToken:blockSize:)`).
    public let numKVBlocks: Int
    /// Tokens per KV block (vLLM's default 16).
    public let blockSize: Int
    /// Longest prompt + completion a sequence may reach (`--max-model-len`).
    public let maxModelLen: Int
    /// Most sequences running at once (`--max-num-seqs`).
    public let maxNumSeqs: Int
    /// Most tokens computed in one step (`--max-num-batched-tokens`); longer prefills are chunked.
    public let maxNumBatchedTokens: Int
    public let enablePrefixCaching: Bool
    /// The model's EOS id (tokenizer / config.json); stops unless ignore_eos.
    public let eosTokenId: Int?
    /// generation_config.json's defaults; the engine uses its `eosTokenIds`.
    public let generationDefaults: GenerationDefaults

    public init(
        numKVBlocks: Int,
        maxModelLen: Int,
        blockSize: Int = 16,
        maxNumSeqs: Int = 256,
        maxNumBatchedTokens: Int = 2048,
        enablePrefixCaching: Bool = true,
        eosTokenId: Int? = nil,
        generationDefaults: GenerationDefaults = .none
    ) throws(EngineError) {
        guard blockSize >= 1 else { throw .invalidConfig(field: "block_size", message: "must be at least 1, got \(blockSize)") }
        guard numKVBlocks >= 1 else {
            throw .invalidConfig(field: "kv_cache_memory", message: "leaves no KV block (\(numKVBlocks)); give the KV cache more memory")
        }
        guard maxModelLen >= 2 else { throw .invalidConfig(field: "max_model_len", message: "must be at least 2, got \(maxModelLen)") }
        guard maxNumSeqs >= 1 else { throw .invalidConfig(field: "max_num_seqs", message: "must be at least 1, got \(maxNumSeqs)") }
        guard maxNumBatchedTokens >= maxNumSeqs else {
            throw .invalidConfig(
                field: "max_num_batched_tokens",
                message: "(\(maxNumBatchedTokens)) must be at least max_num_seqs (\(maxNumSeqs)), so every running sequence can decode each step"
            )
        }
        guard numKVBlocks * blockSize >= maxModelLen else {
            throw .kvCacheTooSmall(capacityTokens: numKVBlocks * blockSize, maxModelLen: maxModelLen)
        }
        self.numKVBlocks = numKVBlocks
        self.blockSize = blockSize
        self.maxModelLen = maxModelLen
        self.maxNumSeqs = maxNumSeqs
        self.maxNumBatchedTokens = maxNumBatchedTokens
        self.enablePrefixCaching = enablePrefixCaching
        self.eosTokenId = eosTokenId
        self.generationDefaults = generationDefaults
    }

    /// Blocks that fit in `memoryBytes` when one token's K and V over all layers take
    /// `bytesPerToken` (2 x layers x kv_heads x head_dim x dtype size).
    public static func numKVBlocks(memoryBytes: Int, bytesPerToken: Int, blockSize: Int = 16) -> Int {
        precondition(bytesPerToken > 0 && blockSize > 0, "a token's KV takes room")
        return memoryBytes / (bytesPerToken * blockSize)
    }
}

/// Why the engine refused a configuration or a request, or could not run a step. Request errors
/// (`isInvalidRequest`) are the caller's to fix (HTTP 400); the others are the server's.
public enum EngineError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidConfig(field: String, message: String)
    case kvCacheTooSmall(capacityTokens: Int, maxModelLen: Int)
    case duplicateRequestId(String)
    case emptyPrompt
    case tokenIdOutOfRange(tokenId: Int, vocabularySize: Int)
    case invalidHiddenStateLayer(layer: Int, layerCount: Int)
    case promptTooLong(promptTokens: Int, maxModelLen: Int)
    case contextLengthExceeded(promptTokens: Int, maxTokens: Int, maxModelLen: Int)
    case exceedsKVCacheCapacity(tokens: Int, capacityTokens: Int)
    case stopStringsNeedDetokenizer
    case invalidRunnerOutput(String)
    case noProgress(waiting: Int, running: Int)

    public var isInvalidRequest: Bool {
        switch self {
        case .duplicateRequestId, .emptyPrompt, .tokenIdOutOfRange, .invalidHiddenStateLayer, .promptTooLong,
             .contextLengthExceeded, .exceedsKVCacheCapacity, .stopStringsNeedDetokenizer:
            true
        case .invalidConfig, .kvCacheTooSmall, .invalidRunnerOutput, .noProgress:
            false
        }
    }

    public var description: String {
        switch self {
        case .invalidConfig(let field, let message):
            "\(field) \(message)"
        case .kvCacheTooSmall(let capacity, let maxModelLen):
            "The KV cache holds \(capacity) tokens, fewer than max_model_len (\(maxModelLen)), so a request of the "
                + "model's full length could never run. Give the KV cache more memory (--kv-cache-memory) or lower "
                + "--max-model-len to at most \(capacity)."
        case .duplicateRequestId(let id):
            "A request with id \"\(id)\" is already running; request ids must be unique."
        case .emptyPrompt:
            "The prompt is empty; give at least one token."
        case .tokenIdOutOfRange(let tokenId, let vocabularySize):
            "Token id \(tokenId) is out of vocabulary (valid ids are 0..<\(vocabularySize))."
        case .invalidHiddenStateLayer(let layer, let layerCount):
            "Hidden-state layer \(layer) does not exist (valid layers are 0..<\(layerCount))."
        case .promptTooLong(let promptTokens, let maxModelLen):
            "The prompt has \(promptTokens) tokens, and this model's maximum context length is \(maxModelLen) tokens, "
                + "which leaves no room for a completion. Please reduce the length of the prompt."
        case .contextLengthExceeded(let promptTokens, let maxTokens, let maxModelLen):
            "This model's maximum context length is \(maxModelLen) tokens. However, you requested "
                + "\(promptTokens + maxTokens) tokens (\(promptTokens) in the prompt, \(maxTokens) in the completion). "
                + "Please reduce the length of the prompt or max_tokens."
        case .exceedsKVCacheCapacity(let tokens, let capacity):
            "The request needs \(tokens) tokens of KV cache, more than the \(capacity) the cache holds; "
                + "reduce max_tokens or the prompt, or give the KV cache more memory."
        case .stopStringsNeedDetokenizer:
            "Stop strings need a detokenizer, and this engine has none; use stop_token_ids."
        case .invalidRunnerOutput(let message):
            "The model runner returned a malformed output: \(message)"
        case .noProgress(let waiting, let running):
            "The scheduler found nothing to run with \(waiting) waiting and \(running) running sequences (a bug)."
        }
    }
}
