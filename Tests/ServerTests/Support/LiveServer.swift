import Hummingbird
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOPosix
import ServiceLifecycle
import TestSupport

/// An answer of the server under test.
struct LiveResponse: Sendable {
    let head: HTTPResponse
    let body: ByteBuffer
    var status: HTTPResponse.Status { head.status }
    var headers: HTTPFields { head.headerFields }
}

/// A client of a server started by `ApplicationProtocol.testLive`: every request on a new
/// connection to 127.0.0.1 by address.
///
/// Hummingbird's own live test client connects to `localhost` with a 5 s connect timeout, and
/// the name is resolved on a dispatch queue first: on a busy machine of 2 cores, with hundreds of
/// tests at once, that connect has timed out. An address needs no resolver, and a request here
/// has a minute to finish.
struct LiveClient: Sendable {
    let port: Int?
    static let timeout = TimeAmount.seconds(60)

    @discardableResult
    func execute<Return>(
        uri: String,
        method: HTTPRequest.Method,
        headers: HTTPFields = [:],
        body: ByteBuffer? = nil,
        testCallback: @escaping (LiveResponse) async throws -> Return = { $0 }
    ) async throws -> Return {
        try await testCallback(executeRequest(uri: uri, method: method, headers: headers, body: body))
    }

    func executeRequest(
        uri: String,
        method: HTTPRequest.Method,
        headers: HTTPFields,
        body: ByteBuffer?
    ) async throws -> LiveResponse {
        guard let port else { throw TestFailure("the server under test has no port") }
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(Self.timeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: port)) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPClientCodec())
                    return try NIOAsyncChannel<HTTPResponsePart, HTTPRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        var request = HTTPRequest(method: method, scheme: nil, authority: "127.0.0.1:\(port)", path: uri)
        request.headerFields = headers
        if let body, request.headerFields[.contentLength] == nil {
            request.headerFields[.contentLength] = String(body.readableBytes)
        }
        let deadline = channel.channel.eventLoop.scheduleTask(in: Self.timeout) { [channel] in
            channel.channel.close(promise: nil)
        }
        defer { deadline.cancel() }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(.head(request))
            if let body { try await outbound.write(.body(body)) }
            try await outbound.write(.end(nil))
            var head: HTTPResponse?
            var collected = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let received) where received.status.kind == .informational:
                    continue
                case .head(let received):
                    head = received
                case .body(var chunk):
                    collected.writeBuffer(&chunk)
                case .end:
                    guard let head else { throw TestFailure("the response ended before its head") }
                    return LiveResponse(head: head, body: collected)
                }
            }
            throw TestFailure("the connection closed before the response ended")
        }
    }
}

extension ApplicationProtocol {
    /// Runs the application on 127.0.0.1, on a port the kernel picks, and `test` against it;
    /// then shuts the application down.
    func testLive<Value: Sendable>(_ test: @Sendable (LiveClient) async throws -> Value) async throws -> Value {
        let application = LiveApplication(base: self)
        let serviceGroup = ServiceGroup(
            configuration: .init(services: [application], gracefulShutdownSignals: [], logger: logger)
        )
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // A server that ends before listening (a bind error) must not leave the test waiting.
                defer { application.port.complete(nil) }
                try await serviceGroup.run()
            }
            let port = try await application.port.wait()
            do {
                let value = try await test(LiveClient(port: port))
                await serviceGroup.triggerGracefulShutdown()
                try await group.waitForAll()
                return value
            } catch {
                await serviceGroup.triggerGracefulShutdown()
                try? await group.waitForAll()
                throw error
            }
        }
    }
}

/// `base`, bound to 127.0.0.1 on a port the kernel picks, which it reports once listening.
private struct LiveApplication<Base: ApplicationProtocol>: ApplicationProtocol, Service {
    typealias Responder = Base.Responder
    let base: Base
    let port = PortPromise()

    var responder: Responder { get async throws { try await base.responder } }
    var server: HTTPServerBuilder { base.server }
    var eventLoopGroup: any EventLoopGroup { base.eventLoopGroup }
    var configuration: ApplicationConfiguration {
        var configuration = base.configuration
        configuration.address = .hostname("127.0.0.1", port: 0)
        return configuration
    }
    var logger: Logger { base.logger }
    var services: [any Service] { base.services }
    var processesRunBeforeServerStart: [@Sendable () async throws -> Void] { base.processesRunBeforeServerStart }

    @Sendable func onServerRunning(_ channel: any Channel) async {
        await base.onServerRunning(channel)
        port.complete(channel.localAddress?.port)
    }
}

/// The listening port, once known; waiters before that are resumed when it is.
private final class PortPromise: Sendable {
    private let state = NIOLockedValueBox<(port: Int??, waiting: [CheckedContinuation<Int?, Never>])>((nil, []))

    /// Sets the port (nil: the server ended without one) unless it is already set.
    func complete(_ port: Int?) {
        let waiting = state.withLockedValue { state -> [CheckedContinuation<Int?, Never>] in
            if state.port != nil { return [] }
            state.port = .some(port)
            defer { state.waiting = [] }
            return state.waiting
        }
        for continuation in waiting { continuation.resume(returning: port) }
    }

    func wait() async throws -> Int {
        let port = await withCheckedContinuation { (continuation: CheckedContinuation<Int?, Never>) in
            let known: Int?? = state.withLockedValue { state in
                if state.port == nil { state.waiting.append(continuation) }
                return state.port
            }
            if let known { continuation.resume(returning: known) }
        }
        guard let port else { throw TestFailure("the server under test reported no port") }
        return port
    }
}
