import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOWebSocket
import TestSupport

/// A charger for the security tests: connects over `ws://` or `wss://` (with or without a
/// client certificate), sends the upgrade request itself with any `Authorization` header,
/// and reports a refusal's status and headers, or, once upgraded, exchanges text messages.
final class SecureChargePoint {
    /// The TLS side of a client.
    struct TLS {
        /// The CA that issued the server's certificate (PEM file).
        var serverCA: String
        /// The client certificate and key (PEM files), if it presents one.
        var clientCertificate: (certificate: String, key: String)?
    }

    /// What the upgrade request came to.
    enum Outcome {
        case upgraded(SecureChargePoint)
        case refused(status: Int, headers: [String: String], body: String)
    }

    let channel: any Channel
    private var iterator: AsyncStream<TestChargePoint.Event>.Iterator

    private init(channel: any Channel, events: AsyncStream<TestChargePoint.Event>) {
        self.channel = channel
        iterator = events.makeAsyncIterator()
    }

    /// `Authorization: Basic base64(user:password)` with the password's bytes.
    static func basic(_ user: String, _ password: [UInt8]) -> String {
        "Basic " + Data(Array(user.utf8) + [UInt8(ascii: ":")] + password).base64EncodedString()
    }

    /// Connects and sends the upgrade request of `/ocpp/{id}` (or a plain GET of `path`).
    /// - Throws: When the TLS handshake fails or the server closes without an answer.
    static func connect(
        port: Int,
        id: String,
        tls: TLS? = nil,
        authorization: String? = nil,
        path: String? = nil
    ) async throws -> Outcome {
        let sslContext = try tls.map { tls in
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.trustRoots = .file(tls.serverCA)
            configuration.minimumTLSVersion = .tlsv12
            if let (certificate, key) = tls.clientCertificate {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            }
            return try NIOSSLContext(configuration: configuration)
        }
        let (events, continuation) = AsyncStream<TestChargePoint.Event>.makeStream()
        // Completed by the reader, or here when the connection never comes up: a promise
        // left pending would be a leak.
        let promise = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Response.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        if let sslContext {
                            try pipeline.addHandler(
                                NIOSSLClientHandler(context: sslContext, serverHostname: "localhost")
                            )
                        }
                        try pipeline.addHandler(UpgradeResponseReader(promise: promise, events: continuation))
                    }
                }
                .connectTimeout(.seconds(60))
                .connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: port)).get()
        } catch {
            promise.fail(error)
            continuation.finish()
            throw error
        }
        var request = "GET \(path ?? "/ocpp/\(id)") HTTP/1.1\r\nHost: localhost:\(port)\r\n"
        if path == nil {
            let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
            request += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            request += "Sec-WebSocket-Protocol: ocpp1.6\r\nSec-WebSocket-Key: \(key)\r\n"
        }
        if let authorization { request += "Authorization: \(authorization)\r\n" }
        request += "\r\n"
        let response: Response
        do {
            try await channel.writeAndFlush(ByteBuffer(string: request))
            response = try await promise.futureResult.get()
        } catch {
            try? await channel.close()
            throw error
        }
        if response.status == 101 {
            return .upgraded(SecureChargePoint(channel: channel, events: events))
        }
        try? await channel.close()
        return .refused(status: response.status, headers: response.headers, body: response.body)
    }

    /// Connects and expects the upgrade.
    static func upgraded(
        port: Int,
        id: String,
        tls: TLS? = nil,
        authorization: String? = nil
    ) async throws -> SecureChargePoint {
        switch try await connect(port: port, id: id, tls: tls, authorization: authorization) {
        case .upgraded(let charger): return charger
        case .refused(let status, _, let body): throw TestFailure("upgrade refused: \(status) \(body)")
        }
    }

    /// Sends one masked text frame.
    func send(_ text: String) async throws {
        var frame = WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: text))
        frame.maskKey = .random()
        try await channel.writeAndFlush(frame)
    }

    /// The next event, or a failure after `timeout`.
    func next(timeout: Duration = .seconds(30)) async throws -> TestChargePoint.Event {
        let channel = self.channel
        let timer = Task {
            try await Task.sleep(for: timeout)
            // Ends the stream's wait: the connection is useless to a test that timed out.
            try? await channel.close()
        }
        defer { timer.cancel() }
        let event = await iterator.next()
        guard let event else { throw TestFailure("no event within \(timeout)") }
        return event
    }

    /// Sends a CALL and returns the parsed answer.
    func call(_ uniqueID: String, _ action: String, _ payload: String) async throws -> [Any] {
        try await send(#"[2,"\#(uniqueID)","\#(action)",\#(payload)]"#)
        switch try await next() {
        case .text(let text): return try parse(text)
        case let other: throw TestFailure("expected a text message, got \(other)")
        }
    }

    /// Closes the socket.
    func close() async {
        try? await channel.close()
    }
}

