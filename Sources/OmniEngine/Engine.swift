/// The AR engine, in nano-vllm's LLMEngine shape: `addRequest` queues a request's sequences,
/// each `step()` schedules a batch (continuous batching, chunked prefill, preemption), runs it
/// through the `ModelRunner`, samples, checks stops and returns what each sequence produced;
/// `abort` drops a request and frees its KV blocks at once.
///
/// Threading: an `Engine` is not `Sendable`. One owner (the stage's actor or task) creates it, or
/// receives it as a `sending` value, and makes every call; nothing in it locks. `step()` is
/// synchronous and blocks for one forward pass, so an async owner runs it off the cooperative
/// pool (e.g. on its own thread or executor) and turns the outputs into per-request streams.
public final class Engine {
    public let config: EngineConfig
    public let scheduler: Scheduler
    private let runner: any ModelRunner
    private let makeDetokenizer: DetokenizerFactory?
    private var requests: [String: [EngineSequence]] = [:]
    private var nextSequenceId = 0
    private var promptTokens = 0
    private var generationTokens = 0

    /// - Parameters:
    ///   - runner: the model; it must have allocated `config.numKVBlocks` blocks of `config.blockSize`.
    ///   - detokenizer: makes each sequence's incremental detokenizer; without one the outputs carry
    ///     token ids only and requests with stop strings are refused.
    public init(config: EngineConfig, runner: any ModelRunner, detokenizer: DetokenizerFactory? = nil) {
        self.config = config
        self.runner = runner
        self.makeDetokenizer = detokenizer
        let blockManager = BlockManager(
            numBlocks: config.numKVBlocks, blockSize: config.blockSize, enablePrefixCaching: config.enablePrefixCaching
        )
        scheduler = Scheduler(
            blockManager: blockManager, maxNumSeqs: config.maxNumSeqs, maxNumBatchedTokens: config.maxNumBatchedTokens
        )
    }

    public var blockManager: BlockManager { scheduler.blockManager }
    public var hasUnfinishedRequests: Bool { !requests.isEmpty }
    public var numUnfinishedRequests: Int { requests.count }
    /// Whether a request is still in flight (some of its sequences unfinished).
    public func hasRequest(id: String) -> Bool { requests[id] != nil }

    public var metrics: EngineMetrics {
        EngineMetrics(
            numRunning: scheduler.running.count,
            numWaiting: scheduler.waiting.count,
            kvCacheUsage: blockManager.usage,
            numFreeBlocks: blockManager.numFreeBlocks,
            numBlocks: blockManager.numBlocks,
            prefixCacheQueries: blockManager.prefixCacheQueries,
            prefixCacheHits: blockManager.prefixCacheHits,
            promptTokens: promptTokens,
            generationTokens: generationTokens,
            numPreemptions: scheduler.numPreemptions
        )
    }

