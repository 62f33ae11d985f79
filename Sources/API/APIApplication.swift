public import Hummingbird
public import Ingest
public import Logging
public import NIOCore
public import Prometheus
public import Relational
public import ServiceLifecycle
public import TimeSeries
import UnixSignals

/// The HTTP application: one port for the REST API and the OCPP WebSocket endpoint, and
/// with TLS a second port for both over TLS (HTTPS and `wss://`).
public enum APIApplication {
    /// Builds the application.
    /// - Parameters:
    ///   - host: The address to listen on.
    ///   - port: The port to listen on; 0 picks a free one (reported through `onServerRunning`).
    ///   - tls: Makes this the TLS listener, every connection starting with the listener's
    ///     current context; it needs `ingest`. The server runs it beside the plain one
    ///     (``serviceGroup(application:tls:ingest:timeSeries:maintenance:shutsDownOnSignals:logger:)``).
    ///   - ingest: The OCPP front end; without it the server speaks only HTTP.
    ///   - timeSeries: The store meter history is read from.
    ///   - relational: The database that maps charger, connector and session ids.
    ///   - metrics: The registry exported at `/metrics`, if any.
    ///   - authentication: Whether and how callers are authenticated (``APIAuthentication/disabled``
    ///     only for tests and a loopback-only server).
    ///   - cluster: In a cluster, forwards commands for chargers held by other nodes, gathers
    ///     chargers' history from the nodes that hold it, and serves the internal API peers
    ///     send theirs to; it needs `ingest` and `relational`.
    ///   - logger: The application's logger.
    ///   - onServerRunning: Called with the listening channel once the server accepts connections.
    /// - Returns: An application to run with `runService()`.
    public static func make(
        host: String,
        port: Int,
        tls: TLSListener? = nil,
        ingest: OCPPIngest? = nil,
        timeSeries: TimeSeriesStore? = nil,
        relational: RelationalStore? = nil,
        metrics: PrometheusCollectorRegistry? = nil,
        authentication: APIAuthentication,
        cluster: ClusterForwarder? = nil,
        logger: Logger,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        precondition(tls == nil || ingest != nil, "the TLS listener serves the OCPP front end")
        return Application(
            router: buildRouter(
                ingest: ingest,
                timeSeries: timeSeries,
                relational: relational,
                metrics: metrics,
                authentication: authentication,
                cluster: cluster
            ),
            server: ingest.map { .ocpp($0, tls: tls) } ?? .http1(),
            configuration: ApplicationConfiguration(
                address: .hostname(host, port: port),
                serverName: "ocpp-server",
                // A reconnect storm of a whole fleet arrives at once: with the default 256 the
                // kernel drops connection attempts, which chargers retry only after seconds.
                backlog: 4096
            ),
            onServerRunning: onServerRunning,
            logger: logger
        )
    }

