import Testing
@testable import OmniEngine

/// BlockManager on fake token lists: no model, only block ids and refcounts.
@Suite struct BlockManagerTests {
    private func sequence(_ id: Int, _ tokens: [Int]) -> EngineSequence {
        EngineSequence(id: id, requestId: "r\(id)", promptTokenIds: tokens, maxTokens: 4)
    }

    /// Simulates the step that computes the whole sequence.
    private func compute(_ sequence: EngineSequence, in manager: BlockManager) {
        sequence.numComputedTokens = sequence.numTokens
        manager.cacheComputedBlocks(of: sequence)
    }

    @Test func allocateAndFreeReturnEveryBlock() {
        let manager = BlockManager(numBlocks: 8, blockSize: 4)
        let a = sequence(0, Array(1...10))
        #expect(manager.allocate(a, cachedBlocks: [], upTo: 10))
        #expect(a.blockTable.count == 3)
        #expect(manager.numFreeBlocks == 5)
        #expect(a.blockTable.allSatisfy { manager.refCount(of: $0) == 1 })
        #expect(manager.allocateSlots(for: a, upTo: 12))
        #expect(a.blockTable.count == 3, "12 tokens still fit in 3 blocks")
        #expect(manager.allocateSlots(for: a, upTo: 13))
        #expect(a.blockTable.count == 4)
        #expect(abs(manager.usage - 0.5) < 1e-12)
        manager.free(a)
        #expect(a.blockTable.isEmpty)
        #expect(manager.numFreeBlocks == 8)
        #expect(manager.usage == 0)
    }

    @Test func allocationThatDoesNotFitChangesNothing() {
        let manager = BlockManager(numBlocks: 3, blockSize: 4)
        let a = sequence(0, Array(1...13))
        #expect(!manager.allocate(a, cachedBlocks: [], upTo: 13))
        #expect(a.blockTable.isEmpty)
        #expect(manager.numFreeBlocks == 3)
        #expect(manager.prefixCacheQueries == 0)
        let b = sequence(1, Array(1...12))
        #expect(manager.allocate(b, cachedBlocks: [], upTo: 12))
        #expect(!manager.allocateSlots(for: b, upTo: 13))
        #expect(b.blockTable.count == 3)
    }

    @Test func sharedPrefixReusesBlocksAndCountsReferences() {
        let manager = BlockManager(numBlocks: 8, blockSize: 4)
        let a = sequence(0, Array(1...10))
        #expect(manager.allocate(a, cachedBlocks: manager.cachedPrefix(of: a), upTo: 10))
        compute(a, in: manager)
        #expect(manager.numCachedBlocks == 2, "two full blocks of a are cached; the third is partial")

        let b = sequence(1, Array(1...8) + [99, 98, 97])
        let hit = manager.cachedPrefix(of: b)
        #expect(hit == Array(a.blockTable[0..<2]))
        #expect(manager.allocate(b, cachedBlocks: hit, upTo: b.numTokens))
        #expect(b.blockTable.count == 3)
        #expect(hit.allSatisfy { manager.refCount(of: $0) == 2 })
        #expect(manager.prefixCacheQueries == 10 + 11)
        #expect(manager.prefixCacheHits == 8)
        #expect(manager.numFreeBlocks == 8 - 3 - 1)

        manager.free(a)
        #expect(hit.allSatisfy { manager.refCount(of: $0) == 1 })
        #expect(manager.numFreeBlocks == 8 - 3)
        manager.free(b)
        #expect(manager.numFreeBlocks == 8)
        #expect(manager.numCachedBlocks == 2, "freed blocks keep their content until evicted")
    }

    @Test func lastTokenIsNeverServedFromTheCache() {
        let manager = BlockManager(numBlocks: 8, blockSize: 4)
        let a = sequence(0, Array(1...8))
        #expect(manager.allocate(a, cachedBlocks: [], upTo: 8))
        compute(a, in: manager)
        #expect(manager.numCachedBlocks == 2)
        let twin = sequence(1, Array(1...8))
        #expect(manager.cachedPrefix(of: twin) == [a.blockTable[0]], "the last token must be computed for its logits")
    }

    @Test func sameBlockTokensAfterDifferentPrefixDoNotHit() {
        let manager = BlockManager(numBlocks: 8, blockSize: 2)
        let a = sequence(0, [1, 2, 3, 4, 5])
        #expect(manager.allocate(a, cachedBlocks: [], upTo: 5))
        compute(a, in: manager)
        let b = sequence(1, [9, 9, 3, 4, 5])
        #expect(manager.cachedPrefix(of: b).isEmpty, "block [3, 4] is keyed by its whole prefix")
        let c = sequence(2, [1, 2, 7, 7, 5])
        #expect(manager.cachedPrefix(of: c) == [a.blockTable[0]])
    }

    @Test func evictsFreedCachedBlocksLeastRecentlyUsedFirst() {
        let manager = BlockManager(numBlocks: 4, blockSize: 2)
        let a = sequence(0, [1, 2, 3, 4])
        let b = sequence(1, [5, 6, 7, 8])
        #expect(manager.allocate(a, cachedBlocks: [], upTo: 4))
        #expect(manager.allocate(b, cachedBlocks: [], upTo: 4))
        compute(a, in: manager)
        compute(b, in: manager)
        manager.free(a)
        manager.free(b)
        #expect(manager.numCachedBlocks == 4)
        // a was freed first, and each sequence's tail block goes before its head block.
        #expect(manager.freeBlocksInEvictionOrder == [1, 0, 3, 2])

        let c = sequence(2, [20, 21, 22, 23])
        #expect(manager.allocate(c, cachedBlocks: manager.cachedPrefix(of: c), upTo: 4))
        #expect(c.blockTable == [1, 0], "a's blocks were the least recently used")
        let aAgain = sequence(3, [1, 2, 3, 4, 9])
        #expect(manager.cachedPrefix(of: aAgain).isEmpty, "a's blocks were evicted")
        let bAgain = sequence(4, [5, 6, 7, 8, 9])
        let hit = manager.cachedPrefix(of: bAgain)
        #expect(hit == [2, 3], "b's blocks survive")

        // A hit takes the blocks back out of the free queue; freeing makes them most recent again.
        #expect(manager.allocate(bAgain, cachedBlocks: hit, upTo: 4))
        #expect(manager.numFreeBlocks == 0)
        manager.free(c)
        manager.free(bAgain)
        #expect(manager.freeBlocksInEvictionOrder.suffix(2) == [3, 2])
    }

    @Test func freedUncachedBlocksAreReusedBeforeCachedOnes() {
        let manager = BlockManager(numBlocks: 4, blockSize: 2)
        let a = sequence(0, [1, 2, 3])
        #expect(manager.allocate(a, cachedBlocks: [], upTo: 3))
        compute(a, in: manager)
        manager.free(a)
        // Block 0 holds [1, 2] (cached); block 1 held the partial [3] (nothing to reuse).
        #expect(manager.freeBlocksInEvictionOrder.first == 1)
        #expect(manager.freeBlocksInEvictionOrder.last == 0)
    }

    @Test func prefixCachingOffCachesNothing() {
        let manager = BlockManager(numBlocks: 4, blockSize: 2, enablePrefixCaching: false)
        let a = sequence(0, [1, 2, 3, 4, 5])
        #expect(manager.allocate(a, cachedBlocks: [], upTo: 5))
        compute(a, in: manager)
        #expect(manager.numCachedBlocks == 0)
        #expect(manager.cachedPrefix(of: sequence(1, [1, 2, 3, 4, 5])).isEmpty)
        #expect(manager.prefixCacheQueries == 0)
    }
}
