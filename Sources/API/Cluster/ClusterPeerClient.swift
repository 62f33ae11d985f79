import Ingest
import NIOCore
import NIOHTTP1
import NIOPosix

/// What a peer answered: its status, content type and body, relayed as they are.
struct PeerAnswer: Sendable {
    var status: Int
    var contentType: String?
    var body: [UInt8]
}

/// Why a call to a peer got no answer.
enum PeerCallError: Error, Sendable {
    /// No connection could be made: nothing was sent.
    case cannotConnect(String)
    /// The connection broke before the answer was complete.
    case unreachable(String)
    /// No complete answer within the time allowed.
    case timedOut
    /// The answer was not usable HTTP (or too large).
    case invalidAnswer(String)
}

/// A small HTTP/1.1 client for node-to-node calls, with one deadline over connecting,
/// sending and reading.
///
/// Connections are kept alive between calls (``PeerConnectionPool``): a forwarded command
/// then costs no TCP handshake. A kept connection that turns out closed before any byte of
/// the answer arrived is replaced by a new one and the call sent again (see
/// ``PeerConnectionPool`` for why that cannot run a command twice).
///
/// Built on SwiftNIO's HTTP codec directly: the calls are few and simple (a POST with a JSON
/// body, or a GET), and the package already depends on it.
struct ClusterPeerClient: Sendable {
    /// The largest answer read from a peer.
    static let maximumAnswerSize = 4 << 20

    let group: any EventLoopGroup
    let pool: PeerConnectionPool

    init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.group = group
        pool = PeerConnectionPool()
    }

    /// POSTs `body` (JSON) to `path` under `base`, with `headers`.
    /// - Throws: ``PeerCallError``.
    func post(
        _ base: ClusterNodeURL,
        path: String,
        headers: [(String, String)],
        body: [UInt8],
        timeout: TimeAmount
    ) async throws(PeerCallError) -> PeerAnswer {
        try await call(.POST, base, path: path, headers: headers, body: body, timeout: timeout)
    }

    /// GETs `path` (with its query) under `base`, with `headers`, reading at most
    /// `maximumAnswerSize` bytes of answer.
    /// - Throws: ``PeerCallError``.
    func get(
        _ base: ClusterNodeURL,
        path: String,
        headers: [(String, String)],
        timeout: TimeAmount,
        maximumAnswerSize: Int = Self.maximumAnswerSize
    ) async throws(PeerCallError) -> PeerAnswer {
        try await call(
            .GET,
            base,
            path: path,
            headers: headers,
            body: nil,
            timeout: timeout,
            maximumAnswerSize: maximumAnswerSize
        )
    }

    private func call(
        _ method: HTTPMethod,
        _ base: ClusterNodeURL,
        path: String,
        headers: [(String, String)],
        body: [UInt8]?,
        timeout: TimeAmount,
        maximumAnswerSize: Int = Self.maximumAnswerSize
    ) async throws(PeerCallError) -> PeerAnswer {
        let deadline = NIODeadline.now() + timeout
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: base.basePath + path)
        head.headers.add(name: "Host", value: base.hostHeader)
        if let body {
            head.headers.add(name: "Content-Type", value: "application/json")
            head.headers.add(name: "Content-Length", value: "\(body.count)")
        }
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        let request = PeerRequest(head: head, body: body.map { ByteBuffer(bytes: $0) }, limit: maximumAnswerSize)
        let peer = PeerConnectionPool.Peer(host: base.host, port: base.port)
        if let kept = pool.take(peer) {
            switch await exchange(request, on: kept, peer: peer, deadline: deadline) {
            case .answered(let answer): return answer
            case .failed(let error): throw error
            case .closedBeforeAnswer: break  // Closed while idle: a new connection below.
            }
        }
        let connection = try await connect(peer, deadline: deadline)
        switch await exchange(request, on: connection, peer: peer, deadline: deadline) {
        case .answered(let answer): return answer
        case .failed(let error): throw error
        case .closedBeforeAnswer: throw .unreachable("the peer closed the connection before answering")
        }
    }

    /// A new connection to `peer`, its handlers added.
    private func connect(
        _ peer: PeerConnectionPool.Peer,
        deadline: NIODeadline
    ) async throws(PeerCallError)
        -> PeerConnection
    {
        let loop = group.next()
        let remaining = deadline - .now()
        guard remaining > .zero else { throw .timedOut }
        do {
            return try await ClientBootstrap(group: loop)
                .connectTimeout(remaining)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(PeerAnswerHandler())
                    }
                }
                .connect(host: peer.host, port: peer.port)
                .flatMapThrowing { channel in
                    PeerConnection(
                        channel: channel,
                        handler: NIOLoopBound(
                            try channel.pipeline.syncOperations.handler(type: PeerAnswerHandler.self),
                            eventLoop: channel.eventLoop
                        )
                    )
                }
                .get()
        } catch ChannelError.connectTimeout(_) {
            throw .timedOut
        } catch {
            throw .cannotConnect("\(error)")
        }
    }

    /// How one request on one connection ended.
    private enum Exchange {
        case answered(PeerAnswer)
        case failed(PeerCallError)
        /// The connection closed (or the request could not be written) before any byte of the
        /// answer arrived.
        case closedBeforeAnswer
    }

    /// Sends `request` on `connection` and reads its answer; the connection goes back to the
    /// pool when the answer leaves it usable, and is closed otherwise.
    private func exchange(
        _ request: PeerRequest,
        on connection: PeerConnection,
        peer: PeerConnectionPool.Peer,
        deadline: NIODeadline
    ) async -> Exchange {
        let channel = connection.channel
        let loop = channel.eventLoop
        let promise = loop.makePromise(of: PeerExchangeResult.self)
        loop.execute {
            let handler = connection.handler.value
            handler.begin(promise, limit: request.limit)
            let timer = loop.scheduleTask(deadline: deadline) {
                promise.succeed(.failed(.timedOut))
            }
            promise.futureResult.whenComplete { _ in timer.cancel() }
            channel.write(HTTPClientRequestPart.head(request.head), promise: nil)
            if let body = request.body {
                channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil)
            }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil)).whenFailure { _ in
                connection.handler.value.writeFailed()
            }
        }
        let result: PeerExchangeResult
        do {
            result = try await promise.futureResult.get()
        } catch {
            result = .failed(.unreachable("\(error)"))
        }
        switch result {
        case .answered(let answer, let keepAlive):
            if keepAlive {
                pool.give(connection, to: peer)
            } else {
                channel.close(promise: nil)
            }
            return .answered(answer)
        case .failed(let error):
            channel.close(promise: nil)
            return .failed(error)
        case .closedBeforeAnswer:
            channel.close(promise: nil)
            return .closedBeforeAnswer
        }
    }
}

