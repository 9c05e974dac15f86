import Hummingbird
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Sees a client hang up: one per connection, in the channel pipeline, it marks the connection's
/// `ClientConnection` closed when the input ends (the client closed its socket; Hummingbird allows
/// half-closure, so the channel itself stays open) or the channel goes inactive.
///
/// Hummingbird's own `consumeWithCancellationOnInboundClose` does the same from inside a request
/// but ends keep-alive for the connection; this keeps connections reusable.
final class DisconnectWatcher: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = HTTPRequestPart

    let connection = ClientConnection()

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event { connection.close() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.close()
        context.fireChannelInactive()
    }

    /// The watcher of a request's connection (nil when the pipeline has none, e.g. in tests).
    static func connection(of channel: any Channel) async -> ClientConnection? {
        try? await channel.pipeline.handler(type: DisconnectWatcher.self).get().connection
    }
}

/// Whether a connection's client is still there, and a way to wait until it is not.
final class ClientConnection: Sendable {
    private struct State {
        var isClosed = false
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())

    var isClosed: Bool { state.withLock { $0.isClosed } }

    func close() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.isClosed = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns when the client has gone, or when the calling task is cancelled.
    func waitUntilClosed() async {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.isClosed || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }

    /// Runs `operation`, cancelling it if the client goes away first (which then throws
    /// `CancellationError`).
    func cancellingOnClose<Value: Sendable>(_ operation: @escaping @Sendable () async throws -> Value) async throws -> Value {
        try await withThrowingTaskGroup(of: Value?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                await self.waitUntilClosed()
                return nil
            }
            defer { group.cancelAll() }
            guard let value = try await group.next(), let value else { throw CancellationError() }
            return value
        }
    }
}
