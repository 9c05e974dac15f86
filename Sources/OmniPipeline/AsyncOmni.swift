import Foundation
import OmniEngine
import OmniModels
import OmniTensor
import OmniTokenizer
import OmniWeights
import Synchronization

/// The public Swift API: one served model, loaded from a local directory, running its stage graph
/// through an Orchestrator. Thread-safe; every method may be called from any task.
///
/// ```swift
/// let omni = try AsyncOmni(directory: "/models/Qwen2.5-0.5B-Instruct")
/// let ids = try omni.chatPromptTokenIds(messages: [["role": "user", "content": "Hi"]])
/// for try await delta in omni.generate(promptTokenIds: ids, params: SamplingParams()) { print(delta.text, terminator: "") }
/// ```
public final class AsyncOmni: Sendable {
    public let directory: String
    public let architecture: ArchitectureSpec
    public let tokenizer: PreTrainedTokenizer
    /// Longest prompt + completion a request may ask for.
    public let maxModelLen: Int
    public let generationDefaults: GenerationDefaults
    private let stage: ARStage
    private let requestCounter = Mutex(0)

    /// Loads the model: configs, tokenizer, weights (checked tensor by tensor), KV cache; then
    /// starts its engine thread.
    public init(directory: String, options: EngineOptions = EngineOptions()) throws {
        self.directory = directory
        architecture = try ModelRegistry.resolve(directory: directory)
        guard architecture.stages == [.ar] else {
            throw ModelDirectoryError.notAnLLM(directory: directory, name: architecture.name)
        }
        let url = URL(fileURLWithPath: directory)
        tokenizer = try PreTrainedTokenizer(directory: url)
        let backend = CPUBackend(threads: options.threads ?? ThreadPool.physicalCores, matmulPrecision: options.matmulPrecision)
        let (hf, config) = try CausalLMLoader.config(directory: url)
        var weights: any WeightSource = try Checkpoint(directory: url)
        if let name = options.weightDType {
            guard let dtype = DType(torchName: name), dtype.isFloatingPoint else {
                throw PipelineError.invalidPrompt("--dtype \(name) is not a floating dtype (float32, bfloat16, float16)")
            }
            weights = CastingWeights(source: weights, dtype: dtype, backend: backend)
        }
        let model = try DecoderOnlyLM(config: config, weights: weights, backend: backend)

        let generation = try GenerationConfig(directory: url)
        var eos = generation?.eosTokenIds ?? hf.eosTokenIds
        if eos.isEmpty, let id = tokenizer.eosTokenID { eos = [id] }
        generationDefaults = GenerationDefaults.fromGenerationConfig(
            temperature: generation?.temperature, topP: generation?.topP, topK: generation?.topK, minP: generation?.minP,
            repetitionPenalty: generation?.repetitionPenalty, maxNewTokens: generation?.maxNewTokens, eosTokenIds: eos)

        // KV cache: as asked, else a quarter of available memory up to 4 GiB, never more than
        // max_num_seqs full-length sequences can use.
        let positions = config.maxPositions
        let requestedLen = options.maxModelLen ?? positions
        let perToken = model.kvBytesPerToken
        let useful = options.maxNumSeqs * requestedLen * perToken
        let memory = options.kvCacheMemory ?? min(useful, min(4 << 30, (EngineOptions.availableMemory ?? (16 << 30)) / 4))
        let blocks = EngineConfig.numKVBlocks(memoryBytes: memory, bytesPerToken: perToken, blockSize: options.blockSize)
        let modelLen = options.maxModelLen ?? min(positions, blocks * options.blockSize)
        maxModelLen = modelLen
        let engineConfig = try EngineConfig(
            numKVBlocks: blocks, maxModelLen: modelLen, blockSize: options.blockSize, maxNumSeqs: options.maxNumSeqs,
            maxNumBatchedTokens: max(options.maxNumBatchedTokens, options.maxNumSeqs), enablePrefixCaching: options.enablePrefixCaching,
            eosTokenId: eos.first, generationDefaults: generationDefaults)
        let runner = DecoderModelRunner(model: model, numBlocks: blocks, blockSize: options.blockSize)
        let tokenizer = self.tokenizer
        let engine = Engine(config: engineConfig, runner: runner) { _, skipSpecial in
            let box = DetokenizerBox(tokenizer.makeIncrementalDetokenizer(skipSpecialTokens: skipSpecial))
            return TextStream(append: { box.detokenizer.append($0) }, finish: { box.detokenizer.finish() })
        }
        stage = ARStage(engine: engine)
        stage.start(name: "omni-ar-\(architecture.name)")
    }

    deinit { stage.stop() }

    /// Streams one request's outputs: a delta per step per completion (`index` tells which of n),
    /// the last one for each completion carrying its finish reason. Cancelling the consuming task
    /// (or dropping the stream) aborts the request and frees its KV blocks at once.
    public func generate(promptTokenIds: [Int], params: SamplingParams, requestId: String? = nil,
                         hiddenStateLayers: [Int] = []) -> AsyncThrowingStream<SequenceOutput, Error> {
        let id = requestId ?? nextRequestId()
        let (stream, sink) = makeStream(id: id, n: params.n)
        stage.submit(id: id, prompt: promptTokenIds, params: params, hiddenStateLayers: hiddenStateLayers, sink: sink)
        return stream
    }

