import HTTPTypes
import Hummingbird
public import HummingbirdCore
public import Ingest
public import Logging
public import NIOCore
import NIOHTTP1
public import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
import Synchronization

/// The server's child channel: HTTP/1.1 for the REST API, with the upgrade of
/// `/ocpp/{charge_point_id}` to an OCPP WebSocket on the same port.
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
        /// A refused upgrade request: answered with the status and reason, then closed.
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, status: Int, reason: String)
    }

    public struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<Negotiated>
        public let channel: any Channel
    }

    public let responder: HTTPChannelHandler.Responder
    private let ingest: OCPPIngest
    private let idleTimeout: Duration

    /// - Parameters:
    ///   - responder: The HTTP responder (the router).
    ///   - ingest: The OCPP front end.
    ///   - idleTimeout: How long an HTTP connection may stay idle between requests.
    public init(responder: @escaping HTTPChannelHandler.Responder, ingest: OCPPIngest, idleTimeout: Duration) {
        self.responder = responder
        self.ingest = ingest
        self.idleTimeout = idleTimeout
    }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let handshakeTimeout = HandshakeTimeoutHandler(
                timeout: .seconds(Int64(ingest.configuration.handshakeTimeout))
            )
            try channel.pipeline.syncOperations.addHandler(handshakeTimeout, name: Self.handshakeTimeoutName)
            let refusal = Mutex<(status: Int, reason: String)?>(nil)
            let upgrader = ingest.makeUpgrader(upgraded: Negotiated.ocpp) { status, reason in
                refusal.withLock { $0 = (status, reason) }
            }
            let idleTimeout = self.idleTimeout
            let configuration = NIOTypedHTTPServerUpgradeConfiguration<Negotiated>(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: idleTimeout, logger: logger))
                        channel.pipeline.removeHandler(name: Self.handshakeTimeoutName, promise: nil)
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true)
                        )
                        if let (status, reason) = refusal.withLock({ $0 }) {
                            return Negotiated.refused(asyncChannel, status: status, reason: reason)
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
            case .refused(let asyncChannel, let status, let reason):
                try await asyncChannel.executeThenClose { _, outbound in
                    let body = ByteBuffer(bytes: try APIJSONEncoder.bytes(Detail(detail: reason)))
                    let head = HTTPResponse(
                        status: HTTPResponse.Status(code: status),
                        headerFields: [
                            .connection: "close", .contentType: "application/json",
                            .contentLength: "\(body.readableBytes)",
                        ]
                    )
                    try await outbound.write(contentsOf: [.head(head), .body(body), .end(nil)])
                }
            }
        } catch {
            logger.debug("Connection ended before its first request", metadata: ["error": "\(error)"])
        }
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with the OCPP WebSocket upgrade.
    static func ocpp(_ ingest: OCPPIngest, idleTimeout: Duration = .seconds(60)) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            OCPPServerChannel(responder: responder, ingest: ingest, idleTimeout: idleTimeout)
        }
    }
}