/// One request to a peer, ready to write.
private struct PeerRequest: Sendable {
    var head: HTTPRequestHead
    var body: ByteBuffer?
    /// The largest answer accepted.
    var limit: Int
}

/// A connection to a peer with its answer reader.
struct PeerConnection: Sendable {
    let channel: any Channel
    fileprivate let handler: NIOLoopBound<PeerAnswerHandler>
}

/// How a request's exchange ended, as the connection's handler saw it.
private enum PeerExchangeResult: Sendable {
    /// A whole answer; `keepAlive` when the connection may carry another request.
    case answered(PeerAnswer, keepAlive: Bool)
    case failed(PeerCallError)
    case closedBeforeAnswer
}

/// Reads each HTTP response into the promise of the request in flight.
private final class PeerAnswerHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private var promise: EventLoopPromise<PeerExchangeResult>?
    private var limit = ClusterPeerClient.maximumAnswerSize
    private var answer: PeerAnswer?
    private var keepAlive = false

    /// Starts a request: its answer completes `promise`.
    func begin(_ promise: EventLoopPromise<PeerExchangeResult>, limit: Int) {
        self.promise = promise
        self.limit = limit
        answer = nil
    }

    /// The request could not be written: nothing of it reached the peer's handler.
    func writeFailed() {
        finish(answer == nil ? .closedBeforeAnswer : .failed(.unreachable("the connection broke while sending")))
    }

    private func finish(_ result: PeerExchangeResult) {
        let promise = self.promise
        self.promise = nil
        answer = nil
        promise?.succeed(result)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
            answer = PeerAnswer(
                status: Int(head.status.code),
                contentType: head.headers.first(name: "Content-Type"),
                body: []
            )
        case .body(let buffer):
            guard var answer else { return }
            guard answer.body.count + buffer.readableBytes <= limit else {
                finish(.failed(.invalidAnswer("the answer exceeds \(limit) bytes")))
                context.close(promise: nil)
                return
            }
            self.answer = nil
            answer.body += buffer.readableBytesView
            self.answer = answer
        case .end:
            if let answer { finish(.answered(answer, keepAlive: keepAlive)) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(
            answer == nil
                ? .closedBeforeAnswer : .failed(.unreachable("the peer closed the connection while answering"))
        )
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failed(.invalidAnswer("\(error)")))
        context.close(promise: nil)
    }
}