/// The upgrade response: its status, headers (names lowercased) and body.
private struct Response {
    var status: Int
    var headers: [String: String]
    var body: String
}

/// Reads the HTTP answer to the upgrade request. On 101 it installs the WebSocket frame
/// codec and an event collector in its place; otherwise it reads the body and completes.
private final class UpgradeResponseReader: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let promise: EventLoopPromise<Response>
    private let events: AsyncStream<TestChargePoint.Event>.Continuation
    private var buffer = ByteBuffer()
    private var head: (status: Int, headers: [String: String])?
    private var answered = false

    init(promise: EventLoopPromise<Response>, events: AsyncStream<TestChargePoint.Event>.Continuation) {
        self.promise = promise
        self.events = events
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        buffer.writeBuffer(&bytes)
        if head == nil {
            let view = buffer.readableBytesView
            guard let end = view.firstRange(of: Array("\r\n\r\n".utf8)) else { return }
            let text = String(decoding: view[view.startIndex..<end.lowerBound], as: UTF8.self)
            buffer.moveReaderIndex(forwardBy: end.upperBound - view.startIndex)
            var lines = text.components(separatedBy: "\r\n")
            let statusLine = lines.removeFirst().split(separator: " ")
            let status = statusLine.count > 1 ? Int(statusLine[1]) ?? 0 : 0
            var headers: [String: String] = [:]
            for line in lines {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...]
                    .trimmingCharacters(in: .whitespaces)
            }
            head = (status, headers)
            if status == 101 {
                upgrade(context: context)
                return
            }
        }
        if let head, let length = head.headers["content-length"].flatMap(Int.init), buffer.readableBytes >= length {
            answered = true
            promise.succeed(
                Response(status: head.status, headers: head.headers, body: buffer.readString(length: length) ?? "")
            )
        }
    }

    private func upgrade(context: ChannelHandlerContext) {
        guard let head else { return }
        let rest = buffer
        buffer = ByteBuffer()
        do {
            let pipeline = context.pipeline.syncOperations
            try pipeline.addHandler(
                ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: 1 << 24)),
                position: .after(self)
            )
            try pipeline.addHandler(WebSocketFrameEncoder(), position: .last)
            try pipeline.addHandler(EventCollector(events: events), position: .last)
        } catch {
            answered = true
            promise.fail(error)
            return
        }
        answered = true
        promise.succeed(Response(status: head.status, headers: head.headers, body: ""))
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
        if rest.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(rest)) }
    }

    typealias InboundOut = ByteBuffer

    func channelInactive(context: ChannelHandlerContext) {
        if !answered {
            answered = true
            promise.fail(TestFailure("the server closed the connection before answering the upgrade request"))
        }
        events.yield(.disconnected)
        events.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !answered {
            answered = true
            promise.fail(error)
        }
        context.close(promise: nil)
    }
}

/// Turns frames into events and answers pings.
private final class EventCollector: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let events: AsyncStream<TestChargePoint.Event>.Continuation

    init(events: AsyncStream<TestChargePoint.Event>.Continuation) {
        self.events = events
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            events.yield(.text(String(buffer: frame.unmaskedData)))
        case .ping:
            var pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            pong.maskKey = .random()
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            var data = frame.unmaskedData
            events.yield(.close(code: data.readInteger(as: UInt16.self)))
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        events.yield(.disconnected)
        events.finish()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
