import Foundation
import Logging
import MetricsTestKit
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Protocol
import Relational
import Synchronization
import Testing
import TimeSeries

@testable import Ingest

/// The connection handler on an embedded channel: no sockets, and the event loop's virtual
/// time drives pings and call timeouts.
@Suite("Connection handler")
struct ConnectionHandlerTests {
    /// Counts the reads that pass the OCPP handler toward the socket.
    final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = NIOAny
        var reads = 0

        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    /// The stores and services one test's handlers run with.
    final class Stores {
        let directory: URL
        let timeSeries: TimeSeriesStore
        let relational: RelationalStore
        let services: IngestServices
        let metrics = TestMetrics()

        init(_ configuration: IngestConfiguration) async throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("ocpp-handler-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            timeSeries = try TimeSeriesStore(directory: directory.appendingPathComponent("data").path)
            relational = try await RelationalStore(url: .sqlite(.memory), logger: IngestTestServer.logger)
            _ = try await relational.migrate()
            let base = OCPPIngest(
                configuration: configuration,
                timeSeries: timeSeries,
                relational: relational,
                logger: IngestTestServer.logger
            ).services
            services = IngestServices(
                configuration: base.configuration,
                relational: base.relational,
                events: base.events,
                coalescer: base.coalescer,
                authorizations: base.authorizations,
                registry: base.registry,
                metrics: IngestMetrics(factory: metrics),
                logger: base.logger
            )
        }

