import Hummingbird
import Logging
import OmniEngine
import OmniPipeline
import OmniTokenizer

/// One completions or chat request in the engine: its prompts admitted together, their outputs
/// merged, answered whole or streamed. Every engine request it makes ends when its consumer does:
/// a client that goes away cancels the consuming task, which aborts them and frees their blocks.
struct GenerationRun: Sendable {
    let model: ServedModel
    let request: GenerationRequest
    let id: String
    let created: Int
    let metrics: ServerMetrics
    /// The longest a stream stays silent before a `: ping` comment.
    let keepAliveInterval: Duration
    let start: ContinuousClock.Instant
    let logger: Logger

    /// An output and the prompt it belongs to.
    struct Event: Sendable {
        var prompt: Int
        var output: SequenceOutput
    }

    /// Engine request id of prompt `index`.
    func engineId(_ index: Int) -> String { request.prompts.count == 1 ? id : "\(id)-\(index)" }

    /// Submits every prompt and waits until the engine has taken them all; if it refuses one, the
    /// others are aborted and the refusal is thrown (a 400 before anything is streamed).
    func admit() async throws -> AsyncThrowingStream<Event, Error> {
        let streams: [AsyncThrowingStream<SequenceOutput, Error>]
        do {
            streams = try await withThrowingTaskGroup(of: (Int, AsyncThrowingStream<SequenceOutput, Error>).self) { group in
                for (index, prompt) in request.prompts.enumerated() {
                    group.addTask {
                        (index, try await model.omni.admit(promptTokenIds: prompt.tokenIds, params: request.params,
                                                           requestId: engineId(index)))
                    }
                }
                var admitted = [AsyncThrowingStream<SequenceOutput, Error>?](repeating: nil, count: request.prompts.count)
                for try await (index, stream) in group { admitted[index] = stream }
                return admitted.map { $0! }
            }
        } catch {
            for index in request.prompts.indices { model.omni.abort(requestId: engineId(index)) }
            throw APIError(from: error, promptField: request.promptField) ?? error
        }
        return Self.merge(streams)
    }

    /// The prompts' outputs as one stream, in arrival order. Ending it early (cancel, drop) cancels
    /// the readers of the prompt streams, which aborts those requests.
    static func merge(_ streams: [AsyncThrowingStream<SequenceOutput, Error>]) -> AsyncThrowingStream<Event, Error> {
        let (merged, continuation) = AsyncThrowingStream<Event, Error>.makeStream()
        let reader = Task {
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (index, stream) in streams.enumerated() {
                        group.addTask {
                            for try await output in stream { continuation.yield(Event(prompt: index, output: output)) }
                        }
                    }
                    try await group.waitForAll()
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in reader.cancel() }
        return merged
    }

    /// Reads every output and returns the finished response.
    func collect(_ events: AsyncThrowingStream<Event, Error>) async throws -> ResponseBuilder {
        var builder = makeBuilder()
        var timer = ChoiceTimer(start: start, count: request.sequenceCount)
        do {
            for try await event in events {
                _ = builder.absorb(prompt: event.prompt, event.output)
                timer.observe(event, n: request.params.n, metrics: metrics)
            }
            try Task.checkCancellation()
        } catch {
            countAborted(builder)
            throw error
        }
        return builder
    }

    /// Writes the response as server-sent events: the chat role first, a chunk per output, a
    /// `: ping` when nothing was sent for `keepAliveInterval`, usage if asked, then `[DONE]`.
    /// An engine failure mid-stream becomes an error event (the 200 is already on the wire).
    /// A client that hangs up (`connection`) ends the stream with `CancellationError`.
    func stream(_ events: AsyncThrowingStream<Event, Error>, to writer: inout any ResponseBodyWriter,
                connection: ClientConnection?, onFinish: @Sendable (ResponseBuilder) -> Void) async throws {
        enum Signal: Sendable {
            case output(Event)
            case finished
            case failed(any Error)
            case tick
            case clientGone
        }
        var builder = makeBuilder()
        var timer = ChoiceTimer(start: start, count: request.sequenceCount)
        defer {
            countAborted(builder)
            onFinish(builder)
        }
        let opening = builder.openingChunks
        if !opening.isEmpty { try await writer.write(ServerSentEvents.events(opening)) }
        let (signals, signal) = AsyncStream<Signal>.makeStream()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    for try await event in events { signal.yield(.output(event)) }
                    signal.yield(.finished)
                } catch {
                    signal.yield(.failed(error))
                }
            }
            let interval = keepAliveInterval
            group.addTask {
                while true {
                    try await Task.sleep(for: interval)
                    signal.yield(.tick)
                }
            }
            if let connection {
                group.addTask {
                    await connection.waitUntilClosed()
                    signal.yield(.clientGone)
                }
            }
            defer { group.cancelAll() }
            var lastWrite = ContinuousClock.now
            loop: for await item in signals {
                switch item {
                case .output(let event):
                    timer.observe(event, n: request.params.n, metrics: metrics)
                    let chunks = builder.absorb(prompt: event.prompt, event.output)
                    if !chunks.isEmpty {
                        try await writer.write(ServerSentEvents.events(chunks))
                        lastWrite = .now
                    }
                case .tick:
                    if ContinuousClock.now - lastWrite >= interval {
                        try await writer.write(ServerSentEvents.ping)
                        lastWrite = .now
                    }
                case .finished:
                    if request.includeUsage { try await writer.write(ServerSentEvents.event(builder.usageChunk)) }
                    try await writer.write(ServerSentEvents.done)
                    break loop
                case .clientGone:
                    throw CancellationError()
                case .failed(let error):
                    let apiError = APIError(from: error, promptField: request.promptField) ?? {
                        logger.error("internal error", metadata: ["request_id": "\(id)", "error": "\(String(reflecting: error))"])
                        return .internal(requestId: id)
                    }()
                    try await writer.write(ServerSentEvents.event(apiError.json))
                    try await writer.write(ServerSentEvents.done)
                    break loop
                }
            }
            try Task.checkCancellation()
        }
    }

    /// Choices that never finished were aborted (client gone, engine failure, shutdown).
    private func countAborted(_ builder: ResponseBuilder) {
        for choice in builder.choices where choice.finishReason == nil { metrics.finished(reason: .abort) }
    }

    private func makeBuilder() -> ResponseBuilder {
        ResponseBuilder(request: request, id: id, created: created, tokenizer: model.omni.tokenizer)
    }
}

/// Per-choice latencies for /metrics: time to first token, time per output token, end to end.
private struct ChoiceTimer {
    let start: ContinuousClock.Instant
    var firstToken: [ContinuousClock.Instant?]

    init(start: ContinuousClock.Instant, count: Int) {
        self.start = start
        firstToken = Array(repeating: nil, count: count)
    }

    mutating func observe(_ event: GenerationRun.Event, n: Int, metrics: ServerMetrics) {
        let index = event.prompt * n + event.output.index
        let now = ContinuousClock.now
        if firstToken[index] == nil && !event.output.newTokenIds.isEmpty {
            firstToken[index] = now
            metrics.timeToFirstToken.recordInterval(now - start)
        }
        guard let reason = event.output.finishReason else { return }
        metrics.requestLatency.recordInterval(now - start)
        let tokens = event.output.numOutputTokens
        if let first = firstToken[index], tokens > 1 {
            metrics.timePerOutputToken.recordInterval((now - first) / (tokens - 1))
        }
        metrics.finished(reason: reason)
    }
}
