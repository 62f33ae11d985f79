import CoreMetrics
import Foundation
public import Logging
import NIOCore
import NIOHTTP1
public import NIOWebSocket
public import Protocol
public import Relational
public import ServiceLifecycle
import Synchronization
public import TimeSeries

/// The OCPP 1.6J WebSocket front end: upgrades `/ocpp/{charge_point_id}`, runs one
/// ``OCPPConnectionHandler`` per charger, feeds the event writer and the relational
/// coalescer, keeps the registry of connected chargers and carries calls to them.
public final class OCPPIngest: Sendable {
    /// The settings it runs with.
    public let configuration: IngestConfiguration
    let services: IngestServices
    /// The node's cluster membership; `nil` for a server on its own.
    public let cluster: ClusterMembership?
    /// Times of receipt of relayed messages (``relay(_:from:)``).
    let relayReceipts = ReceiptClock()

    /// - Parameters:
    ///   - configuration: The front end's settings.
    ///   - timeSeries: Where meter values, status changes and notifications go.
    ///   - relational: Chargers, id tags, sessions, connector statuses.
    ///   - cluster: The node's cluster membership, which records the chargers it holds; `nil`
    ///     for a server on its own.
    ///   - logger: The logger; each connection adds its charge point id.
    public convenience init(
        configuration: IngestConfiguration = IngestConfiguration(),
        timeSeries: TimeSeriesStore,
        relational: RelationalStore,
        cluster: ClusterMembership? = nil,
        logger: Logger
    ) {
        self.init(
            configuration: configuration,
            timeSeries: timeSeries,
            relational: relational,
            cluster: cluster,
            commitClock: UptimeCommitClock(),
            logger: logger
        )
    }

    /// - Parameter commitClock: The clock the group-commit interval runs on (tests move it by hand).
    init(
        configuration: IngestConfiguration,
        timeSeries: TimeSeriesStore,
        relational: RelationalStore,
        cluster: ClusterMembership? = nil,
        commitClock: any CommitClock,
        logger: Logger
    ) {
        self.configuration = configuration
        self.cluster = cluster
        let metrics = IngestMetrics()
        services = IngestServices(
            configuration: configuration,
            relational: relational,
            events: EventWriter(
                store: timeSeries,
                capacity: configuration.queueCapacity,
                commitInterval: .milliseconds(Int64(configuration.commitIntervalMilliseconds)),
                clock: commitClock,
                metrics: metrics,
                logger: logger
            ),
            coalescer: RelationalCoalescer(store: relational, metrics: metrics, logger: logger),
            authorizations: AuthorizationCache(
                store: relational,
                lifetime: .seconds(configuration.authorizationCacheSeconds)
            ),
            registry: ConnectionRegistry(presence: cluster?.presence),
            metrics: metrics,
            logger: logger
        )
        cluster?.attach(services.registry)
    }

    /// The front end's long-lived parts, to run in the server's service group after the
    /// time-series store and before the HTTP server: the relational coalescer, then the event
    /// writer. A group shuts its services down in reverse order, so once the server has
    /// stopped accepting and its connections have closed, the event writer writes everything
    /// queued, then the coalescer flushes.
    public var lifecycleServices: [any Service] {
        [services.coalescer, services.events]
    }

    /// The id-tag cache that Authorize uses; REST writes to RFID cards invalidate it.
    public var authorizations: AuthorizationCache { services.authorizations }

    /// The chargers connected now, ordered by charge point id.
    public var connectedChargePoints: [ConnectedChargePoint] {
        services.registry.all.map(\.snapshot).sorted { $0.chargePointID < $1.chargePointID }
    }

    /// The connection of `chargePointID`, if it is connected.
    public func connection(_ chargePointID: ChargePointID) -> ConnectedChargePoint? {
        services.registry.session(for: chargePointID)?.snapshot
    }

