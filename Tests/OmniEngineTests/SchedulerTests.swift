import Testing
@testable import OmniEngine

/// Scheduler on fake token lists: steps are simulated by committing the chunks and appending a
/// made-up token wherever a chunk samples.
@Suite struct SchedulerTests {
    private func makeScheduler(
        numBlocks: Int = 64, blockSize: Int = 4, maxNumSeqs: Int = 8, maxNumBatchedTokens: Int = 64,
        enablePrefixCaching: Bool = true
    ) -> Scheduler {
        Scheduler(
            blockManager: BlockManager(numBlocks: numBlocks, blockSize: blockSize, enablePrefixCaching: enablePrefixCaching),
            maxNumSeqs: maxNumSeqs, maxNumBatchedTokens: maxNumBatchedTokens
        )
    }

    private func sequence(_ id: Int, promptLength: Int, maxTokens: Int = 100) -> EngineSequence {
        EngineSequence(id: id, requestId: "r\(id)", promptTokenIds: (0..<promptLength).map { id * 1000 + $0 }, maxTokens: maxTokens)
    }

    /// Runs one step: schedule, "compute", sample token 7 where a chunk samples, finish at maxTokens.
    @discardableResult
    private func step(_ scheduler: Scheduler) -> [ScheduledChunk] {
        let chunks = scheduler.schedule()
        scheduler.commit(chunks)
        for chunk in chunks where chunk.samplesNextToken {
            chunk.sequence.append(7)
            if chunk.sequence.numOutputTokens >= chunk.sequence.maxTokens {
                scheduler.finish(chunk.sequence, reason: .length)
            }
        }
        return chunks
    }

    private func shape(_ chunks: [ScheduledChunk]) -> [[Int]] {
        chunks.map { [$0.sequence.id, $0.startPosition, $0.numNewTokens] }
    }

    @Test func admissionStopsAtTheTokenBudgetAndChunksTheLastPrompt() {
        let scheduler = makeScheduler(maxNumBatchedTokens: 32)
        for id in 0..<3 { scheduler.add(sequence(id, promptLength: 12)) }
        #expect(shape(step(scheduler)) == [[0, 0, 12], [1, 0, 12], [2, 0, 8]])
        // Two decodes, then the rest of the third prompt.
        #expect(shape(step(scheduler)) == [[0, 12, 1], [1, 12, 1], [2, 8, 4]])
        #expect(shape(step(scheduler)) == [[0, 13, 1], [1, 13, 1], [2, 12, 1]])
    }

    @Test func admissionStopsAtMaxNumSeqs() {
        let scheduler = makeScheduler(maxNumSeqs: 2)
        for id in 0..<3 { scheduler.add(sequence(id, promptLength: 3)) }
        #expect(shape(step(scheduler)).map(\.[0]) == [0, 1])
        #expect(scheduler.running.count == 2)
        #expect(scheduler.waiting.map(\.id) == [2])
    }

    @Test func admissionStopsWhenBlocksRunOutFirstComeFirstServed() {
        let scheduler = makeScheduler(numBlocks: 4, blockSize: 4)
        scheduler.add(sequence(0, promptLength: 9))  // 3 blocks
        scheduler.add(sequence(1, promptLength: 9))  // 3 blocks: does not fit
        scheduler.add(sequence(2, promptLength: 2))  // 1 block would fit, but may not jump the queue
        #expect(shape(step(scheduler)) == [[0, 0, 9]])
        #expect(scheduler.waiting.map(\.id) == [1, 2])
        #expect(scheduler.blockManager.numFreeBlocks == 1)
    }

    @Test func chunkedPrefillSplitsALongPromptAndResumesIt() {
        let scheduler = makeScheduler(maxNumBatchedTokens: 16)
        let long = sequence(0, promptLength: 40, maxTokens: 2)
        scheduler.add(long)
        let first = step(scheduler)
        #expect(shape(first) == [[0, 0, 16]])
        #expect(!first[0].samplesNextToken)
        #expect(shape(step(scheduler)) == [[0, 16, 16]])
        let last = step(scheduler)
        #expect(shape(last) == [[0, 32, 8]])
        #expect(last[0].samplesNextToken)
        #expect(long.numOutputTokens == 1)
        #expect(long.blockTable.count == 10)
        #expect(shape(step(scheduler)) == [[0, 40, 1]])
        #expect(long.isFinished)
        #expect(scheduler.blockManager.numFreeBlocks == 64)
    }

