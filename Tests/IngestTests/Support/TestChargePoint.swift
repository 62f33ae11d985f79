import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization
import TestSupport

/// A WebSocket client that plays a charger in tests: real sockets, masked frames, and the
/// raw frames exposed so that tests can send what a faulty charger would.
final class TestChargePoint: Sendable {
    enum Event: Sendable, Equatable {
        case text(String)
        case close(code: UInt16?)
        case disconnected
    }

    struct UpgradeRefused: Error, CustomStringConvertible {
        var description: String { "the server did not upgrade the connection" }
    }

    struct TimedOut: Error, CustomStringConvertible {
        let what: String
        var description: String { "timed out waiting for \(what)" }
    }

    let channel: any Channel
    let subprotocol: String?
    private let inbox: Inbox

    private init(channel: any Channel, subprotocol: String?, inbox: Inbox) {
        self.channel = channel
        self.subprotocol = subprotocol
        self.inbox = inbox
    }

    /// Connects to `ws://127.0.0.1:port/ocpp/{id}`.
    static func connect(
        port: Int,
        path: String,
        subprotocols: [String] = ["ocpp1.6"],
        answerPings: Bool = true,
        maxFrameSize: Int = 1 << 24
    ) async throws -> TestChargePoint {
        let inbox = Inbox()
        let negotiated = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            // By address: a name would wait for a resolver thread, which a busy test process may not
            // give it before the connect timeout.
            .connectTimeout(.seconds(60))
            .connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: port)) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrader = NIOTypedWebSocketClientUpgrader<String??>(
                        maxFrameSize: maxFrameSize,
                        upgradePipelineHandler: { channel, response in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(
                                    FrameCollector(inbox: inbox, answerPings: answerPings)
                                )
                                return .some(response.headers["Sec-WebSocket-Protocol"].first)
                            }
                        }
                    )
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: "127.0.0.1:\(port)")
                    for subprotocol in subprotocols { headers.add(name: "Sec-WebSocket-Protocol", value: subprotocol) }
                    let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
                    let configuration = NIOTypedHTTPClientUpgradeConfiguration<String??>(
                        upgradeRequestHead: head,
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            channel.eventLoop.makeCompletedFuture { String??.none }
                        }
                    )
                    let future = try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                        configuration: .init(upgradeConfiguration: configuration)
                    )
                    return (channel, future)
                }
            }
        guard case .some(let subprotocol) = try await negotiated.1.get() else {
            try? await negotiated.0.close()
            throw UpgradeRefused()
        }
        return TestChargePoint(channel: negotiated.0, subprotocol: subprotocol, inbox: inbox)
    }

    /// Connects as charger `id` (percent-encoded by the caller when needed).
    static func connect(port: Int, id: String, answerPings: Bool = true) async throws -> TestChargePoint {
        try await connect(port: port, path: "/ocpp/\(id)", answerPings: answerPings)
    }

    /// Sends one frame, masked as a client's must be.
    func send(_ frame: WebSocketFrame) async throws {
        var frame = frame
        frame.maskKey = .random()
        try await channel.writeAndFlush(frame)
    }

    /// Sends one text message.
    func send(_ text: String) async throws {
        try await send(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: text)))
    }

    /// Sends `text` as one binary message, as some chargers' firmware sends OCPP-J.
    func sendBinary(_ text: String) async throws {
        try await send(WebSocketFrame(fin: true, opcode: .binary, data: ByteBuffer(string: text)))
    }

    /// The next event.
    ///
    /// The default wait is long: it only bounds how long a failing test waits, and the whole
    /// suite runs at once on two cores, where a frame can be seconds late.
    /// - Throws: ``TimedOut`` when none arrives within `timeout`.
    func next(timeout: Duration = .seconds(30)) async throws -> Event {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let event = inbox.take() { return event }
            guard ContinuousClock.now < deadline else { throw TimedOut(what: "a frame") }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// The reason the server's close frame gave, once one arrived.
    var closeReason: String? { inbox.closeReason }

    /// Whether an event is waiting.
    var hasEvent: Bool { inbox.count > 0 }

    /// The next text message.
    func nextText(timeout: Duration = .seconds(30)) async throws -> String {
        switch try await next(timeout: timeout) {
        case .text(let text): return text
        case let other: throw TestFailure("expected a text message, got \(other)")
        }
    }

    /// Sends a CALL and returns the parsed answer (CALLRESULT or CALLERROR).
    func call(
        _ uniqueID: String,
        _ action: String,
        _ payload: String,
        timeout: Duration = .seconds(30)
    ) async throws -> [Any] {
        try await send(#"[2,"\#(uniqueID)","\#(action)",\#(payload)]"#)
        return try parse(try await nextText(timeout: timeout))
    }

    /// Sends a close frame and closes the socket.
    func close() async {
        var data = ByteBuffer()
        data.write(webSocketErrorCode: .normalClosure)
        try? await send(WebSocketFrame(fin: true, opcode: .connectionClose, data: data))
        try? await channel.close()
    }
}

/// Events received and not yet taken, in order.
final class Inbox: Sendable {
    private let events = Mutex<[TestChargePoint.Event]>([])

    func put(_ event: TestChargePoint.Event) {
        events.withLock { $0.append(event) }
    }

    func take() -> TestChargePoint.Event? {
        events.withLock { events in events.isEmpty ? nil : events.removeFirst() }
    }

    var count: Int { events.withLock { $0.count } }

    private let reason = Mutex<String?>(nil)

    /// The reason of the close frame received, if one was.
    var closeReason: String? { reason.withLock { $0 } }

    func setCloseReason(_ text: String?) { reason.withLock { $0 = text } }
}

/// Turns incoming frames into events; answers pings unless told not to.
private final class FrameCollector: ChannelInboundHandler, Sendable {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let inbox: Inbox
    private let answerPings: Bool
    private let fragments = Mutex<ByteBuffer?>(nil)

    init(inbox: Inbox, answerPings: Bool) {
        self.inbox = inbox
        self.answerPings = answerPings
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            if frame.fin {
                inbox.put(.text(String(buffer: frame.unmaskedData)))
            } else {
                fragments.withLock { $0 = frame.unmaskedData }
            }
        case .continuation:
            var data = frame.unmaskedData
            let complete: ByteBuffer? = fragments.withLock { buffer in
                buffer?.writeBuffer(&data)
                defer { if frame.fin { buffer = nil } }
                return frame.fin ? buffer : nil
            }
            if let complete { inbox.put(.text(String(buffer: complete))) }
        case .ping:
            guard answerPings else { return }
            var pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            pong.maskKey = .random()
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            var data = frame.unmaskedData
            let code = data.readInteger(as: UInt16.self)
            inbox.setCloseReason(data.readString(length: data.readableBytes))
            inbox.put(.close(code: code))
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        inbox.put(.disconnected)
    }
}

/// Parses a JSON array frame.
func parse(_ text: String) throws -> [Any] {
    guard let array = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [Any] else {
        throw TestFailure("not a JSON array: \(text)")
    }
    return array
}

/// Parses a JSON object.
func object(_ value: Any) throws -> [String: Any] {
    guard let object = value as? [String: Any] else { throw TestFailure("not a JSON object: \(value)") }
    return object
}
