import HTTPTypes
import Hummingbird
public import HummingbirdCore
public import Ingest
public import Logging
public import NIOCore
import NIOHTTP1
public import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOSSL
import NIOWebSocket
import Synchronization

/// The server's child channel: HTTP/1.1 for the REST API, with the upgrade of
/// `/ocpp/{charge_point_id}` to an OCPP WebSocket on the same port; over TLS when it has a
/// ``TLSListener`` (`wss://` and HTTPS), whose current context each new connection takes.
///
/// An upgraded connection is handed to the ingest front end's channel handler and needs no
/// task of its own: ``handle(value:logger:)`` returns as soon as the upgrade is done. A
/// request the upgrader refuses goes on as plain HTTP, where the router explains why.
public struct OCPPServerChannel: ServerChildChannel, HTTPChannelHandler {
    /// What a new connection became.
    public enum Negotiated: Sendable {
        /// An OCPP WebSocket, now driven by its channel handler.
        case ocpp
        /// Plain HTTP.
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        /// A refused upgrade request: answered with the status and reason (and a 401's
        /// challenge), then closed.
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, UpgradeRefusal)
    }

    public struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<Negotiated>
        public let channel: any Channel
    }

    public let responder: HTTPChannelHandler.Responder
    private let ingest: OCPPIngest
    private let idleTimeout: Duration
    private let tls: TLSListener?

    /// - Parameters:
    ///   - responder: The HTTP responder (the router).
    ///   - ingest: The OCPP front end.
    ///   - idleTimeout: How long an HTTP connection may stay idle between requests.
    ///   - tls: The TLS context source, for a TLS listener.
    public init(
        responder: @escaping HTTPChannelHandler.Responder,
        ingest: OCPPIngest,
        idleTimeout: Duration,
        tls: TLSListener? = nil
    ) {
        self.responder = { request, writer, channel in
            try await responder(request, writer, channel)
            // A request that asked for an upgrade and was answered instead (see
            // UpgradeRequestMiddleware) ends the connection: the HTTP/1.1 decoder reads nothing
            // after it, so the next request would wait forever. Closing the input ends the
            // request loop; the answer is sent before the output closes.
            if request.headers[.upgrade] != nil {
                try? await channel.close(mode: .input)
            }
        }
        self.ingest = ingest
        self.idleTimeout = idleTimeout
        self.tls = tls
    }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let secure = tls != nil
            let handshakeTimeout = HandshakeTimeoutHandler(
                timeout: .seconds(Int64(ingest.configuration.handshakeTimeout))
            )
            if let tls {
                // The upgrade's time starts once the TLS handshake is over: in a reconnect storm
                // handshakes wait their turn for the CPU, and counting that wait would close
                // connections that are making progress (and their retries would add more).
                try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.context))
                try channel.pipeline.syncOperations.addHandler(
                    TLSHandshakeTimeoutHandler(
                        timeout: .seconds(Int64(TLSSettings.handshakeTimeout)),
                        then: handshakeTimeout,
                        named: Self.handshakeTimeoutName
                    )
                )
            } else {
                try channel.pipeline.syncOperations.addHandler(handshakeTimeout, name: Self.handshakeTimeoutName)
            }
            let refusal = Mutex<UpgradeRefusal?>(nil)
            let transport: @Sendable () -> ChargerTransport
            if secure {
                transport = { ClientCertificate.transport(of: channel) }
            } else {
                transport = { .plain }
            }
            let upgrader = ingest.makeUpgrader(
                upgraded: Negotiated.ocpp,
                transport: transport,
                refused: { refused in refusal.withLock { $0 = refused } }
            )
            let idleTimeout = self.idleTimeout
            let configuration = NIOTypedHTTPServerUpgradeConfiguration<Negotiated>(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: secure))
                        try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: idleTimeout, logger: logger))
                        channel.pipeline.removeHandler(name: Self.handshakeTimeoutName, promise: nil)
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true)
                        )
                        if let refused = refusal.withLock({ $0 }) {
                            return Negotiated.refused(asyncChannel, refused)
                        }
                        return Negotiated.http(asyncChannel)
                    }
                }
            )
            var pipelineConfiguration = NIOUpgradableHTTPServerPipelineConfiguration(
                upgradeConfiguration: configuration
            )
            pipelineConfiguration.enablePipelining = false
            pipelineConfiguration.enableErrorHandling = false
            pipelineConfiguration.enableResponseHeaderValidation = false
            let negotiated = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
                configuration: pipelineConfiguration
            ).map { negotiated -> Negotiated in
                if case .ocpp = negotiated {
                    channel.pipeline.removeHandler(name: Self.handshakeTimeoutName, promise: nil)
                }
                return negotiated
            }
            return Value(negotiated: negotiated, channel: channel)
        }
    }

    private static let handshakeTimeoutName = "ocpp-handshake-timeout"

    public func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.negotiated.get() {
            case .ocpp:
                return
            case .http(let asyncChannel):
                await handleHTTP(asyncChannel: asyncChannel, logger: logger)
            case .refused(let asyncChannel, let refusal):
                try await asyncChannel.executeThenClose { _, outbound in
                    let body = ByteBuffer(bytes: try APIJSONEncoder.bytes(Detail(detail: refusal.reason)))
                    var fields: HTTPFields = [
                        .connection: "close", .contentType: "application/json",
                        .contentLength: "\(body.readableBytes)",
                    ]
                    if let challenge = refusal.authenticate { fields[.wwwAuthenticate] = challenge }
                    let head = HTTPResponse(status: HTTPResponse.Status(code: refusal.status), headerFields: fields)
                    try await outbound.write(contentsOf: [.head(head), .body(body), .end(nil)])
                }
            }
        } catch {
            logger.debug("Connection ended before its first request", metadata: ["error": "\(error)"])
        }
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with the OCPP WebSocket upgrade, over TLS when `tls` is given.
    static func ocpp(
        _ ingest: OCPPIngest,
        tls: TLSListener? = nil,
        idleTimeout: Duration = .seconds(60)
    ) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            OCPPServerChannel(responder: responder, ingest: ingest, idleTimeout: idleTimeout, tls: tls)
        }
    }
}