    /// As `generate`, but returns once the engine has taken the request, and throws the engine's
    /// reason (an `EngineError`, e.g. prompt + max_tokens beyond max_model_len) when it refuses it:
    /// a server can then answer 400 before it commits to a streamed 200. Cancelling the caller
    /// while it waits aborts the request.
    public func admit(promptTokenIds: [Int], params: SamplingParams, requestId: String? = nil,
                      hiddenStateLayers: [Int] = []) async throws -> AsyncThrowingStream<SequenceOutput, Error> {
        let id = requestId ?? nextRequestId()
        let (stream, sink) = makeStream(id: id, n: params.n)
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (admitted: CheckedContinuation<Void, Error>) in
                stage.submit(id: id, prompt: promptTokenIds, params: params, hiddenStateLayers: hiddenStateLayers,
                             admission: { error in
                                 if let error { admitted.resume(throwing: error) } else { admitted.resume() }
                             }, sink: sink)
            }
        } onCancel: { [stage] in
            stage.abort(id: id)
        }
        return stream
    }

    /// A request's output stream and the sink the stage feeds it through; the stream finishes when
    /// all `n` completions have, and aborts the request when its consumer goes away.
    private func makeStream(id: String, n expected: Int) -> (AsyncThrowingStream<SequenceOutput, Error>, ARStage.Sink) {
        let (stream, continuation) = AsyncThrowingStream<SequenceOutput, Error>.makeStream()
        let finished = Mutex(0)
        continuation.onTermination = { [stage] termination in
            if case .cancelled = termination { stage.abort(id: id) }
        }
        let sink: ARStage.Sink = { result in
            switch result {
            case .success(let output):
                continuation.yield(output)
                if output.isFinished {
                    let done = finished.withLock { count in count += 1; return count }
                    if done == expected { continuation.finish() }
                }
            case .failure(let error):
                continuation.finish(throwing: error)
            }
        }
        return (stream, sink)
    }

    /// The model's chat template (tokenizer_config.json, chat_template.jinja or chat_template.json).
    public func chatTemplate(hasTools: Bool = false) throws -> ChatTemplate {
        guard let source = tokenizer.configuration.chatTemplate(named: nil, hasTools: hasTools) else {
            throw PipelineError.invalidPrompt("\(directory) has no chat template (tokenizer_config.json \"chat_template\", chat_template.jinja or chat_template.json); send a plain prompt instead")
        }
        return try ChatTemplate(source: source)
    }

    /// The prompt text of a conversation, as transformers' `apply_chat_template(tokenize=False)`.
    public func renderChat(messages: [JinjaValue], tools: [JinjaValue]? = nil, documents: [JinjaValue]? = nil,
                           addGenerationPrompt: Bool = true, templateKwargs: [String: JinjaValue] = [:]) throws -> String {
        try chatTemplate(hasTools: tools != nil).render(
            messages: messages, tools: tools, documents: documents, addGenerationPrompt: addGenerationPrompt,
            specialTokens: tokenizer.specialTokenStrings, extraContext: templateKwargs)
    }

    /// Token ids of a conversation's prompt (the rendered text tokenized without adding special
    /// tokens, as vLLM and `apply_chat_template(tokenize=True)` do).
    public func chatPromptTokenIds(messages: [JinjaValue], tools: [JinjaValue]? = nil, addGenerationPrompt: Bool = true,
                                   templateKwargs: [String: JinjaValue] = [:]) throws -> [Int] {
        let text = try renderChat(messages: messages, tools: tools, addGenerationPrompt: addGenerationPrompt, templateKwargs: templateKwargs)
        return tokenizer.encode(text, addSpecialTokens: false)
    }

    /// Aborts a request at its next step, freeing its blocks.
    public func abort(requestId: String) { stage.abort(id: requestId) }

    /// The engine's counters as of its last step.
    public var metrics: EngineMetrics { stage.metrics }

    /// The engine's counters once everything submitted or aborted before this call has been
    /// applied (e.g. to see an abort's blocks freed).
    public func settledMetrics() async -> EngineMetrics {
        await withCheckedContinuation { continuation in
            stage.afterPendingWork { continuation.resume(returning: $0) }
        }
    }

    /// Shuts the engine thread down; requests in flight end with `PipelineError.shuttingDown`.
    public func shutdown() { stage.stop() }

    private func nextRequestId() -> String {
        let n = requestCounter.withLock { value in value += 1; return value }
        return "req-\(n)"
    }
}

/// Lets the engine's closures own a mutable detokenizer (used only on the engine thread).
private final class DetokenizerBox: @unchecked Sendable {
    var detokenizer: OmniTokenizer.IncrementalDetokenizer
    init(_ detokenizer: OmniTokenizer.IncrementalDetokenizer) { self.detokenizer = detokenizer }
}

/// Weights converted to another storage dtype as they are loaded (`--dtype`).
struct CastingWeights: WeightSource {
    let source: any WeightSource
    let dtype: DType
    let backend: any Backend

    func contains(_ name: String) -> Bool { source.contains(name) }
    func location(of name: String) -> String { source.location(of: name) }
    func tensor(_ name: String) throws -> Tensor {
        let t = try source.tensor(name)
        return t.dtype == dtype || !t.dtype.isFloatingPoint ? t : backend.cast(t, to: dtype)
    }
}

extension PreTrainedTokenizer {
    /// The named special tokens a chat template may print (`bos_token`, `eos_token`, ...).
    var specialTokenStrings: [String: String] {
        let c = configuration
        var names = [String: String]()
        if let t = c.bosToken { names["bos_token"] = t.content }
        if let t = c.eosToken { names["eos_token"] = t.content }
        if let t = c.unkToken { names["unk_token"] = t.content }
        if let t = c.padToken { names["pad_token"] = t.content }
        return names
    }
}