    /// Queues a request as `params.n` sequences. Throws, queuing nothing, when the request is
    /// invalid or could never fit: prompt + max_tokens beyond max_model_len or the KV cache.
    /// With max_tokens unset, the completion may run until the context is full (capped by
    /// generation_config.json's max_new_tokens, as in vLLM).
    public func addRequest(
        id: String, promptTokenIds: [Int], params: SamplingParams, hiddenStateLayers: [Int] = []
    ) throws(EngineError) {
        guard requests[id] == nil else { throw .duplicateRequestId(id) }
        guard !promptTokenIds.isEmpty else { throw .emptyPrompt }
        let vocabularySize = runner.vocabularySize
        if let bad = promptTokenIds.first(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw .tokenIdOutOfRange(tokenId: bad, vocabularySize: vocabularySize)
        }
        let layerCount = runner.hiddenStateLayerCount
        if let bad = hiddenStateLayers.first(where: { $0 < 0 || $0 >= layerCount }) {
            throw .invalidHiddenStateLayer(layer: bad, layerCount: layerCount)
        }
        if !params.stop.isEmpty && makeDetokenizer == nil { throw .stopStringsNeedDetokenizer }

        let numPromptTokens = promptTokenIds.count
        guard numPromptTokens < config.maxModelLen else {
            throw .promptTooLong(promptTokens: numPromptTokens, maxModelLen: config.maxModelLen)
        }
        let room = config.maxModelLen - numPromptTokens
        if let requested = params.maxTokens, requested > room {
            throw .contextLengthExceeded(promptTokens: numPromptTokens, maxTokens: requested, maxModelLen: config.maxModelLen)
        }
        let maxTokens = min(params.maxTokens ?? room, params.defaultMaxTokens ?? room, room)
        // The last generated token is never fed back, so its KV is never written.
        let kvTokens = numPromptTokens + maxTokens - 1
        let capacity = config.numKVBlocks * config.blockSize
        guard kvTokens <= capacity else { throw .exceedsKVCacheCapacity(tokens: kvTokens, capacityTokens: capacity) }

        // As vLLM: the model's EOS stops unless ignore_eos; generation_config's other EOS ids join
        // stop_token_ids unless ignore_eos; min_tokens masks all of them either way.
        let eosTokenId = config.eosTokenId
        let extraEOS = config.generationDefaults.eosTokenIds.filter { $0 != eosTokenId }
        let stopTokenIds = Set(params.stopTokenIds + (params.ignoreEOS ? [] : extraEOS))
        let minTokensStopIds = Set(params.stopTokenIds + extraEOS + (eosTokenId.map { [$0] } ?? [])).sorted()

        var sequences: [EngineSequence] = []
        for index in 0..<params.n {
            var sequenceParams = params
            if let seed = params.seed { sequenceParams.seed = seed &+ UInt64(index) }
            let sequence = EngineSequence(
                id: nextSequenceId,
                requestId: id,
                index: index,
                promptTokenIds: promptTokenIds,
                params: sequenceParams,
                maxTokens: maxTokens,
                hiddenStateLayers: hiddenStateLayers,
                eosTokenId: params.ignoreEOS ? nil : eosTokenId,
                stopTokenIds: stopTokenIds,
                minTokensStopIds: minTokensStopIds
            )
            nextSequenceId += 1
            sequence.detokenize = makeDetokenizer?(promptTokenIds, params.skipSpecialTokens)
            let sharesPromptBlocks = (numPromptTokens - 1) / config.blockSize >= 1
            if index > 0 && config.enablePrefixCaching && hiddenStateLayers.isEmpty && sharesPromptBlocks {
                sequence.leader = sequences[0]
            }
            sequences.append(sequence)
        }
        requests[id] = sequences
        for sequence in sequences { scheduler.add(sequence) }
    }

    /// Drops a request wherever its sequences are (waiting or running) and frees their blocks now.
    /// Returns false when no unfinished request has this id.
    @discardableResult
    public func abort(requestId: String) -> Bool {
        guard let sequences = requests.removeValue(forKey: requestId) else { return false }
        for sequence in sequences where !sequence.isFinished { scheduler.finish(sequence, reason: .abort) }
        return true
    }

    /// Runs one step and returns, for each sequence that produced something (a token, prompt
    /// logprobs, hidden states), what it produced. Returns [] when there is nothing to do.
    /// If the runner throws, nothing advances and the error is rethrown.
    public func step() throws -> [SequenceOutput] {
        let chunks = scheduler.schedule()
        guard !chunks.isEmpty else {
            if scheduler.hasUnfinishedSequences {
                throw EngineError.noProgress(waiting: scheduler.waiting.count, running: scheduler.running.count)
            }
            return []
        }
        let batch = makeBatch(chunks)
        let output = try runner.execute(batch)
        try validate(output, for: batch)
        scheduler.commit(chunks)
        let sampled = sampleNextTokens(chunks, batch: batch, output: output)
        var outputs: [SequenceOutput] = []
        for (index, chunk) in chunks.enumerated() {
            if let sequenceOutput = process(chunk, scheduled: batch.sequences[index], batchIndex: index, sampled: sampled[index], output: output) {
                outputs.append(sequenceOutput)
            }
        }
        return outputs
    }

    // MARK: Step parts

