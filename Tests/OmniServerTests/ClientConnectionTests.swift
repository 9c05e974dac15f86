import Testing
@testable import OmniServer

@Suite struct ClientConnectionTests {
    @Test func aHangUpCancelsTheOperation() async {
        let connection = ClientConnection()
        let (started, signal) = AsyncStream<Void>.makeStream()
        let task = Task {
            try await connection.cancellingOnClose {
                signal.yield()
                try await Task.sleep(for: .seconds(3600))
                return 1
            }
        }
        for await _ in started { break }
        connection.close()
        await #expect(throws: CancellationError.self) { try await task.value }
    }

    @Test func anOperationThatFinishesFirstReturnsItsValue() async throws {
        let connection = ClientConnection()
        #expect(try await connection.cancellingOnClose { 42 } == 42)
        #expect(!connection.isClosed)
    }

    @Test func waitingOnAClosedConnectionReturnsAtOnce() async {
        let connection = ClientConnection()
        connection.close()
        await connection.waitUntilClosed()
        #expect(connection.isClosed)
    }

    @Test func aCancelledWaiterStopsWaiting() async {
        let connection = ClientConnection()
        let waiter = Task { await connection.waitUntilClosed() }
        waiter.cancel()
        await waiter.value
        #expect(!connection.isClosed)
    }
}

@Suite struct ModelHostTests {
    @Test func beforeTheModelIsLoadedRequestsGet503AndAfterShutdownToo() {
        let host = ModelHost(configuration: ServerConfiguration(modelDirectory: DemoModel.directory), logger: .init(label: "test"))
        #expect(!host.isReady)
        #expect(throws: APIError.loading) { try host.model() }
        host.beginShutdown()
        #expect(throws: APIError.shuttingDown) { try host.model() }
    }
}