    /// Sends `request` to a connected charger and waits for its confirmation.
    ///
    /// The request is validated against its schema first; calls to one charger go one at a
    /// time (OCPP-J), the rest wait in order.
    /// - Returns: The charger's confirmation, decoded and validated.
    /// - Throws: ``ChargePointCallError``.
    public func call<Request: OCPPRequest>(
        _ request: Request,
        to chargePointID: ChargePointID
    ) async throws(ChargePointCallError) -> Request.Response {
        do {
            try request.validate()
        } catch {
            throw .invalidRequest(error)
        }
        guard let session = services.registry.session(for: chargePointID),
            let handler = session.handler.withLock({ $0 })
        else {
            services.metrics.call(outcome: "refused")
            throw .notConnected(chargePointID)
        }
        let loop = session.channel.eventLoop
        let promise = loop.makePromise(of: OCPPRawPayload.self)
        loop.execute { handler.value.startCall(request, promise: promise) }
        let payload: OCPPRawPayload
        do {
            payload = try await promise.futureResult.get()
        } catch let error as ChargePointCallError {
            services.metrics.call(outcome: Self.outcome(error))
            throw error
        } catch {
            services.metrics.call(outcome: "closed")
            throw .connectionClosed
        }
        do {
            let response = try payload.decode(as: Request.Response.self).value
            services.metrics.call(outcome: "confirmed")
            return response
        } catch {
            services.metrics.call(outcome: "invalid")
            throw .invalidResponse(error)
        }
    }

    private static func outcome(_ error: ChargePointCallError) -> String {
        switch error {
        case .callError: return "callerror"
        case .timedOut: return "timeout"
        case .queueFull: return "refused"
        default: return "closed"
        }
    }

    // MARK: - Upgrade

    /// What the server answers an HTTP request for `uri` offering `subprotocols`, from `origins`.
    public func decide(uri: String, subprotocols: [String], origins: [String] = []) -> UpgradeDecision {
        UpgradeDecision(
            uri: uri,
            offeredSubprotocols: subprotocols,
            requireSubprotocol: configuration.requireSubprotocol,
            origins: origins,
            allowedOrigins: configuration.allowedOrigins
        )
    }

