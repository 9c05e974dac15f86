import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// The OpenAI-compatible HTTP server (DESIGN.md §6) on Hummingbird 2. Its routes call the model's
/// engine through OmniPipeline and never compute themselves.
///
/// ```swift
/// var configuration = ServerConfiguration(modelDirectory: "models/demo-qwen3")
/// configuration.port = 8000
/// try await OmniServer(configuration: configuration).run()   // until SIGTERM or SIGINT
/// ```
public struct OmniServer: Sendable {
    public let configuration: ServerConfiguration
    let logger: Logger

    public init(configuration: ServerConfiguration, logger: Logger = Logger(label: "omni.server")) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Listens at once (/health answers 503 while the model loads), serves until SIGTERM or SIGINT,
    /// then stops accepting connections, lets requests in flight finish for up to
    /// `shutdownGracePeriod`, aborts the rest and stops the engine. Throws if the model cannot be
    /// loaded or the address cannot be bound.
    public func run() async throws {
        let host = ModelHost(configuration: configuration, logger: logger)
        let routes = APIRoutes(configuration: configuration, host: host,
                               metrics: ServerMetrics(modelName: configuration.modelName),
                               admission: AdmissionControl(limit: configuration.admissionLimit))
        let router = Router(context: OmniRequestContext.self)
        router.add(middleware: RequestLogMiddleware(logger: logger))
        router.add(middleware: OpenAIErrorMiddleware())
        if let key = configuration.apiKey {
            router.add(middleware: APIKeyMiddleware<OmniRequestContext>(key: key))
        }
        routes.register(on: router)

        let logger = logger
        let address = "\(configuration.host)"
        let app = Application(
            router: router,
            server: .http1(configuration: .init(additionalChannelHandlers: [DisconnectWatcher()])),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.notice("listening on http://\(address):\(port)")
            },
            logger: logger)
        var group = ServiceGroupConfiguration(
            services: [
                .init(service: host),
                .init(service: app),
                .init(service: ShutdownNotice(host: host, logger: logger)),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        group.maximumGracefulShutdownDuration = configuration.shutdownGracePeriod
        try await ServiceGroup(configuration: group).run()
    }
}

/// Shut down first (services stop in reverse order): from the first signal on, new requests get
/// 503 and /health turns unhealthy, while requests in flight keep their model.
private struct ShutdownNotice: Service {
    let host: ModelHost
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        logger.notice("shutting down: finishing requests in flight")
        host.beginShutdown()
    }
}
