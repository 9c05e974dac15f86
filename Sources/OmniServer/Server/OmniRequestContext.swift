import Hummingbird
import Logging
import NIOCore
import Synchronization

/// Hummingbird's request context plus a record the handler fills in and the log line reads
/// (request id, token counts), shared by reference because middleware and handler see copies.
struct OmniRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let record = RequestRecord()
    /// The connection, to see the client hang up (`DisconnectWatcher`).
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// What one request did, for its log line.
final class RequestRecord: Sendable {
    struct Values: Sendable {
        var requestId: String?
        var promptTokens: Int?
        var completionTokens: Int?
        /// Images generated, and the DiT joint-block evaluations the step cache skipped / ran.
        var images: Int?
        var skippedBlocks: Int?
        var computedBlocks: Int?
        /// Set when the client went away before the answer was complete.
        var clientDisconnected = false
    }

    private let values = Mutex(Values())

    func update(_ change: (inout Values) -> Void) { values.withLock { change(&$0) } }
    var snapshot: Values { values.withLock { $0 } }
}
