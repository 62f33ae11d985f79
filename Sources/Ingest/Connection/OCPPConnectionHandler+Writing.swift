import CoreMetrics
import Logging
import NIOCore
import NIOWebSocket
import Protocol
import TimeSeries

extension OCPPConnectionHandler {
    // MARK: - Frames out

    /// Appends one unmasked frame (a server's) to the output.
    func appendFrame(opcode: WebSocketOpcode, _ payload: UnsafeRawBufferPointer) {
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
    func flushOutput() {
        flushScheduled = false
        guard let outputContext, let buffer = output else { return }
        output = nil
        outputContext.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// Flushes once after the current burst of writes (answers completed together go out in
    /// one system call). During a pass over a group commit's answers the pass flushes.
    func scheduleFlush() {
        guard !flushScheduled, context != nil else { return }
        flushScheduled = true
        if flushDeferred { return }
        let handler = NIOLoopBound(self, eventLoop: eventLoop)
        eventLoop.execute {
            let handler = handler.value
            guard handler.flushScheduled else { return }
            handler.flushOutput()
        }
    }

    func writeText(_ bytes: [UInt8]) {
        guard context != nil, machine.canSend else { return }
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

    /// `[3,"uniqueID",{}]` written straight into a buffer (the hot path's answer).
    private func writeEmptyResult(uniqueID: String) {
        guard context != nil else { return }
        // Unique ids that would need escaping take the general encoder.
        guard uniqueID.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") })
        else {
            answer(uniqueID: uniqueID, MeterValuesResponse())
            return
        }
        guard machine.canSend else { return }
        appendFrameHeader(opcode: .text, length: uniqueID.utf8.count + 9)
        output!.writeStaticString("[3,\"")
        output!.writeString(uniqueID)
        output!.writeStaticString("\",{}]")
        scheduleFlush()
    }

    /// Sends a close frame (once) and closes the connection.
    func close(code: WebSocketErrorCode, reason: String?) {
        guard context != nil, machine.closeRequested() else { return }
        sendClose(code: code, reason: reason)
    }

    /// Writes a close frame after whatever output waits, then closes the channel once it is
    /// written.
    func sendClose(code: WebSocketErrorCode, reason: String?) {
        guard let context else { return }
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
    }

    // MARK: - Durable writes and backpressure

    /// Hands `rows` to the event writer; `acknowledgement` is written once they are durable
    /// (a failed write is answered with InternalError). A full queue keeps the item here and
    /// pauses reading.
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

    /// One group commit's outcomes for connections of this event loop, in one pass: every
    /// answer is written into its connection's output first (a connection with several items
    /// in the commit gets them in order), then each connection is flushed once. No task is
    /// queued per connection, and a connection's answers go out in one system call.
    static func acknowledge(_ completions: [EventWriter.LoopCompletion]) {
        for completion in completions {
            let handler = completion.handler.value
            handler.flushDeferred = true
            handler.acknowledge(completion.acknowledgement, completion.result)
        }
        for completion in completions {
            let handler = completion.handler.value
            guard handler.flushDeferred else { continue }
            handler.flushDeferred = false
            if handler.flushScheduled { handler.flushOutput() }
        }
    }

    /// The event writer's outcome for one item (on this event loop): a refusal for the
    /// series limit is answered with its CALLERROR, any other failure with InternalError.
    func acknowledge(_ acknowledgement: Acknowledgement, _ result: Result<Void, any Error>) {
        if case .applying(let effects, let then) = acknowledgement {
            if case .success = result { services.apply(effects) }
            return acknowledge(then, result)
        }
        switch (result, acknowledgement) {
        case (.success, .empty(let uniqueID)):
            writeEmptyResult(uniqueID: uniqueID)
        case (.success, .frame(_, let frame)):
            writeText(frame)
        case (.failure(let refusal as SeriesLimitExceeded), _):
            services.metrics.refused(by: .seriesLimit)
            logRefusal(uniqueID: acknowledgement.uniqueID, reason: refusal.description)
            answerError(
                uniqueID: acknowledgement.uniqueID,
                code: RequestLimit.seriesLimit.errorCode,
                description: refusal.description
            )
        case (.success, .applying):
            preconditionFailure("unwrapped above")
        case (.failure(let error), _):
            answerError(
                uniqueID: acknowledgement.uniqueID,
                code: .internalError,
                description: "storing the message failed; retry: \(error)"
            )
        }
        finishedOne()
    }

    /// Called when an answer that waited is written.
    func finishedOne() {
        inFlight -= 1
        closeIfQuiescedAndIdle()
    }

    private func waitForRoom() {
        waitingForRoom = true
        services.metrics.backpressurePauses.increment()
        machine.pauseReading(.queueFull)
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
        guard waitingForRoom else { return }
        waitingForRoom = false
        if machine.resumeReading(.queueFull), let context { context.read() }
    }

    private func registerForRoom() {
        let loop = session.channel.eventLoop
        let handler = NIOLoopBound(self, eventLoop: loop)
        services.events.queue.notifyWhenRoom {
            loop.execute { handler.value.retryBlocked() }
        }
    }

    func closeIfQuiescedAndIdle() {
        guard quiescing, inFlight == 0, blockedHead == blocked.count else { return }
        close(code: .goingAway, reason: "server shutting down")
    }
}