    private func makeBatch(_ chunks: [ScheduledChunk]) -> ModelBatch {
        let blockSize = config.blockSize
        var rowOffset = 0
        let sequences = chunks.map { chunk in
            let sequence = chunk.sequence
            let needsPromptRows = sequence.wantsPromptLogprobs && !sequence.hasEmittedPromptLogprobs
                && sequence.numPromptLogprobPositions < sequence.numPromptTokens - 1
            let logits: LogitsRequest = needsPromptRows ? .all : (chunk.samplesNextToken ? .last : .none)
            let positions = chunk.startPosition..<chunk.endPosition
            let scheduled = ScheduledSequence(
                sequenceId: sequence.id,
                requestId: sequence.requestId,
                tokenIds: Array(sequence.tokenIds[positions]),
                startPosition: chunk.startPosition,
                blockTable: sequence.blockTable,
                slotMapping: positions.map { sequence.blockTable[$0 / blockSize] * blockSize + $0 % blockSize },
                logits: logits,
                logitsRowOffset: rowOffset,
                hiddenStateLayers: sequence.hiddenStateLayers
            )
            rowOffset += scheduled.numLogitsRows
            return scheduled
        }
        return ModelBatch(blockSize: blockSize, sequences: sequences)
    }

    private func validate(_ output: ModelOutput, for batch: ModelBatch) throws(EngineError) {
        let vocabularySize = runner.vocabularySize
        guard output.logits.count == batch.numLogitsRows * vocabularySize else {
            throw .invalidRunnerOutput(
                "\(output.logits.count) logits for \(batch.numLogitsRows) rows of \(vocabularySize)"
            )
        }
        guard batch.sequences.contains(where: { !$0.hiddenStateLayers.isEmpty }) else { return }
        guard output.hiddenStates.count == batch.sequences.count else {
            throw .invalidRunnerOutput("hidden states for \(output.hiddenStates.count) of \(batch.sequences.count) sequences")
        }
        for (sequence, states) in zip(batch.sequences, output.hiddenStates) {
            for layer in sequence.hiddenStateLayers {
                guard let state = states.first(where: { $0.layer == layer }), state.hiddenSize > 0,
                      state.values.count == sequence.tokenIds.count * state.hiddenSize
                else {
                    throw .invalidRunnerOutput("no hidden states of layer \(layer) for each token of sequence \(sequence.sequenceId)")
                }
            }
        }
    }

    /// The next token of every chunk that samples one, all sequences at once on the runner's
    /// threads: each sequence draws from its own generator and state, so the tokens are those of
    /// sampling them one by one, and the step's sampling (a softmax over the vocabulary per
    /// sequence) no longer runs on one thread while the others wait.
    private func sampleNextTokens(_ chunks: [ScheduledChunk], batch: ModelBatch, output: ModelOutput) -> [SampledToken?] {
        let todo = chunks.indices.filter { chunks[$0].samplesNextToken }
        var sampled = [SampledToken?](repeating: nil, count: chunks.count)
        let vocabularySize = runner.vocabularySize
        sampled.withUnsafeMutableBufferPointer { results in
            output.logits.withUnsafeBufferPointer { logits in
                runner.parallelFor(todo.count) { range in
                    var sampler = Sampler()
                    for t in range {
                        let index = todo[t], sequence = chunks[index].sequence, scheduled = batch.sequences[index]
                        let row = scheduled.logitsRowOffset + scheduled.numLogitsRows - 1
                        let rowLogits = UnsafeBufferPointer(rebasing: logits[(row * vocabularySize)..<((row + 1) * vocabularySize)])
                        results[index] = sampler.sample(logits: rowLogits, params: sequence.params, state: &sequence.sampler)
                    }
                }
            }
        }
        return sampled
    }