    /// A WebSocket upgrader for one new connection: it accepts `/ocpp/{id}` requests that
    /// ``decide(uri:subprotocols:)`` accepts and whose charger authenticates at its security
    /// profile (``ChargerAuthentication``), and installs the OCPP handler after the frame
    /// codec. Only then does the connection replace another of the same charge point id: a
    /// refused attempt leaves a connected charger alone. Refused requests go on as plain
    /// HTTP, answered by the server.
    /// - Parameters:
    ///   - upgraded: The value the upgrade yields to the server's pipeline setup.
    ///   - transport: How the connection arrived; called on the channel's event loop when the
    ///     request head is in (after the TLS handshake).
    ///   - refused: Called with the refusal when the upgrade is refused, for the server to
    ///     answer (the upgrade handler consumed the request).
    public func makeUpgrader<UpgradeResult: Sendable>(
        upgraded: UpgradeResult,
        transport: @escaping @Sendable () -> ChargerTransport,
        refused: @escaping @Sendable (UpgradeRefusal) -> Void
    ) -> NIOTypedWebSocketServerUpgrader<UpgradeResult> {
        let accepted = AcceptedUpgrade()
        let services = self.services
        return NIOTypedWebSocketServerUpgrader<UpgradeResult>(
            maxFrameSize: configuration.maximumMessageSize,
            // The OCPP handler answers protocol errors itself (it writes its own frames).
            enableAutomaticErrorHandling: false,
            shouldUpgrade: { channel, head in
                let decision = self.decide(
                    uri: head.uri,
                    subprotocols: head.headers["Sec-WebSocket-Protocol"],
                    origins: head.headers["Origin"]
                )
                let chargePointID: ChargePointID
                let subprotocol: String?
                switch decision {
                case .refuse(let status, let reason):
                    services.metrics.connectionsRefused.increment()
                    services.faultLog.log(
                        services.logger,
                        level: .info,
                        source: String(head.uri.prefix(200)),
                        kind: "upgrade-refused",
                        "Refused a WebSocket upgrade",
                        metadata: ["uri": .charger(head.uri), "status": "\(status)", "reason": .charger(reason)]
                    )
                    refused(UpgradeRefusal(status: status, reason: reason))
                    return channel.eventLoop.makeSucceededFuture(nil)
                case .accept(let id, let offered, let offeredNone):
                    chargePointID = id
                    subprotocol = offered
                    if offeredNone {
                        services.logger.notice(
                            "Charger offered no WebSocket subprotocol; accepted as \(UpgradeDecision.subprotocol)",
                            metadata: ["charge_point_id": "\(id)"]
                        )
                    }
                }
                let transport = transport()
                let authorization = head.headers["Authorization"].first
                let remote = channel.remoteAddress.map { "\($0)" } ?? "?"
                let promise = channel.eventLoop.makePromise(of: HTTPHeaders?.self)
                promise.completeWithTask {
                    let outcome = await services.authenticate(
                        chargePointID: chargePointID,
                        transport: transport,
                        authorization: authorization,
                        remote: remote
                    )
                    switch outcome {
                    case .refused(let refusal):
                        refused(refusal)
                        return nil
                    case .accepted(let status):
                        accepted.value.withLock { $0 = (chargePointID, subprotocol, status) }
                        var headers = HTTPHeaders()
                        if let subprotocol { headers.add(name: "Sec-WebSocket-Protocol", value: subprotocol) }
                        return headers
                    }
                }
                return promise.futureResult
            },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    guard let (chargePointID, subprotocol, status) = accepted.value.withLock({ $0 }) else {
                        throw ChannelError.inappropriateOperationForState
                    }
                    try self.install(
                        on: channel,
                        chargePointID: chargePointID,
                        subprotocol: subprotocol,
                        registrationStatus: status
                    )
                    return upgraded
                }
            }
        )
    }

    private func install(
        on channel: any Channel,
        chargePointID: ChargePointID,
        subprotocol: String?,
        registrationStatus: String?
    ) throws {
        let session = ChargePointSession(
            chargePointID: chargePointID,
            channel: channel,
            subprotocol: subprotocol,
            registrationStatus: registrationStatus
        )
        // The OCPP handler reads the frames itself: it takes the frame decoder's place.
        let operations = channel.pipeline.syncOperations
        let decoder = try operations.context(handlerType: ByteToMessageHandler<WebSocketFrameDecoder>.self)
        try operations.addHandler(OCPPConnectionHandler(session: session, services: services))
        operations.removeHandler(context: decoder, promise: nil)
        services.metrics.connectionsOpened.increment()
        services.metrics.connectedChargers.increment()
        if let replaced = services.registry.register(session) {
            services.logger.notice(
                "A new connection replaces the charger's previous one",
                metadata: ["charge_point_id": "\(chargePointID)"]
            )
            replaced.close(code: .policyViolation, reason: "replaced by a new connection")
        }
        services.logger.info(
            "Charger connected",
            metadata: [
                "charge_point_id": "\(chargePointID)",
                "remote": "\(session.remoteAddress ?? "?")",
                "subprotocol": "\(subprotocol ?? "none")",
            ]
        )
    }

    // MARK: - Tests

    /// Holds the event writer before its next batch (backpressure tests).
    func pauseWriter() { services.events.pause() }

    /// Lets a held event writer go on.
    func resumeWriter() { services.events.resume() }
}

/// What `shouldUpgrade` accepted, for the pipeline setup that follows it: the charge point
/// id, the subprotocol and the charger's registration status.
private final class AcceptedUpgrade: Sendable {
    let value = Mutex<(ChargePointID, String?, String?)?>(nil)
}
