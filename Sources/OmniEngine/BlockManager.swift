/// The paged KV cache's bookkeeping: which fixed-size blocks are free, who holds the others, and
/// which full blocks are remembered by content so that a later sequence with the same prefix
/// reuses their KV instead of recomputing it (prefix caching).
///
/// A full block's key is a hash chained over the tokens: hash(parent block's key, block tokens),
/// so equal keys mean equal prefixes; a hit is also checked against the stored tokens and parent
/// key, so a 64-bit collision costs a miss, never wrong KV. A block enters the cache only after the
/// step that computed it, so a hit always refers to KV already written (see `ModelRunner`).
///
/// Free blocks wait in one queue, least recently used first. A freed block that is cached keeps its
/// KV and its key until it is taken for reuse (evicted); a hit on it takes it back out of the
/// queue. Freed blocks that hold nothing reusable go to the front, so cached ones are evicted last.
public final class BlockManager {
    public let blockSize: Int
    public let numBlocks: Int
    public let enablePrefixCaching: Bool
    /// Tokens looked up in the prefix cache at admission (vLLM's prefix_cache_queries).
    public private(set) var prefixCacheQueries = 0
    /// Of those, tokens found (vLLM's prefix_cache_hits).
    public private(set) var prefixCacheHits = 0

    private var refCounts: [Int]
    private var blockKeys: [UInt64?]
    private var parentKeys: [UInt64?]
    private var blockTokens: [[Int]]
    private var keyToBlock: [UInt64: Int] = [:]
    private var freeQueue: FreeBlockQueue

    public init(numBlocks: Int, blockSize: Int, enablePrefixCaching: Bool = true) {
        precondition(numBlocks > 0 && blockSize > 0, "a KV cache needs blocks of at least one token")
        self.numBlocks = numBlocks
        self.blockSize = blockSize
        self.enablePrefixCaching = enablePrefixCaching
        refCounts = Array(repeating: 0, count: numBlocks)
        blockKeys = Array(repeating: nil, count: numBlocks)
        parentKeys = Array(repeating: nil, count: numBlocks)
        blockTokens = Array(repeating: [], count: numBlocks)
        freeQueue = FreeBlockQueue(count: numBlocks)
    }

    /// Blocks no sequence holds, cached ones included (they can be evicted at any time).
    public var numFreeBlocks: Int { freeQueue.count }
    /// Fraction of blocks held by sequences (vLLM's kv_cache_usage_perc, as a fraction).
    public var usage: Double { Double(numBlocks - numFreeBlocks) / Double(numBlocks) }
    /// Blocks remembered by content, held or free.
    public var numCachedBlocks: Int { keyToBlock.count }

    /// How many sequences hold `block`.
    public func refCount(of block: Int) -> Int { refCounts[block] }

    /// Whether `block` is remembered in the prefix cache.
    public func isCached(_ block: Int) -> Bool { blockKeys[block] != nil }

    /// Free blocks, the next one taken first.
    public var freeBlocksInEvictionOrder: [Int] { freeQueue.orderedBlocks }

    /// Blocks needed to hold `numTokens` tokens.
    public func numBlocksNeeded(forTokens numTokens: Int) -> Int {
        (numTokens + blockSize - 1) / blockSize
    }

    // MARK: Admission

    /// The cached blocks that hold the longest prefix of `sequence` (full blocks only, at most
    /// `sequence.prefixCacheReadLimit` tokens). Changes nothing.
    public func cachedPrefix(of sequence: EngineSequence) -> [Int] {
        guard enablePrefixCaching else { return [] }
        var blocks: [Int] = []
        for index in 0..<(sequence.prefixCacheReadLimit / blockSize) {
            let key = sequence.blockHash(index, blockSize: blockSize)
            guard let block = keyToBlock[key],
                  parentKeys[block] == (index == 0 ? nil : sequence.blockHash(index - 1, blockSize: blockSize)),
                  blockTokens[block].elementsEqual(sequence.tokenIds[(index * blockSize)..<((index + 1) * blockSize)])
            else { break }
            blocks.append(block)
        }
        return blocks
    }

    /// Gives a sequence that holds no blocks the cached prefix `cachedBlocks` (from `cachedPrefix`)
    /// plus fresh blocks up to `numTokens` tokens. Returns false, changing nothing, when too few
    /// blocks are free. Counts the prefix-cache query and its hits.
    public func allocate(_ sequence: EngineSequence, cachedBlocks: [Int], upTo numTokens: Int) -> Bool {
        precondition(sequence.blockTable.isEmpty, "sequence \(sequence.id) already holds blocks")
        let numNew = numBlocksNeeded(forTokens: numTokens) - cachedBlocks.count
        let numRevived = cachedBlocks.count(where: { refCounts[$0] == 0 })
        guard numNew <= numFreeBlocks - numRevived else { return false }
        for block in cachedBlocks {
            if refCounts[block] == 0 { freeQueue.remove(block) }
            refCounts[block] += 1
        }
        sequence.blockTable = cachedBlocks
        for _ in 0..<max(numNew, 0) { sequence.blockTable.append(takeFreeBlock()) }
        sequence.numRegisteredBlocks = cachedBlocks.count
        if enablePrefixCaching {
            prefixCacheQueries += sequence.numTokens
            prefixCacheHits += cachedBlocks.count * blockSize
        }
        return true
    }