        func close() async {
            timeSeries.close()
            await relational.shutdown()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// One charger's connection: the frame encoder and the OCPP handler on an embedded channel.
    struct Connection {
        let channel: EmbeddedChannel
        let handler: OCPPConnectionHandler
        let reads: ReadCounter

        init(_ stores: Stores) throws {
            channel = EmbeddedChannel()
            reads = ReadCounter()
            let session = ChargePointSession(
                chargePointID: try ChargePointID("CP-EMBEDDED"),
                channel: channel,
                subprotocol: "ocpp1.6",
                registrationStatus: "Accepted"
            )
            handler = OCPPConnectionHandler(session: session, services: stores.services)
            try channel.pipeline.syncOperations.addHandler(reads)
            try channel.pipeline.syncOperations.addHandler(WebSocketFrameEncoder())
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        }

        /// Sends a client's frame, masked.
        func send(_ opcode: WebSocketOpcode, _ bytes: [UInt8], fin: Bool = true, masked: Bool = true) throws {
            try channel.writeInbound(
                WebSocketStateMachineTests.frame(opcode, bytes, fin: fin, masked: masked)
            )
            channel.embeddedEventLoop.run()
        }

        func send(_ text: String) throws {
            try send(.text, Array(text.utf8))
        }

        /// The frames the server wrote since the last call.
        func received() throws -> [(opcode: WebSocketOpcode, payload: [UInt8])] {
            channel.embeddedEventLoop.run()
            var bytes = ByteBuffer()
            while var part = try channel.readOutbound(as: ByteBuffer.self) { bytes.writeBuffer(&part) }
            var frames: [(WebSocketOpcode, [UInt8])] = []
            while case .frame(let frame) = WebSocketFrameReader.next(&bytes, maximumSize: 1 << 20) {
                #expect(frame.mask == nil)
                frames.append((frame.opcode, Array(buffer: frame.payload)))
            }
            #expect(bytes.readableBytes == 0)
            return frames
        }

        /// The texts the server wrote since the last call.
        func texts() throws -> [String] {
            try received().map { frame -> String in
                #expect(frame.opcode == .text)
                return String(decoding: frame.payload, as: UTF8.self)
            }
        }

        /// The close code of the server's close frame, the last frame it wrote.
        func closeCode() throws -> UInt16? {
            guard let last = try received().last, last.opcode == .connectionClose else { return nil }
            return ByteBuffer(bytes: last.payload).getInteger(at: 0, as: UInt16.self)
        }

        var isOpen: Bool {
            channel.embeddedEventLoop.run()
            return channel.isActive
        }
    }

    /// Runs `body` with fresh stores; the embedded channels live on the calling thread only.
    static func withStores(
        _ configuration: IngestConfiguration = IngestConfiguration(),
        _ body: (Stores) throws -> Void
    ) async throws {
        let stores = try await Stores(configuration)
        do {
            try body(stores)
        } catch {
            await stores.close()
            throw error
        }
        await stores.close()
    }

    @Test("Requests are answered; a close frame is echoed and the channel closed")
    func answersAndCloseEcho() async throws {
        try await Self.withStores { stores in
            let connection = try Connection(stores)
            try connection.send(#"[2,"h1","Heartbeat",{}]"#)
            let answer = try connection.texts()
            #expect(answer.count == 1)
            #expect(answer.first?.hasPrefix(#"[3,"h1",{"currentTime":"#) == true)
            try connection.send(.connectionClose, [0x03, 0xE8])
            #expect(try connection.closeCode() == 1000)
            #expect(!connection.isOpen)
        }
    }

    @Test("Every close code: 1002, 1003, 1007, 1008, 1009, and 1001 on shutdown")
    func closeCodes() async throws {
        try await Self.withStores(IngestConfiguration(maximumMessageSize: 1000)) { stores in
            let cases: [(String, (Connection) throws -> Void, UInt16)] = [
                ("unmasked", { try $0.send(.text, Array(#"[2,"a","Heartbeat",{}]"#.utf8), masked: false) }, 1002),
                ("long ping", { try $0.send(.ping, Array(repeating: 0, count: 126)) }, 1002),
                ("bad close code", { try $0.send(.connectionClose, [0x03, 0xED]) }, 1002),
                ("binary, not text", { try $0.send(.binary, [0x00, 0xFF, 0x10]) }, 1003),
                ("invalid UTF-8", { try $0.send(.text, [0x5B, 0x22, 0xC3, 0x28, 0x22, 0x5D]) }, 1007),
                ("too large", { try $0.send(String(repeating: "y", count: 1001)) }, 1009),
                (
                    "replaced",
                    { $0.handler.close(code: .policyViolation, reason: "replaced by a new connection") },
                    1008
                ),
                (
                    "shutdown",
                    { $0.channel.pipeline.syncOperations.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) },
                    1001
                ),
            ]
            for (name, act, code) in cases {
                let connection = try Connection(stores)
                try act(connection)
                #expect(try connection.closeCode() == code, "\(name)")
                #expect(!connection.isOpen, "\(name)")
            }
        }
    }

    @Test("A binary message of OCPP-J text is answered as text and counted")
    func binaryMessages() async throws {
        try await Self.withStores { stores in
            let connection = try Connection(stores)
            try connection.send(.binary, Array(#"[2,"b1","Heartbeat",{}]"#.utf8))
            let answer = try connection.texts()
            #expect(answer.first?.hasPrefix(#"[3,"b1","#) == true)
            #expect(connection.isOpen)
            let counter = try stores.metrics.expectCounter("ocpp_binary_messages_total")
            #expect(counter.totalValue == 1)
            try connection.send(#"[2,"t1","Heartbeat",{}]"#)
            #expect(try connection.texts().count == 1)
            #expect(counter.totalValue == 1)
        }
    }

    @Test(
        "A group commit's answers are written and flushed in one pass: one write per connection, in order, no task left"
    )
    func groupCommitAnswers() async throws {
        try await Self.withStores { stores in
            let first = try Connection(stores)
            let second = try Connection(stores)
            func completion(
                _ connection: Connection,
                _ acknowledgement: Acknowledgement,
                _ result: Result<Void, any Error> = .success(())
            ) -> EventWriter.LoopCompletion {
                connection.handler.inFlight += 1
                return EventWriter.LoopCompletion(
                    handler: NIOLoopBound(connection.handler, eventLoop: connection.channel.eventLoop),
                    acknowledgement: acknowledgement,
                    result: result
                )
            }
            struct Failed: Error {}
            let completions = [
                completion(first, .empty(uniqueID: "a1")),
                completion(second, .empty(uniqueID: "b1")),
                completion(first, .frame(uniqueID: "a2", Array(#"[3,"a2",{"status":"Accepted"}]"#.utf8))),
                completion(second, .empty(uniqueID: "b2"), .failure(Failed())),
                completion(first, .empty(uniqueID: "a3")),
            ]
            OCPPConnectionHandler.acknowledge(completions)
            // Written by the pass itself: the loop has not run, so a task queued for a flush
            // would not have run yet.
            for (connection, expected) in [(first, ["a1", "a2", "a3"]), (second, ["b1", "b2"])] {
                let written = try connection.channel.readOutbound(as: ByteBuffer.self)
                #expect(try connection.channel.readOutbound(as: ByteBuffer.self) == nil)
                var bytes = try #require(written)
                var ids: [String] = []
                while case .frame(let frame) = WebSocketFrameReader.next(&bytes, maximumSize: 1 << 20) {
                    let text = String(decoding: frame.payload.readableBytesView, as: UTF8.self)
                    ids.append(String(text.split(separator: "\"")[1]))
                    if text.contains("b2") { #expect(text.hasPrefix(#"[4,"b2","InternalError","#)) }
                }
                #expect(ids == expected)
                #expect(connection.handler.inFlight == 0)
                #expect(!connection.handler.flushDeferred && !connection.handler.flushScheduled)
            }
            // Outside such a pass an answer is still flushed after its burst.
            try first.send(#"[2,"h1","Heartbeat",{}]"#)
            #expect(try first.texts().count == 1)
        }
    }

    @Test("Pings in virtual time: a charger that answers stays; one that never does is dropped at the limit")
    func liveness() async throws {
        try await Self.withStores(IngestConfiguration(pingInterval: 60, missedPongLimit: 3)) { stores in
            let healthy = try Connection(stores)
            let silent = try Connection(stores)
            for minute in 1...10 {
                healthy.channel.embeddedEventLoop.advanceTime(by: .seconds(60))
                silent.channel.embeddedEventLoop.advanceTime(by: .seconds(60))
                let pings = try healthy.received()
                #expect(pings.map(\.opcode) == [.ping], "minute \(minute)")
                try healthy.send(.pong, [])
                if minute <= 3 {
                    #expect(try silent.received().map(\.opcode) == [.ping], "minute \(minute)")
                    #expect(silent.isOpen, "minute \(minute)")
                } else {
                    // Dropped without a close frame at the fourth tick: three pings went unanswered.
                    #expect(try silent.received().isEmpty, "minute \(minute)")
                    #expect(!silent.isOpen, "minute \(minute)")
                }
                #expect(healthy.isOpen, "minute \(minute)")
            }
            // Just before a tick, nothing is sent.
            healthy.channel.embeddedEventLoop.advanceTime(by: .seconds(59))
            #expect(try healthy.received().isEmpty)
        }
    }

    /// The outcomes of calls, in the order they completed.
    final class Outcomes: Sendable {
        enum Outcome: Equatable {
            case confirmed(String, payload: String)
            case failed(String, ChargePointCallError)
        }

        private let list = Mutex<[Outcome]>([])

        var all: [Outcome] { list.withLock { $0 } }

        func watch(_ name: String, _ future: EventLoopFuture<OCPPRawPayload>) {
            future.whenComplete { result in
                let outcome: Outcome
                switch result {
                case .success(let payload):
                    outcome = .confirmed(name, payload: String(decoding: payload.bytes, as: UTF8.self))
                case .failure(let error):
                    outcome = .failed(name, error as? ChargePointCallError ?? .connectionClosed)
                }
                self.list.withLock { $0.append(outcome) }
            }
        }
    }

    @Test("Calls time out in virtual time, exactly at the call timeout; the next call goes out then")
    func callTimeouts() async throws {
        try await Self.withStores(IngestConfiguration(callTimeout: 30)) { stores in
            let connection = try Connection(stores)
            let loop = connection.channel.embeddedEventLoop
            let outcomes = Outcomes()
            let first = loop.makePromise(of: OCPPRawPayload.self)
            let second = loop.makePromise(of: OCPPRawPayload.self)
            let third = loop.makePromise(of: OCPPRawPayload.self)
            outcomes.watch("first", first.futureResult)
            outcomes.watch("second", second.futureResult)
            outcomes.watch("third", third.futureResult)
            connection.handler.startCall(ClearCacheRequest(), promise: first)
            connection.handler.startCall(ResetRequest(type: .soft), promise: second)
            connection.handler.startCall(ClearCacheRequest(), promise: third)
            let sent = try connection.texts()
            #expect(sent.count == 1)
            #expect(sent.first?.contains(#""ClearCache""#) == true)

            loop.advanceTime(by: .seconds(30) - .nanoseconds(1))
            #expect(outcomes.all.isEmpty)
            loop.advanceTime(by: .nanoseconds(1))
            #expect(outcomes.all == [.failed("first", .timedOut)])
            let next = try connection.texts()
            #expect(next.count == 1)
            #expect(next.first?.contains(#""Reset""#) == true)

            // Answered in time: confirmed, and its timer does not fire later.
            let uniqueID = try #require(next.first?.split(separator: "\"").dropFirst().first)
            loop.advanceTime(by: .seconds(29))
            try connection.send(#"[3,"\#(uniqueID)",{"status":"Accepted"}]"#)
            #expect(outcomes.all.last == .confirmed("second", payload: #"{"status":"Accepted"}"#))
            #expect(try connection.texts().count == 1)
            loop.advanceTime(by: .seconds(29))
            #expect(outcomes.all.count == 2)
            // The third's own 30 seconds run from when it was sent.
            loop.advanceTime(by: .seconds(1))
            #expect(outcomes.all.last == .failed("third", .timedOut))
            #expect(connection.isOpen)
            // Closing fails what is outstanding.
            let fourth = loop.makePromise(of: OCPPRawPayload.self)
            outcomes.watch("fourth", fourth.futureResult)
            connection.handler.startCall(ClearCacheRequest(), promise: fourth)
            _ = try connection.channel.close().wait()
            #expect(outcomes.all.last == .failed("fourth", .connectionClosed))
        }
    }

    @Test("Reading stops while the channel is not writable and resumes when it is")
    func writability() async throws {
        try await Self.withStores { stores in
            let connection = try Connection(stores)
            let channel = connection.channel
            channel.read()
            #expect(connection.reads.reads == 1)
            channel.isWritable = false
            channel.pipeline.fireChannelWritabilityChanged()
            channel.read()
            channel.read()
            #expect(connection.reads.reads == 1)
            // What was already read is still handled.
            try connection.send(#"[2,"w1","Heartbeat",{}]"#)
            #expect(try connection.texts().count == 1)
            channel.isWritable = true
            channel.pipeline.fireChannelWritabilityChanged()
            #expect(connection.reads.reads == 2)
            channel.read()
            #expect(connection.reads.reads == 3)
            // Becoming writable with no read held issues none.
            channel.isWritable = false
            channel.pipeline.fireChannelWritabilityChanged()
            channel.isWritable = true
            channel.pipeline.fireChannelWritabilityChanged()
            #expect(connection.reads.reads == 3)
        }
    }

    @Test("A client that never reads is not read from, and is dropped when its pings go unanswered")
    func neverReads() async throws {
        try await Self.withStores(IngestConfiguration(pingInterval: 60, missedPongLimit: 2)) { stores in
            let connection = try Connection(stores)
            let channel = connection.channel
            try connection.send(#"[2,"n1","Heartbeat",{}]"#)
            channel.isWritable = false
            channel.pipeline.fireChannelWritabilityChanged()
            let before = connection.reads.reads
            for _ in 0..<2 {
                channel.embeddedEventLoop.advanceTime(by: .seconds(60))
                channel.read()
                #expect(connection.isOpen)
            }
            channel.embeddedEventLoop.advanceTime(by: .seconds(60))
            #expect(!connection.isOpen)
            #expect(connection.reads.reads == before)
        }
    }

    @Test("The handshake timeout closes a connection in virtual time, and not once removed")
    func handshakeTimeout() throws {
        let channel = EmbeddedChannel(handler: HandshakeTimeoutHandler(timeout: .seconds(10)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        channel.embeddedEventLoop.advanceTime(by: .seconds(10) - .nanoseconds(1))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .nanoseconds(1))
        #expect(!channel.isActive)

        let upgraded = EmbeddedChannel()
        let handler = HandshakeTimeoutHandler(timeout: .seconds(10))
        try upgraded.pipeline.syncOperations.addHandler(handler)
        try upgraded.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        upgraded.embeddedEventLoop.advanceTime(by: .seconds(5))
        try upgraded.pipeline.syncOperations.removeHandler(handler).wait()
        upgraded.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(upgraded.isActive)
    }
}
