import CoreMetrics
import Foundation
import Logging
import NIOCore
import NIOWebSocket
import Protocol
import Synchronization
import TimeSeries

/// The OCPP channel handler: installed at upgrade in place of the WebSocket frame decoder,
/// it runs on the connection's event loop (no task per message). It wires the connection's
/// ``WebSocketConnectionStateMachine`` (frames, reassembly, pings, the close handshake, when
/// to read) to NIO, decodes OCPP-J frames, hands rows to the event writer and writes the
/// answers once they are durable, and carries the server's calls to the charger.
///
/// Its timers (pings, call timeouts) are the event loop's scheduled tasks, so tests drive
/// them with an embedded event loop's virtual time.
final class OCPPConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    /// The connection's bytes: frames are read by the state machine.
    typealias InboundIn = ByteBuffer
    /// Nothing is written through this handler; writes from behind it pass unchanged.
    typealias OutboundIn = ByteBuffer
    /// Frames are encoded here, into one buffer per burst of answers, and written from the
    /// context of the upgrade's frame encoder (so they pass below it, already encoded): one
    /// allocation and one vector element per burst, not two per frame.
    typealias OutboundOut = ByteBuffer

    let session: ChargePointSession
    let services: IngestServices
    var logger: Logger
    var context: ChannelHandlerContext?
    /// The frame encoder's context: encoded frames are written from it.
    var outputContext: ChannelHandlerContext?

    /// The WebSocket protocol's state.
    var machine: WebSocketConnectionStateMachine

    /// Series keys of this charger's samples, built once each.
    var seriesCache = SampleSeriesCache()
    /// The time of receipt of the last message (milliseconds since 1970).
    private var lastReceipt: Int64 = 0

    private var pingTask: RepeatedTask?

    // Backpressure: items the full queue refused, in order (from `blockedHead`); reading is
    // paused while any wait. An array, not a ring: empty, it costs a connection no allocation.
    var blocked: [EventWriteItem] = []
    var blockedHead = 0
    var waitingForRoom = false

    // Calls to the charger.
    var correlator: OCPPCallCorrelator
    var callPromises: [OCPPCallCorrelator.CallID: EventLoopPromise<OCPPRawPayload>] = [:]
    var callTimer: Scheduled<Void>?

    // Answers not yet written (waiting for durability or the database), for graceful shutdown.
    var inFlight = 0
    var quiescing = false
    var flushScheduled = false
    /// `true` while a pass over a group commit's answers runs: it flushes every connection it
    /// answered once at its end, so `scheduleFlush` queues no task of its own meanwhile.
    var flushDeferred = false
    /// Encoded frames not yet handed to the channel.
    var output: ByteBuffer?
    /// The channel's event loop and allocator, kept: reaching them through the channel on
    /// every answer costs reference counting on the hot path.
    let eventLoop: any EventLoop
    var allocator = ByteBufferAllocator()

    init(session: ChargePointSession, services: IngestServices) {
        self.session = session
        self.services = services
        eventLoop = session.channel.eventLoop
        var logger = services.logger
        logger[metadataKey: "charge_point_id"] = "\(session.chargePointID)"
        self.logger = logger
        self.machine = WebSocketConnectionStateMachine(
            configuration: .init(
                maximumMessageSize: services.configuration.maximumMessageSize,
                missedPongLimit: services.configuration.missedPongLimit
            )
        )
        self.correlator = OCPPCallCorrelator(
            timeout: .seconds(services.configuration.callTimeout),
            queueLimit: services.configuration.callQueueLimit,
            uniqueIDPrefix: "cs"
        )
    }

    // MARK: - Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        allocator = context.channel.allocator
        outputContext = try? context.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self)
        if outputContext == nil {
            logger.error("No WebSocket frame encoder in the pipeline; closing the connection")
            context.close(promise: nil)
        }
        session.handler.withLock { $0 = NIOLoopBound(self, eventLoop: context.eventLoop) }
        let interval = TimeAmount.seconds(Int64(services.configuration.pingInterval))
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        pingTask = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            handler.value.pingTimerFired()
        }
        if !context.channel.isWritable {
            _ = machine.writabilityChanged(isWritable: false)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        pingTask?.cancel()
        pingTask = nil
        callTimer?.cancel()
        machine.channelClosed()
        perform(correlator.closed())
        self.context = nil
        outputContext = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        services.registry.remove(session)
        services.metrics.connectedChargers.decrement()
        pingTask?.cancel()
        callTimer?.cancel()
        machine.channelClosed()
        perform(correlator.closed())
        services.faultLog.flush(logger, source: session.chargePointID.description, all: true)
        logger.info("Charger disconnected")
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            // Graceful shutdown: read nothing more, answer what was received, then close with 1001.
            quiescing = true
            machine.pauseReading(.quiescing)
            closeIfQuiescedAndIdle()
            return
        }
        if let event = event as? ChannelEvent, event == .inputClosed {
            // The charger closed its side of the TCP connection without a close frame.
            logger.debug("Charger closed the TCP connection")
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("Connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    // MARK: - Reading on and off

    /// Reads pass on only while nothing pauses reading (a full queue, an unwritable channel,
    /// shutdown); one asked for meanwhile is issued when the pause ends.
    func read(context: ChannelHandlerContext) {
        if machine.readRequested() { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let isWritable = context.channel.isWritable
        logger.trace("Channel writability changed", metadata: ["writable": "\(isWritable)"])
        if machine.writabilityChanged(isWritable: isWritable) { context.read() }
        context.fireChannelWritabilityChanged()
    }

    // MARK: - Frames

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        machine.bytesRead(unwrapInboundIn(data))
        while perform(machine.next()) {}
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushOutput()
    }

    /// Carries out one action of the state machine.
    /// - Returns: Whether to ask for the next.
    private func perform(_ action: WebSocketConnectionStateMachine.ReadAction) -> Bool {
        switch action {
        case .wait:
            return false
        case .deliver(let message, let binary):
            if binary { services.metrics.binaryMessages.increment() }
            self.message(message)
        case .sendPong(let payload):
            payload.withUnsafeReadableBytes { appendFrame(opcode: .pong, $0) }
            scheduleFlush()
        case .sendClose(let code, let reason):
            sendClose(code: code, reason: reason)
            return false
        case .echoClose(let code):
            logger.debug("Charger closed the WebSocket", metadata: ["code": "\(code)"])
            sendClose(code: code, reason: nil)
            return false
        }
        return true
    }

    /// XORs the readable bytes with the repeating 4-byte mask.
    static func unmask(_ buffer: inout ByteBuffer, _ maskKey: WebSocketMaskingKey) {
        var mask32: UInt32 = 0
        withUnsafeMutableBytes(of: &mask32) { bytes in
            for index in 0..<4 { bytes[index] = maskKey[maskKey.startIndex + index] }
        }
        WebSocketPayload.unmask(&buffer, mask: mask32)
    }

    private func message(_ buffer: ByteBuffer) {
        // Each message of a connection is received a millisecond after the one before at the
        // earliest: the store keys rows by (series, time), and events are stamped with the time
        // of receipt, so two events of one action in one millisecond would overwrite each other.
        // Only a charger that sends without waiting for answers gets more than one a millisecond.
        let now = max(Self.nowMilliseconds(), lastReceipt + 1)
        lastReceipt = now
        session.noteMessage(at: now)
        let decoded: Result<OCPPIncomingFrame<ChargePointRequest>, OCPPFrameError> = buffer.withUnsafeReadableBytes {
            bytes in
            Result { () throws(OCPPFrameError) in try OCPPFrameDecoder.decode(bytes, as: ChargePointRequest.self) }
        }
        switch decoded {
        case .success(.call(let uniqueID, let request, let unknownProperties)):
            if !unknownProperties.isEmpty {
                logger.debug(
                    "Ignored properties the schema does not define",
                    metadata: ["action": "\(request.action.rawValue)", "properties": .charger("\(unknownProperties)")]
                )
            }
            services.metrics.received(request.action)
            handle(request, uniqueID: uniqueID, now: now)
        case .success(.callResult(let uniqueID, let payload)):
            perform(correlator.receivedResult(uniqueID: uniqueID, payload: payload))
        case .success(.callError(let error)):
            perform(correlator.receivedError(error))
        case .failure(let error):
            guard let uniqueID = error.uniqueID else {
                // Nothing to answer: the frame has no readable unique id.
                services.faultLog.log(
                    logger,
                    level: .warning,
                    source: session.chargePointID.description,
                    kind: "malformed",
                    "Unanswerable malformed frame",
                    metadata: ["error": .charger("\(error.error)")]
                )
                return
            }
            services.faultLog.log(
                logger,
                level: .info,
                source: session.chargePointID.description,
                kind: "malformed",
                "Refused a malformed message",
                metadata: [
                    "action": .charger(error.action ?? "?"), "unique_id": .charger(uniqueID),
                    "error": .charger("\(error.error)"),
                ]
            )
            answerError(uniqueID: uniqueID, code: error.error.code, description: error.error.description)
        }
    }

    // MARK: - Liveness

    private func pingTimerFired() {
        guard let context else { return }
        switch machine.pingTimerFired() {
        case .none:
            return
        case .closeConnection(let missed):
            services.faultLog.flush(logger, source: session.chargePointID.description, all: true)
            logger.warning("Charger answered no ping; disconnecting", metadata: ["missed": "\(missed)"])
            context.close(promise: nil)
        case .sendPing:
            services.faultLog.flush(logger, source: session.chargePointID.description)
            appendFrame(opcode: .ping, UnsafeRawBufferPointer(start: nil, count: 0))
            flushOutput()
        }
    }

    static func nowMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }
}