    /// The server's one service group: the time-series store, its maintenance, the OCPP front end's writers,
    /// its cluster membership (in a cluster), the TLS reloader, then the HTTP server and the TLS server. It shuts its services down
    /// in reverse order, each after the one before has returned: the servers stop accepting
    /// and their connections close, the event writer writes everything queued, the
    /// relational coalescer flushes, the store closes. A service that fails or returns early
    /// shuts the rest down the same way.
    /// - Parameters:
    ///   - application: The HTTP server, as `make` builds it.
    ///   - tls: The TLS server, the application `make` builds with a ``TLSListener``; its
    ///     files are reloaded on SIGHUP when it was made with
    ///     ``TLSServer/reloadingOnSIGHUP(application:listener:)``.
    ///   - ingest: The OCPP front end, whose writers run in the group.
    ///   - timeSeries: The store, closed last.
    ///   - maintenance: The store's maintenance passes, stopped just before it closes.
    ///   - shutsDownOnSignals: Whether SIGTERM and SIGINT start the graceful shutdown (the
    ///     executable's group; tests call `triggerGracefulShutdown()` instead).
    ///   - logger: The group's logger.
    public static func serviceGroup(
        application: some ApplicationProtocol,
        tls: TLSServer? = nil,
        ingest: OCPPIngest?,
        timeSeries: TimeSeriesStore?,
        maintenance: TimeSeriesMaintenance? = nil,
        shutsDownOnSignals: Bool = true,
        logger: Logger
    ) -> ServiceGroup {
        var services: [any Service] = []
        if let timeSeries { services.append(timeSeries) }
        if let maintenance { services.append(maintenance) }
        if let ingest { services += ingest.lifecycleServices }
        // After the servers stop: the chargers' closes are recorded, then the node leaves.
        if let cluster = ingest?.cluster { services.append(cluster) }
        if let reloader = tls?.reloader { services.append(reloader) }
        services.append(application)
        if let tls { services.append(tls.application) }
        return ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services.map {
                    ServiceGroupConfiguration.ServiceConfiguration(
                        service: $0,
                        successTerminationBehavior: .gracefullyShutdownGroup,
                        failureTerminationBehavior: .gracefullyShutdownGroup
                    )
                },
                gracefulShutdownSignals: shutsDownOnSignals ? [.sigterm, .sigint] : [],
                logger: logger
            )
        )
    }

    /// The routes of the API, behind authentication (``APIAuthentication``) and the role
    /// table (``APIAccessPolicy``).
    public static func buildRouter(
        ingest: OCPPIngest? = nil,
        timeSeries: TimeSeriesStore? = nil,
        relational: RelationalStore? = nil,
        metrics: PrometheusCollectorRegistry? = nil,
        authentication: APIAuthentication,
        cluster: ClusterForwarder? = nil
    ) -> Router<APIRequestContext> {
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: UpgradeRequestMiddleware())
        router.add(middleware: ErrorMiddleware())
        if let authenticator = authentication.authenticator {
            router.add(
                middleware: AuthenticationMiddleware(
                    authenticator: authenticator,
                    metricsPublic: authentication.metricsPublic
                )
            )
        }
        // After authentication (it reads the principal), before authorization (403s are audited).
        if let relational { router.add(middleware: AuditMiddleware(store: relational)) }
        if authentication.isEnabled { router.add(middleware: AuthorizationMiddleware()) }
        router.add(middleware: JSONBodyMiddleware())
        if let relational {
            DatabaseRoutes.register(on: router, store: relational, authorizations: ingest?.authorizations)
            AuthorizationKeyRoutes.register(on: router, store: relational, ingest: ingest)
            AuditRoutes.register(on: router, store: relational)
            APITokenRoutes.register(on: router, store: relational, authentication: authentication)
        }
        if let timeSeries, let relational {
            // In a cluster a charger's history is gathered from the nodes that held it.
            let history = cluster.map { ClusterHistory(forwarder: $0, timeSeries: timeSeries) }
            history?.register(on: router)
            MeterHistory.register(on: router, timeSeries: timeSeries, relational: relational, cluster: history)
            ChargerHistory.register(on: router, timeSeries: timeSeries, relational: relational, cluster: history)
            LoadCurves.register(on: router, timeSeries: timeSeries, relational: relational)
            SiteReport.register(on: router, timeSeries: timeSeries, relational: relational)
            ChargerEvents.register(on: router, timeSeries: timeSeries, relational: relational, cluster: history)
            LiveStreams.register(
                on: router,
                timeSeries: timeSeries,
                relational: relational,
                authenticator: authentication.authenticator
            )
        }
        router.get("/openapi.json") { _, _ in
            RawJSON(bytes: OpenAPIDocument.json)
        }
        SwaggerUI.register(on: router)
        Console.register(on: router)
        router.get("/health") { _, _ in
            ServiceStatus(status: "ok")
        }
        router.get("/ready") { _, _ in
            // Ready when the database answers and its schema is this version's.
            if let relational {
                do {
                    let applied = try await relational.appliedMigrations()
                    let missing = Set(RelationalStore.knownMigrations).subtracting(applied)
                    guard missing.isEmpty else {
                        throw ServiceStatus.unavailable(
                            "the database schema lacks migrations \(missing.sorted()); run ocpp-server migrate"
                        )
                    }
                } catch let error as APIError {
                    throw error
                } catch {
                    throw ServiceStatus.unavailable("the database does not answer: \(error)")
                }
            }
            return ServiceStatus(status: "ready")
        }
        if let metrics {
            router.get("/metrics") { _, _ in
                Response(
                    status: .ok,
                    headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer()))
                )
            }
        }
        if let ingest {
            ChargePointCommands.register(on: router, ingest: ingest, relational: relational, cluster: cluster)
            IntegrationRoutes.register(on: router, ingest: ingest, relational: relational)
            // Reached only by requests the WebSocket upgrader refused (or plain GETs): say why.
            router.get("/ocpp/**") { request, _ -> Response in
                let offered = request.headers[values: .secWebSocketProtocol]
                switch ingest.decide(uri: request.uri.description, subprotocols: offered) {
                case .refuse(let status, let reason):
                    throw APIError.detail(reason, status: HTTPResponse.Status(code: status))
                case .accept:
                    throw APIError.detail(
                        "this is the OCPP WebSocket endpoint: send a WebSocket upgrade request "
                            + "(Upgrade: websocket, Sec-WebSocket-Protocol: ocpp1.6) as the first request of a connection",
                        status: .upgradeRequired
                    )
                }
            }
        }
        // Last: it answers 405 from the routes above, for requests none of them matched.
        router.add(middleware: MethodNotAllowedMiddleware(routes: router.routes))
        return router
    }
}
