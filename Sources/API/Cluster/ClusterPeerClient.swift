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
    /// No connection could be made, or it broke before the answer was complete.
    case unreachable(String)
    /// No complete answer within the time allowed.
    case timedOut
    /// The answer was not usable HTTP (or too large).
    case invalidAnswer(String)
}

/// A small HTTP/1.1 client for node-to-node calls: one connection per call, closed after
/// the answer, with one deadline over connecting, sending and reading.
///
/// Built on SwiftNIO's HTTP codec directly: the calls are few and simple (a POST with a JSON
/// body, or a GET), and the package already depends on it.
struct ClusterPeerClient: Sendable {
    /// The largest answer read from a peer.
    static let maximumAnswerSize = 4 << 20

    let group: any EventLoopGroup

    init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.group = group
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
        let loop = group.next()
        let promise = loop.makePromise(of: PeerAnswer.self)
        let deadline = loop.scheduleTask(in: timeout) { promise.fail(PeerCallError.timedOut) }
        promise.futureResult.whenComplete { _ in deadline.cancel() }
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(
                        PeerAnswerHandler(promise: promise, maximumAnswerSize: maximumAnswerSize)
                    )
                }
            }
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: base.basePath + path)
        head.headers.add(name: "Host", value: base.hostHeader)
        if let body {
            head.headers.add(name: "Content-Type", value: "application/json")
            head.headers.add(name: "Content-Length", value: "\(body.count)")
        }
        head.headers.add(name: "Connection", value: "close")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        let requestHead = head
        bootstrap.connect(host: base.host, port: base.port).whenComplete { result in
            switch result {
            case .failure(let error):
                promise.fail(PeerCallError.unreachable("\(error)"))
            case .success(let channel):
                promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
                channel.write(HTTPClientRequestPart.head(requestHead), promise: nil)
                if let body {
                    channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
                }
                channel.writeAndFlush(HTTPClientRequestPart.end(nil)).whenFailure { error in
                    promise.fail(PeerCallError.unreachable("\(error)"))
                }
            }
        }
        do {
            return try await promise.futureResult.get()
        } catch let error as PeerCallError {
            throw error
        } catch {
            throw .unreachable("\(error)")
        }
    }
}

/// Reads one HTTP response into the call's promise.
private final class PeerAnswerHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let promise: EventLoopPromise<PeerAnswer>
    private let maximumAnswerSize: Int
    private var answer: PeerAnswer?

    init(promise: EventLoopPromise<PeerAnswer>, maximumAnswerSize: Int = ClusterPeerClient.maximumAnswerSize) {
        self.promise = promise
        self.maximumAnswerSize = maximumAnswerSize
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            answer = PeerAnswer(
                status: Int(head.status.code),
                contentType: head.headers.first(name: "Content-Type"),
                body: []
            )
        case .body(let buffer):
            guard var answer else { return }
            guard answer.body.count + buffer.readableBytes <= maximumAnswerSize else {
                promise.fail(PeerCallError.invalidAnswer("the answer exceeds \(maximumAnswerSize) bytes"))
                context.close(promise: nil)
                return
            }
            self.answer = nil
            answer.body += buffer.readableBytesView
            self.answer = answer
        case .end:
            if let answer { promise.succeed(answer) }
            answer = nil
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(PeerCallError.unreachable("the peer closed the connection before answering"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(PeerCallError.invalidAnswer("\(error)"))
        context.close(promise: nil)
    }
}