    private func process(
        _ chunk: ScheduledChunk, scheduled: ScheduledSequence, batchIndex: Int, sampled: SampledToken?, output: ModelOutput
    ) -> SequenceOutput? {
        let sequence = chunk.sequence
        let vocabularySize = runner.vocabularySize
        var result = SequenceOutput(
            requestId: sequence.requestId, index: sequence.index, newTokenIds: [], text: "", logprobs: [],
            promptLogprobs: nil, hiddenStates: [], finishReason: nil, stopReason: nil,
            numPromptTokens: sequence.numPromptTokens, numCachedPromptTokens: 0, numOutputTokens: 0
        )
        var producedSomething = false

        func withRow<T>(_ row: Int, _ body: (UnsafeBufferPointer<Float>) -> T) -> T {
            output.logits.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[(row * vocabularySize)..<((row + 1) * vocabularySize)])) }
        }

        if scheduled.logits == .all, let topCount = sequence.params.promptLogprobs {
            for position in chunk.startPosition..<chunk.endPosition
            where position >= sequence.numPromptLogprobPositions && position + 1 < sequence.numPromptTokens {
                let row = scheduled.logitsRowOffset + position - chunk.startPosition
                let next = sequence.tokenIds[position + 1]
                sequence.promptLogprobs.append(withRow(row) { Logprobs.of(next, in: $0, top: topCount) })
                sequence.numPromptLogprobPositions = position + 1
            }
        }
        if sequence.wantsPromptLogprobs && !sequence.hasEmittedPromptLogprobs && sequence.hasComputedPrompt {
            result.promptLogprobs = [nil] + sequence.promptLogprobs.map { Optional($0) }
            sequence.promptLogprobs = []
            sequence.hasEmittedPromptLogprobs = true
            producedSomething = true
        }

        if !sequence.hiddenStateLayers.isEmpty && chunk.endPosition > sequence.numHiddenStatePositions {
            let first = max(chunk.startPosition, sequence.numHiddenStatePositions)
            let skipped = first - chunk.startPosition
            result.hiddenStates = sequence.hiddenStateLayers.map { layer in
                let state = output.hiddenStates[batchIndex].first { $0.layer == layer }!
                return HiddenStates(
                    layer: layer, startPosition: first, hiddenSize: state.hiddenSize,
                    values: Array(state.values[(skipped * state.hiddenSize)...])
                )
            }
            sequence.numHiddenStatePositions = chunk.endPosition
            producedSomething = true
        }

        if chunk.samplesNextToken, let sampled {
            let token = sampled.tokenId
            sequence.append(token)
            sequence.sampler.record(token)
            generationTokens += 1
            if sequence.numOutputTokens == 1 { promptTokens += sequence.numPromptTokens }
            result.newTokenIds = [token]
            if let logprobs = sampled.logprobs { result.logprobs = [logprobs] }
            producedSomething = true

            var finish = StopChecker.finish(
                lastToken: token,
                numOutputTokens: sequence.numOutputTokens,
                numTokens: sequence.numTokens,
                minTokens: min(sequence.params.minTokens, sequence.maxTokens),
                maxTokens: sequence.maxTokens,
                maxModelLen: config.maxModelLen,
                eosTokenId: sequence.eosTokenId,
                stopTokenIds: sequence.stopTokenIds
            )
            if let detokenize = sequence.detokenize {
                // As vLLM: the text of a stop token (EOS, stop_token_ids) is not part of the output.
                let isStopToken = finish?.reason == .stop
                let searchable = sequence.numOutputTokens > sequence.params.minTokens
                let piece = isStopToken && !sequence.params.includeStopStringInOutput ? "" : detokenize.append(token)
                let (text, stopString) = sequence.stopChecker.append(piece, searchable: searchable)
                result.text = text
                if let stopString { finish = (.stop, .string(stopString)) }
                if finish != nil && stopString == nil {
                    // Bytes the detokenizer held back (an unfinished character) end the text.
                    let (tail, tailStop) = sequence.stopChecker.append(detokenize.finish(), searchable: searchable)
                    result.text += tail
                    if let tailStop { finish = (.stop, .string(tailStop)) }
                }
                if finish != nil { result.text += sequence.stopChecker.flush() }
            }
            if let finish {
                result.finishReason = finish.reason
                result.stopReason = finish.stopReason
                scheduler.finish(sequence, reason: finish.reason)
                if requests[sequence.requestId]?.allSatisfy(\.isFinished) == true {
                    requests[sequence.requestId] = nil
                }
            }
        }

        guard producedSomething else { return nil }
        result.numCachedPromptTokens = sequence.numCachedPromptTokens ?? 0
        result.numOutputTokens = sequence.numOutputTokens
        return result
    }
}
