import CoreMetrics
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket
import Protocol
import TimeSeries

/// The OCPP channel handler: installed at upgrade in place of the WebSocket frame decoder,
/// it runs on the connection's event loop (no task per message): it reads frames from the
/// connection's bytes, reassembles messages, answers pings, decodes OCPP-J frames, hands rows
/// to the event writer and writes the answers once they are durable, and carries the
/// server's calls to the charger.
final class OCPPConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    /// The connection's bytes: frames are read by ``WebSocketFrameReader``.
    typealias InboundIn = ByteBuffer
    /// Frames are encoded here, into one buffer per burst of answers, and written from the
    /// context of the upgrade's frame encoder (so they pass below it, already encoded): one
    /// allocation and one vector element per burst, not two per frame.
    typealias OutboundOut = ByteBuffer

    let session: ChargePointSession
    let services: IngestServices
    var logger: Logger
    var context: ChannelHandlerContext?
    /// The frame encoder's context: encoded frames are written from it.
    private var outputContext: ChannelHandlerContext?

    // Frames and message reassembly.
    /// The start of a frame whose rest has not arrived yet.
    private var partialFrame: ByteBuffer?
    private var fragments: ByteBuffer?
    private var fragmentsAreText = true

    /// Series keys of this charger's samples, built once each.
    var seriesCache = SampleSeriesCache()

    // Liveness.
    private var missedPongs = 0
    private var pingTask: RepeatedTask?

    // Backpressure: items the full queue refused, in order (from `blockedHead`); reading is
    // off while any wait. An array, not a ring: empty, it costs a connection no allocation.
    private var blocked: [EventWriteItem] = []
    private var blockedHead = 0
    private var waitingForRoom = false

    // Calls to the charger.
    private var correlator: OCPPCallCorrelator
    private var callPromises: [OCPPCallCorrelator.CallID: EventLoopPromise<OCPPRawPayload>] = [:]
    private var callTimer: Scheduled<Void>?

    // Answers not yet written (waiting for durability or the database), for graceful shutdown.
    var inFlight = 0
    private var quiescing = false
    private var closeSent = false
    private var flushScheduled = false
    /// Encoded frames not yet handed to the channel.
    private var output: ByteBuffer?
    /// The channel's event loop and allocator, kept: reaching them through the channel on
    /// every answer costs reference counting on the hot path.
    let eventLoop: any EventLoop
    private var allocator = ByteBufferAllocator()
    /// Where a masked message is unmasked: reused, since the decoder copies what it keeps.
    private var scratch = ByteBuffer()

    init(session: ChargePointSession, services: IngestServices) {
        self.session = session
        self.services = services
        eventLoop = session.channel.eventLoop
        var logger = services.logger
        logger[metadataKey: "charge_point_id"] = "\(session.chargePointID)"
        self.logger = logger
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
        session.handler.withLockedValue { $0 = NIOLoopBound(self, eventLoop: context.eventLoop) }
        let interval = TimeAmount.seconds(Int64(services.configuration.pingInterval))
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        pingTask = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            handler.value.pingTick()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        pingTask?.cancel()
        pingTask = nil
        callTimer?.cancel()
        perform(correlator.closed())
        self.context = nil
        outputContext = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        services.registry.remove(session)
        services.metrics.connectedChargers.decrement()
        pingTask?.cancel()
        callTimer?.cancel()
        perform(correlator.closed())
        logger.info("Charger disconnected")
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            // Graceful shutdown: read nothing more, answer what was received, then close with 1001.
            quiescing = true
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
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

    // MARK: - Frames

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if var partial = partialFrame {
            partialFrame = nil
            partial.writeBuffer(&bytes)
            bytes = partial
        }
        missedPongs = 0
        while !closeSent {
            switch WebSocketFrameReader.next(&bytes, maximumSize: services.configuration.maximumMessageSize) {
            case .frame(let frame):
                self.frame(frame)
            case .incomplete:
                guard bytes.readableBytes > 0 else { return }
                // A few bytes kept from a large read would hold the whole read buffer: copy them.
                if bytes.storageCapacity > 2 * bytes.readableBytes + 1024 {
                    var copy = ByteBuffer()
                    copy.writeBuffer(&bytes)
                    partialFrame = copy
                } else {
                    partialFrame = bytes
                }
                return
            case .invalid(let code, let reason):
                close(code: code, reason: reason)
                return
            }
        }
    }

    private func frame(_ frame: ClientFrame) {
        guard frame.mask != nil else {
            close(code: .protocolError, reason: "a client's frames must be masked (RFC 6455, 5.1)")
            return
        }
        switch frame.opcode {
        case .text, .binary:
            guard fragments == nil else {
                close(code: .protocolError, reason: "a new message began before the fragmented one ended")
                return
            }
            if frame.fin {
                message(unmasked(frame), isText: frame.opcode == .text)
            } else {
                fragments = Self.unmaskedCopy(frame)
                fragmentsAreText = frame.opcode == .text
            }
        case .continuation:
            guard var buffer = fragments else {
                close(code: .protocolError, reason: "a continuation frame without a message to continue")
                return
            }
            guard buffer.readableBytes + frame.payload.readableBytes <= services.configuration.maximumMessageSize
            else {
                fragments = nil
                close(
                    code: .messageTooLarge,
                    reason: "message exceeds \(services.configuration.maximumMessageSize) bytes"
                )
                return
            }
            var data = Self.unmaskedCopy(frame)
            buffer.writeBuffer(&data)
            if frame.fin {
                fragments = nil
                message(buffer, isText: fragmentsAreText)
            } else {
                fragments = buffer
            }
        case .ping:
            let data = Self.unmaskedCopy(frame)
            data.withUnsafeReadableBytes { appendFrame(opcode: .pong, $0) }
            scheduleFlush()
        case .pong:
            break
        case .connectionClose:
            var data = Self.unmaskedCopy(frame)
            let code = data.readWebSocketErrorCode() ?? .normalClosure
            logger.debug("Charger closed the WebSocket", metadata: ["code": "\(code)"])
            close(code: code == .unknown(1005) ? .normalClosure : code, reason: nil)
        default:
            close(code: .protocolError, reason: "unknown opcode")
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushOutput()
    }

    /// The frame's payload, unmasked into the reused scratch buffer.
    private func unmasked(_ frame: ClientFrame) -> ByteBuffer {
        guard let mask = frame.mask else { return frame.payload }
        var data = frame.payload
        scratch.clear()
        scratch.writeBuffer(&data)
        Self.unmask(&scratch, mask: mask)
        return scratch
    }

    /// The frame's payload, unmasked into a buffer of its own (what is kept beyond the frame).
    private static func unmaskedCopy(_ frame: ClientFrame) -> ByteBuffer {
        guard let mask = frame.mask else { return frame.payload }
        var data = frame.payload
        var copy = ByteBuffer()
        copy.writeBuffer(&data)
        unmask(&copy, mask: mask)
        return copy
    }

    /// XORs the readable bytes with the repeating 4-byte mask.
    static func unmask(_ buffer: inout ByteBuffer, _ maskKey: WebSocketMaskingKey) {
        var mask32: UInt32 = 0
        withUnsafeMutableBytes(of: &mask32) { bytes in
            for index in 0..<4 { bytes[index] = maskKey[maskKey.startIndex + index] }
        }
        unmask(&buffer, mask: mask32)
    }

    /// XORs the readable bytes with the repeating 4-byte mask (its bytes in memory order),
    /// eight bytes at a time (NIO's own unmasking goes byte by byte, and was 7 % of the
    /// server's time under load).
    static func unmask(_ buffer: inout ByteBuffer, mask mask32: UInt32) {
        let mask64 = UInt64(mask32) | UInt64(mask32) << 32
        buffer.withUnsafeMutableReadableBytes { bytes in
            let count = bytes.count
            var index = 0
            while index + 8 <= count {
                let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) ^ mask64
                bytes.storeBytes(of: word, toByteOffset: index, as: UInt64.self)
                index += 8
            }
            while index < count {
                bytes[index] ^= withUnsafeBytes(of: mask32) { $0[index & 3] }
                index += 1
            }
        }
    }

    private func message(_ buffer: ByteBuffer, isText: Bool) {
        guard isText else {
            close(code: .unacceptableData, reason: "OCPP-J messages are text frames")
            return
        }
        let now = Self.nowMilliseconds()
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
                    metadata: ["action": "\(request.action.rawValue)", "properties": "\(unknownProperties)"]
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
                logger.warning("Unanswerable malformed frame", metadata: ["error": "\(error.error)"])
                return
            }
            logger.info(
                "Refused a malformed message",
                metadata: ["action": "\(error.action ?? "?")", "error": "\(error.error)"]
            )
            answerError(uniqueID: uniqueID, code: error.error.code, description: error.error.description)
        }
    }

    // MARK: - Writing

    /// Appends one unmasked frame (a server's) to the output.
    private func appendFrame(opcode: WebSocketOpcode, _ payload: UnsafeRawBufferPointer) {
        appendFrameHeader(opcode: opcode, length: payload.count)
        output!.writeBytes(payload)
    }

    /// Appends a frame header; the caller writes `length` payload bytes next.
    private func appendFrameHeader(opcode: WebSocketOpcode, length: Int) {
        if output == nil {
            output = allocator.buffer(capacity: max(256, length + 10))
        }
        output!.writeInteger(UInt8(0x80) | UInt8(webSocketOpcode: opcode))
        if length < 126 {
            output!.writeInteger(UInt8(length))
        } else if length <= Int(UInt16.max) {
            output!.writeInteger(UInt8(126))
            output!.writeInteger(UInt16(length))
        } else {
            output!.writeInteger(UInt8(127))
            output!.writeInteger(UInt64(length))
        }
    }

    /// Hands the encoded frames to the channel and flushes.
    private func flushOutput() {
        flushScheduled = false
        guard let outputContext, let buffer = output else { return }
        output = nil
        outputContext.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// Flushes once after the current burst of writes (answers completed together go out in
    /// one system call).
    private func scheduleFlush() {
        guard !flushScheduled, context != nil else { return }
        flushScheduled = true
        let handler = NIOLoopBound(self, eventLoop: eventLoop)
        eventLoop.execute {
            let handler = handler.value
            guard handler.flushScheduled else { return }
            handler.flushOutput()
        }
    }

    func writeText(_ bytes: [UInt8]) {
        guard context != nil, !closeSent else { return }
        bytes.withUnsafeBytes { appendFrame(opcode: .text, $0) }
        scheduleFlush()
    }

    func answer<Payload: OCPPPayload>(uniqueID: String, _ payload: Payload) {
        writeText(OCPPFrameEncoder.callResult(uniqueID: uniqueID, payload: payload))
    }

    func answerError(uniqueID: String, code: OCPPErrorCode, description: String) {
        services.metrics.sentCallError(code)
        writeText(OCPPFrameEncoder.callError(uniqueID: uniqueID, code: code, description: description))
    }

    /// Sends a close frame (once) and closes the connection.
    func close(code: WebSocketErrorCode, reason: String?) {
        guard let context else { return }
        if !closeSent {
            if let reason {
                logger.info("Closing the WebSocket", metadata: ["code": "\(code)", "reason": "\(reason)"])
            }
            var data = ByteBuffer()
            data.write(webSocketErrorCode: code)
            if let reason { data.writeString(String(reason.prefix(120))) }
            data.withUnsafeReadableBytes { appendFrame(opcode: .connectionClose, $0) }
            let buffer = output!
            output = nil
            flushScheduled = false
            let channel = context.channel
            if let outputContext {
                outputContext.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
            } else {
                channel.close(promise: nil)
            }
            closeSent = true
        }
    }

    // MARK: - Liveness

    private func pingTick() {
        guard let context, !closeSent else { return }
        if missedPongs >= services.configuration.missedPongLimit {
            logger.warning("Charger answered no ping; disconnecting", metadata: ["missed": "\(missedPongs)"])
            context.close(promise: nil)
            return
        }
        missedPongs += 1
        appendFrame(opcode: .ping, UnsafeRawBufferPointer(start: nil, count: 0))
        flushOutput()
    }

    // MARK: - Durable writes and backpressure

    /// Hands `rows` to the event writer; `acknowledgement` is written once they are durable
    /// (a failed write is answered with InternalError). A full queue keeps the item here and
    /// stops reading.
    ///
    /// It works without a channel context too: rows of a request whose database work finished
    /// after the charger disconnected are still stored (only the answer has nowhere to go).
    func writeEvents(_ rows: [EventRow], acknowledgement: Acknowledgement) {
        writeEvents(.keyed(rows), acknowledgement: acknowledgement)
    }

    /// Hands a batch, keyed or resolved, to the event writer (see ``writeEvents(_:acknowledgement:)``).
    func writeEvents(_ rows: AppendBatch, acknowledgement: Acknowledgement) {
        inFlight += 1
        let item = EventWriteItem(
            rows: rows,
            completion: .connection(NIOLoopBound(self, eventLoop: eventLoop), acknowledgement)
        )
        if blockedHead == blocked.count, services.events.submit(item) { return }
        blocked.append(item)
        if !waitingForRoom { waitForRoom() }
    }

    /// The event writer's outcome for one item (on this event loop).
    func acknowledge(_ acknowledgement: Acknowledgement, _ result: Result<Void, any Error>) {
        switch (result, acknowledgement) {
        case (.success, .empty(let uniqueID)):
            writeEmptyResult(uniqueID: uniqueID)
        case (.success, .frame(_, let frame)):
            writeText(frame)
        case (.failure(let error), _):
            answerError(
                uniqueID: acknowledgement.uniqueID,
                code: .internalError,
                description: "storing the message failed; retry: \(error)"
            )
        }
        finishedOne()
    }

    /// `[3,"uniqueID",{}]` written straight into a buffer (the hot path's answer).
    private func writeEmptyResult(uniqueID: String) {
        guard context != nil else { return }
        // Unique ids that would need escaping take the general encoder.
        guard uniqueID.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") })
        else {
            answer(uniqueID: uniqueID, MeterValuesResponse())
            return
        }
        guard !closeSent else { return }
        appendFrameHeader(opcode: .text, length: uniqueID.utf8.count + 9)
        output!.writeStaticString("[3,\"")
        output!.writeString(uniqueID)
        output!.writeStaticString("\",{}]")
        scheduleFlush()
    }

    /// Called when an answer that waited is written.
    func finishedOne() {
        inFlight -= 1
        closeIfQuiescedAndIdle()
    }

    private func waitForRoom() {
        waitingForRoom = true
        services.metrics.backpressurePauses.increment()
        session.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        retryBlocked()
    }

    /// Queues what the full queue refused, in order; reading resumes once all of it is in.
    /// Called again by the writer whenever it has made room.
    private func retryBlocked() {
        while blockedHead < blocked.count {
            let item = blocked[blockedHead]
            if !services.events.submit(item) {
                registerForRoom()
                // Room made between the failed push and the registration is not missed.
                guard services.events.submit(item) else { return }
            }
            blockedHead += 1
        }
        blocked.removeAll()
        blockedHead = 0
        guard waitingForRoom, let context else { return }
        waitingForRoom = false
        if !quiescing {
            context.channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
            context.read()
        }
    }

    private func registerForRoom() {
        let loop = session.channel.eventLoop
        let handler = NIOLoopBound(self, eventLoop: loop)
        services.events.queue.notifyWhenRoom {
            loop.execute { handler.value.retryBlocked() }
        }
    }

    private func closeIfQuiescedAndIdle() {
        guard quiescing, inFlight == 0, blockedHead == blocked.count else { return }
        close(code: .goingAway, reason: "server shutting down")
    }

    // MARK: - Calls to the charger

    /// Queues a call; the promise gets the confirmation's payload.
    func startCall<Request: OCPPRequest>(_ request: Request, promise: EventLoopPromise<OCPPRawPayload>) {
        guard context != nil, !closeSent, !quiescing else {
            promise.fail(ChargePointCallError.connectionClosed)
            return
        }
        do {
            let (id, actions) = try correlator.enqueue(request)
            callPromises[id] = promise
            perform(actions)
        } catch {
            promise.fail(ChargePointCallError.queueFull(limit: error.limit))
        }
    }

    private func perform(_ actions: [OCPPCallCorrelator.Action]) {
        for action in actions {
            switch action {
            case .send(let uniqueID, let frame, let timeout):
                writeText(frame)
                callTimer?.cancel()
                if let context {
                    let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
                    callTimer = context.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout.nanoseconds))) {
                        let handler = handler.value
                        handler.perform(handler.correlator.timedOut(uniqueID: uniqueID))
                    }
                }
            case .succeed(let id, _, let payload):
                callTimer?.cancel()
                callPromises.removeValue(forKey: id)?.succeed(payload)
            case .fail(let id, _, let failure):
                callTimer?.cancel()
                let error: ChargePointCallError
                switch failure {
                case .callError(let callError): error = .callError(callError)
                case .timedOut: error = .timedOut
                case .connectionClosed: error = .connectionClosed
                }
                callPromises.removeValue(forKey: id)?.fail(error)
            case .discard(let uniqueID, let reason):
                logger.info("Discarded an answer", metadata: ["unique_id": "\(uniqueID)", "reason": "\(reason)"])
            }
        }
    }

    static func nowMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }
}

extension Duration {
    fileprivate var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