    @Test func prefillsAndDecodesShareAStep() {
        let scheduler = makeScheduler()
        scheduler.add(sequence(0, promptLength: 5))
        step(scheduler)
        scheduler.add(sequence(1, promptLength: 6))
        #expect(shape(step(scheduler)) == [[0, 5, 1], [1, 0, 6]])
    }

    @Test func preemptionFreesTheNewestAndRequeuesItAtTheHead() {
        // 4 blocks of 2 tokens: two 4-token prompts fill the cache.
        let scheduler = makeScheduler(numBlocks: 4, blockSize: 2, enablePrefixCaching: false)
        let older = sequence(0, promptLength: 4, maxTokens: 2)
        let newer = sequence(1, promptLength: 4)
        let late = sequence(2, promptLength: 1)
        scheduler.add(older)
        scheduler.add(newer)
        #expect(shape(step(scheduler)) == [[0, 0, 4], [1, 0, 4]])
        scheduler.add(late)
        // The older sequence's first decode needs a third block: the newer one gives its two back.
        #expect(shape(step(scheduler)) == [[0, 4, 1]], "nothing is admitted in a step that preempts")
        #expect(newer.status == .waiting)
        #expect(newer.blockTable.isEmpty && newer.numComputedTokens == 0)
        #expect(newer.numPreemptions == 1 && scheduler.numPreemptions == 1)
        #expect(newer.numOutputTokens == 1, "its generated token is kept")
        #expect(scheduler.waiting.map(\.id) == [1, 2])
        #expect(older.isFinished)
        #expect(scheduler.blockManager.numFreeBlocks == 4)
        // Readmitted ahead of the later request, it recomputes prompt + output in one chunk.
        #expect(shape(step(scheduler)) == [[1, 0, 5], [2, 0, 1]])
        #expect(newer.numOutputTokens == 2)
    }

    @Test func sequenceFillingTheWholeCacheIsNeverPreempted() {
        // 3 prompt tokens + 2 generated need KV for 4 positions: exactly 2 blocks of 2.
        let scheduler = makeScheduler(numBlocks: 2, blockSize: 2, enablePrefixCaching: false)
        let a = sequence(0, promptLength: 3, maxTokens: 2)
        scheduler.add(a)
        step(scheduler)
        #expect(a.blockTable.count == 2)
        step(scheduler)
        #expect(a.isFinished)
        #expect(scheduler.numPreemptions == 0)
        #expect(scheduler.blockManager.numFreeBlocks == 2)
    }

    @Test func preemptedSequenceIsReadmittedThroughThePrefixCache() {
        // 6 blocks of 2: two 6-token prompts fill the cache.
        let scheduler = makeScheduler(numBlocks: 6, blockSize: 2)
        let older = sequence(0, promptLength: 6, maxTokens: 2)
        let newer = sequence(1, promptLength: 6)
        scheduler.add(older)
        scheduler.add(newer)
        step(scheduler)
        // older needs a 4th block: newer is preempted; its tail block is evicted first, for older.
        #expect(shape(step(scheduler)) == [[0, 6, 1]])
        #expect(older.isFinished)
        #expect(newer.status == .waiting)
        // newer's first two blocks are still cached: it recomputes only from position 4.
        #expect(shape(step(scheduler)) == [[1, 4, 3]])
        #expect(scheduler.blockManager.prefixCacheHits == 4)
        #expect(newer.numCachedPromptTokens == 0, "usage counts hits of the first admission only")
    }

    @Test func siblingWaitsForItsLeadersPrompt() {
        let scheduler = makeScheduler(maxNumBatchedTokens: 64)
        let leader = sequence(0, promptLength: 9)
        let sibling = EngineSequence(id: 1, requestId: "r0", index: 1, promptTokenIds: Array(leader.promptTokenIds), maxTokens: 100)
        sibling.leader = leader
        scheduler.add(leader)
        scheduler.add(sibling)
        #expect(shape(step(scheduler)) == [[0, 0, 9]])
        // The leader's two full blocks are now cached: the sibling computes only the last token.
        #expect(shape(step(scheduler)) == [[0, 9, 1], [1, 8, 1]])
        #expect(sibling.numCachedPromptTokens == 8)
        #expect(Array(sibling.blockTable[0..<2]) == Array(leader.blockTable[0..<2]))
    }
}