    // MARK: Growth

    /// Grows a running sequence's block table to hold `numTokens` tokens (decode, or the next chunk
    /// of a prefill). Returns false, changing nothing, when too few blocks are free.
    public func allocateSlots(for sequence: EngineSequence, upTo numTokens: Int) -> Bool {
        let numNew = numBlocksNeeded(forTokens: numTokens) - sequence.blockTable.count
        guard numNew > 0 else { return true }
        guard numNew <= numFreeBlocks else { return false }
        for _ in 0..<numNew { sequence.blockTable.append(takeFreeBlock()) }
        return true
    }

    /// Remembers the sequence's newly computed full blocks by content. Called after each step.
    /// A block whose content another block already holds stays unremembered (it is freed plain).
    public func cacheComputedBlocks(of sequence: EngineSequence) {
        guard enablePrefixCaching else { return }
        let numFull = min(sequence.numComputedTokens / blockSize, sequence.blockTable.count)
        while sequence.numRegisteredBlocks < numFull {
            let index = sequence.numRegisteredBlocks
            let block = sequence.blockTable[index]
            if blockKeys[block] == nil {
                let key = sequence.blockHash(index, blockSize: blockSize)
                if keyToBlock[key] == nil {
                    keyToBlock[key] = block
                    blockKeys[block] = key
                    parentKeys[block] = index == 0 ? nil : sequence.blockHash(index - 1, blockSize: blockSize)
                    blockTokens[block] = Array(sequence.tokenIds[(index * blockSize)..<((index + 1) * blockSize)])
                }
            }
            sequence.numRegisteredBlocks += 1
        }
    }

    // MARK: Release

    /// Releases every block the sequence holds. Blocks are queued tail first, so that when cached
    /// blocks are evicted a prefix's deep blocks go before the shared blocks near its start.
    public func free(_ sequence: EngineSequence) {
        for block in sequence.blockTable.reversed() {
            precondition(refCounts[block] > 0, "block \(block) freed more often than taken")
            refCounts[block] -= 1
            if refCounts[block] == 0 {
                if blockKeys[block] != nil { freeQueue.append(block) } else { freeQueue.prepend(block) }
            }
        }
        sequence.blockTable = []
        sequence.numRegisteredBlocks = 0
    }

    private func takeFreeBlock() -> Int {
        let block = freeQueue.removeFirst()
        if let key = blockKeys[block] {
            if keyToBlock[key] == block { keyToBlock[key] = nil }
            blockKeys[block] = nil
            parentKeys[block] = nil
            blockTokens[block] = []
        }
        refCounts[block] = 1
        return block
    }

    /// The prefix-cache key of a full block: a 64-bit hash of the parent's key and the tokens.
    static func chainHash(parent: UInt64?, tokens: ArraySlice<Int>) -> UInt64 {
        var hash = SplitMix64.mix(parent ?? 0x243F_6A88_85A3_08D3)
        for token in tokens {
            hash = SplitMix64.mix((hash ^ UInt64(bitPattern: Int64(token))) &+ 0x9E37_79B9_7F4A_7C15)
        }
        return hash
    }
}

/// Free block ids in eviction order (least recently freed first), as a doubly linked list over
/// arrays, so that taking a cached block back out of the middle is O(1).
struct FreeBlockQueue {
    private var previous: [Int]
    private var next: [Int]
    private var isQueued: [Bool]
    private var head = -1
    private var tail = -1
    private(set) var count = 0

    /// Starts with every block free, in id order.
    init(count numBlocks: Int) {
        previous = Array(repeating: -1, count: numBlocks)
        next = Array(repeating: -1, count: numBlocks)
        isQueued = Array(repeating: false, count: numBlocks)
        for block in 0..<numBlocks { append(block) }
    }

    func contains(_ block: Int) -> Bool { isQueued[block] }

    /// Block ids from the front (next evicted) to the back.
    var orderedBlocks: [Int] {
        var blocks: [Int] = []
        var block = head
        while block >= 0 {
            blocks.append(block)
            block = next[block]
        }
        return blocks
    }

    mutating func append(_ block: Int) {
        precondition(!isQueued[block], "block \(block) is already free")
        previous[block] = tail
        next[block] = -1
        if tail >= 0 { next[tail] = block } else { head = block }
        tail = block
        isQueued[block] = true
        count += 1
    }

    mutating func prepend(_ block: Int) {
        precondition(!isQueued[block], "block \(block) is already free")
        previous[block] = -1
        next[block] = head
        if head >= 0 { previous[head] = block } else { tail = block }
        head = block
        isQueued[block] = true
        count += 1
    }

    mutating func removeFirst() -> Int {
        precondition(head >= 0, "no free block")
        let block = head
        remove(block)
        return block
    }

    mutating func remove(_ block: Int) {
        precondition(isQueued[block], "block \(block) is not free")
        let before = previous[block]
        let after = next[block]
        if before >= 0 { next[before] = after } else { head = after }
        if after >= 0 { previous[after] = before } else { tail = before }
        previous[block] = -1
        next[block] = -1
        isQueued[block] = false
        count -= 1
    }
}
