import Foundation
import NIOCore
import NIOWebSocket
import Synchronization

/// What the simulated chargers do after booting.
enum Scenario: String, CaseIterable, Sendable {
    /// MeterValues only.
    case meterValues = "meter-values"
    /// Charging sessions like real chargers: status, Authorize, StartTransaction,
    /// MeterValues, StopTransaction, status.
    case sessions
    /// Half the chargers run sessions, half send MeterValues.
    case mixed
    /// Idle chargers that only heartbeat (connection scaling).
    case heartbeat
    /// A realistic fleet: each charger, with one call outstanding at most, sends MeterValues
    /// every interval and StatusNotification and Heartbeat at their own, staggered intervals.
    case fleet
}

/// The settings every connection shares.
struct ChargerSettings: Sendable {
    var scenario: Scenario
    var connectors: Int
    var sampledValues: Int
    /// Per charger: one message per interval; `nil`: flat out with `window` outstanding.
    var interval: TimeAmount?
    var window: Int
    var meterValuesPerSession: Int
    /// Fleet: a StatusNotification and a Heartbeat per charger this often.
    var statusInterval: TimeAmount = .seconds(60)
    var heartbeatInterval: TimeAmount = .seconds(300)
    /// Send nothing after the BootNotification (a reconnect storm).
    var idleAfterBoot = false
}

/// The answer to a charger's BootNotification.
struct BootAnswer: Sendable {
    /// The status it was answered (`Accepted`, `Pending`, `Rejected`), or `CALLERROR`.
    var status: String
    /// When it arrived, in `DispatchTimeNanoseconds`.
    var nanoseconds: UInt64
}

/// The BootNotification was not answered.
struct BootUnanswered: Error, CustomStringConvertible {
    var description: String { "the connection closed before the BootNotification was answered" }
}

/// One simulated charger: boots, then runs its scenario, measuring each call's latency.
final class ChargerHandler: ChannelInboundHandler {
    /// The connection's bytes after the upgrade: the server's frames are read here.
    typealias InboundIn = ByteBuffer
    /// Frames are built (and masked) here, several per buffer, and written from the frame
    /// encoder's context, below it: the simulator must cost far less than the server.
    typealias OutboundOut = ByteBuffer

    private let settings: ChargerSettings
    private let statistics: LoadStatistics
    let index: Int
    private let running: RunningFlag
    private var context: ChannelHandlerContext?
    private var nextUniqueID: UInt64 = 1
    /// The calls awaiting an answer, oldest first (a few: the window; answers come in order,
    /// so the match is nearly always the first).
    private var sent: [(uniqueID: UInt64, time: UInt64, sampledValues: Int, stored: Int, action: CallAction)] = []
    /// Fleet: which calls are due.
    private var fleet: FleetSchedule?
    /// The start of a frame whose rest has not arrived yet.
    private var partialFrame: ByteBuffer?
    /// Samples the server stores for the calls it confirmed, and for all calls sent (for `--verify`).
    private(set) var storedAcknowledged = 0
    private(set) var storedSent = 0
    private var outputContext: ChannelHandlerContext?
    private var output: ByteBuffer?
    private var scratch = ByteBuffer()
    private var maskState: UInt64
    private var booted = false
    private var meters: [MeterState]
    private var nextConnector = 0
    /// The last MeterValues timestamp per connector: each is later than the one before, as a
    /// real meter's are (the store keeps one value per series and millisecond, so two
    /// readings in one millisecond would count as one in `--verify`).
    private var lastTimestamps: [Int64]
    private var timer: RepeatedTask?
    private var session = SessionState()
    private var closedByUs = false
    /// Completed with the BootNotification's answer.
    private var bootAnswer: EventLoopPromise<BootAnswer>?

    /// Where a connector's charging session is.
    private struct SessionState {
        enum Step { case preparing, authorize, start, meter(Int), stop, finishing, available }
        var step: Step = .preparing
        var transactionID: Int?
        var waiting = false
    }

    init(
        index: Int,
        settings: ChargerSettings,
        statistics: LoadStatistics,
        running: RunningFlag,
        bootAnswer: EventLoopPromise<BootAnswer>? = nil
    ) {
        self.index = index
        self.bootAnswer = bootAnswer
        self.settings = settings
        self.statistics = statistics
        self.running = running
        self.meters = (0..<max(1, settings.connectors)).map { MeterState(seed: UInt64(index &* 7919 &+ $0 &+ 1)) }
        self.lastTimestamps = Array(repeating: 0, count: max(1, settings.connectors))
        self.maskState = UInt64.random(in: 1...UInt64.max)
    }

    private var runsSessions: Bool {
        settings.scenario == .sessions || (settings.scenario == .mixed && index % 2 == 0)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        outputContext = try? context.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self)
    }

    /// Boots, once the upgrade is complete (writes during it would not reach the WebSocket).
    func begin() {
        send(action: "BootNotification", payload: #"{"chargePointVendor":"ocpp-loadgen","chargePointModel":"Sim-22"}"#)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        self.context = nil
        failBootAnswer()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        failBootAnswer()
        if booted { statistics.connected.wrappingSubtract(1, ordering: .relaxed) }
        if running.isRunning && !closedByUs {
            statistics.disconnects.wrappingAdd(1, ordering: .relaxed)
            statistics.problem("charger \(index): the server closed the connection")
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if running.isRunning && !closedByUs { statistics.problem("charger \(index): \(error)") }
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if var partial = partialFrame {
            partialFrame = nil
            partial.writeBuffer(&bytes)
            bytes = partial
        }
        while self.context != nil {
            switch Self.nextFrame(&bytes) {
            case .frame(let opcode, let payload):
                frame(opcode: opcode, payload, context: context)
            case .incomplete:
                if bytes.readableBytes > 0 { partialFrame = bytes }
                return
            case .invalid(let problem):
                statistics.problem("charger \(index): \(problem)")
                context.close(promise: nil)
                return
            }
        }
    }

    private func frame(opcode: UInt8, _ payload: ByteBuffer, context: ChannelHandlerContext) {
        switch opcode {
        case 0x1:
            answered(payload)
        case 0x9:
            appendMaskedFrame(opcode: 0xA, payload)
            flushOutput()
        case 0x8:
            var data = payload
            let code = data.readInteger(as: UInt16.self).map(String.init) ?? "none"
            if running.isRunning {
                statistics.problem("charger \(index): the server sent close \(code) \(String(buffer: data))")
            }
            context.close(promise: nil)
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushOutput()
    }

    /// Appends one masked client frame (FIN set) with `payload` to the output.
    private func appendMaskedFrame(opcode: UInt8, _ payload: ByteBuffer) {
        guard let context else { return }
        let length = payload.readableBytes
        if output == nil { output = context.channel.allocator.buffer(capacity: max(2048, length + 14)) }
        output!.writeInteger(0x80 | opcode)
        if length < 126 {
            output!.writeInteger(UInt8(0x80 | length))
        } else if length <= Int(UInt16.max) {
            output!.writeInteger(UInt8(0x80 | 126))
            output!.writeInteger(UInt16(length))
        } else {
            output!.writeInteger(UInt8(0x80 | 127))
            output!.writeInteger(UInt64(length))
        }
        // A fresh masking key per frame, from a per-connection xorshift generator.
        maskState ^= maskState << 13
        maskState ^= maskState >> 7
        maskState ^= maskState << 17
        let mask32 = UInt32(truncatingIfNeeded: maskState)
        output!.writeInteger(mask32, endianness: .little)
        let mask64 = UInt64(mask32) | UInt64(mask32) << 32
        // Copied and masked in one pass, eight bytes at a time.
        output!.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { target in
            payload.withUnsafeReadableBytes { source in
                var index = 0
                while index + 8 <= length {
                    let word = source.loadUnaligned(fromByteOffset: index, as: UInt64.self) ^ mask64
                    target.storeBytes(of: word, toByteOffset: index, as: UInt64.self)
                    index += 8
                }
                while index < length {
                    target[index] = source[index] ^ UInt8(truncatingIfNeeded: mask32 >> (8 * UInt32(index & 3)))
                    index += 1
                }
            }
            return length
        }
    }

    /// Hands the built frames to the channel.
    private func flushOutput() {
        guard let outputContext, let buffer = output else { return }
        output = nil
        outputContext.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// Stops sending and closes.
    func stop() {
        closedByUs = true
        timer?.cancel()
        context?.close(promise: nil)
    }

    // MARK: - Answers

    private func answered(_ buffer: ByteBuffer) {
        let now = DispatchTimeNanoseconds.now
        // `[3,"id",{...}]` or `[4,"id","Code","description",{...}]`
        guard let type = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self),
            let (uniqueID, afterID) = Self.uniqueID(in: buffer)
        else {
            statistics.problem("charger \(index): unreadable frame \(String(buffer: buffer).prefix(200))")
            return
        }
        if type == UInt8(ascii: "2") {
            // A call from the server: this simulator supports none.
            return
        }
        guard let position = sent.firstIndex(where: { $0.uniqueID == uniqueID }) else { return }
        let call = sent.remove(at: position)
        if let context {
            statistics.record(
                microseconds: (now - call.time) / 1000,
                at: now,
                action: call.action,
                on: context.eventLoop
            )
        }
        if type == UInt8(ascii: "4") {
            statistics.callErrors.wrappingAdd(1, ordering: .relaxed)
            statistics.problem("charger \(index): CALLERROR \(String(buffer: buffer).prefix(300))")
        } else {
            statistics.confirmed.wrappingAdd(1, ordering: .relaxed)
            storedAcknowledged += call.stored
            if call.sampledValues > 0 {
                statistics.sampledValues.wrappingAdd(call.sampledValues, ordering: .relaxed)
            }
        }
        if !booted {
            booted = true
            if let bootAnswer {
                self.bootAnswer = nil
                let status = type == UInt8(ascii: "4") ? "CALLERROR" : Self.status(in: buffer, from: afterID)
                bootAnswer.succeed(BootAnswer(status: status, nanoseconds: now))
            }
            statistics.connected.wrappingAdd(1, ordering: .relaxed)
            statistics.booted.wrappingAdd(1, ordering: .relaxed)
            startWorkload()
            return
        }
        if settings.scenario == .fleet {
            sendFleetCall()
        } else if runsSessions {
            session.waiting = false
            if case .start = session.step {
                session.transactionID = Self.integer(after: "\"transactionId\":", in: buffer, from: afterID)
            }
            advanceSession()
            if settings.interval == nil { sessionStep() }
        } else if settings.interval == nil {
            fillWindow()
        }
    }

    private func failBootAnswer() {
        guard let bootAnswer else { return }
        self.bootAnswer = nil
        bootAnswer.fail(BootUnanswered())
    }

    /// The `"status"` of a CALLRESULT payload.
    private static func status(in buffer: ByteBuffer, from start: Int) -> String {
        guard let text = buffer.getString(at: start, length: buffer.writerIndex - start),
            let range = text.range(of: #""status":""#)
        else { return "unknown" }
        return String(text[range.upperBound...].prefix { $0 != "\"" })
    }

    private static func uniqueID(in buffer: ByteBuffer) -> (UInt64, Int)? {
        var index = buffer.readerIndex + 4
        var value: UInt64 = 0
        while let byte = buffer.getInteger(at: index, as: UInt8.self), byte != UInt8(ascii: "\"") {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + UInt64(byte - UInt8(ascii: "0"))
            index += 1
        }
        return (value, index)
    }

    private static func integer(after key: String, in buffer: ByteBuffer, from start: Int) -> Int? {
        guard let text = buffer.getString(at: start, length: buffer.writerIndex - start),
            let range = text.range(of: key)
        else { return nil }
        return Int(text[range.upperBound...].prefix { $0.isNumber })
    }

    // MARK: - Workload

    private func startWorkload() {
        guard let context, !settings.idleAfterBoot else { return }
        if settings.scenario == .fleet {
            startFleet(context: context)
        } else if let interval = settings.interval {
            // Spread chargers over the interval, as a real fleet's clocks are.
            let jitter = TimeAmount.nanoseconds(Int64.random(in: 0...max(1, interval.nanoseconds)))
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            timer = context.eventLoop.scheduleRepeatedTask(initialDelay: jitter, delay: interval) { _ in
                handler.value.tick()
            }
        } else if settings.scenario == .heartbeat {
            fillWindow()
        } else if runsSessions {
            sessionStep()
        } else {
            fillWindow()
        }
    }

    private func tick() {
        guard running.isRunning, context != nil else { return }
        switch settings.scenario {
        case .heartbeat: send(action: "Heartbeat", payload: "{}")
        default:
            if runsSessions {
                if !session.waiting { sessionStep() }
            } else {
                sendMeterValues()
            }
        }
        flushOutput()
    }

    /// Fleet: one timer per charger at the MeterValues interval, started at a random point of
    /// it; status and heartbeat fall due on the ticks after their own (staggered) times.
    private func startFleet(context: ChannelHandlerContext) {
        let interval = settings.interval ?? .seconds(1)
        fleet = FleetSchedule(settings: settings, interval: interval, now: DispatchTimeNanoseconds.now)
        let jitter = TimeAmount.nanoseconds(Int64.random(in: 0...max(1, interval.nanoseconds)))
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleRepeatedTask(initialDelay: jitter, delay: interval) { _ in
            handler.value.fleetTick()
        }
    }

    private func fleetTick() {
        guard running.isRunning, context != nil, fleet != nil else { return }
        if fleet!.tick(now: DispatchTimeNanoseconds.now) {
            statistics.lateMeterValues.wrappingAdd(1, ordering: .relaxed)
        }
        sendFleetCall()
        flushOutput()
    }

    /// Sends the next due call of the fleet schedule, unless one is outstanding.
    private func sendFleetCall() {
        guard running.isRunning, sent.isEmpty, let next = fleet?.next() else { return }
        switch next {
        case .meterValues:
            sendMeterValues()
        case .statusNotification(let connector, let status):
            let time = OCPPTimestampText.text(Self.nowMilliseconds())
            send(
                action: "StatusNotification",
                payload:
                    #"{"connectorId":\#(connector),"errorCode":"NoError","status":"\#(status)","timestamp":"\#(time)"}"#,
                flush: false
            )
        case .heartbeat:
            send(action: "Heartbeat", payload: "{}", flush: false)
        }
    }

    private func fillWindow() {
        while running.isRunning, sent.count < settings.window {
            if settings.scenario == .heartbeat {
                send(action: "Heartbeat", payload: "{}", flush: false)
            } else {
                sendMeterValues()
            }
        }
    }

    private func sendMeterValues(transactionID: Int? = nil) {
        let connector = nextConnector
        nextConnector = (nextConnector + 1) % meters.count
        guard context != nil else { return }
        scratch.clear()
        let uniqueID = nextUniqueID
        nextUniqueID += 1
        MessageBuilder.meterValues(
            &scratch,
            uniqueID: uniqueID,
            connectorID: connector + 1,
            transactionID: transactionID,
            timestamp: nextTimestamp(connector: connector),
            state: &meters[connector],
            count: settings.sampledValues
        )
        write(
            uniqueID: uniqueID,
            sampledValues: settings.sampledValues,
            stored: settings.sampledValues,
            action: .meterValues,
            flush: false
        )
    }

    /// Sends a call; `stored` is how many samples the server keeps for it (a transaction's
    /// start and stop each become an energy register sample).
    private func send(action: StaticString, payload: String, stored: Int = 0, flush: Bool = true) {
        guard context != nil else { return }
        scratch.clear()
        let uniqueID = nextUniqueID
        nextUniqueID += 1
        MessageBuilder.simple(&scratch, uniqueID: uniqueID, action: action, payload: payload)
        write(uniqueID: uniqueID, sampledValues: 0, stored: stored, action: CallAction(action), flush: flush)
    }

    private func nextTimestamp(connector: Int) -> Int64 {
        let timestamp = max(Self.nowMilliseconds(), lastTimestamps[connector] + 1)
        lastTimestamps[connector] = timestamp
        return timestamp
    }

    /// Frames the message built in `scratch` and records when it went out.
    private func write(uniqueID: UInt64, sampledValues: Int, stored: Int, action: CallAction, flush: Bool) {
        guard context != nil else { return }
        appendMaskedFrame(opcode: 0x1, scratch)
        sent.append((uniqueID, DispatchTimeNanoseconds.now, sampledValues, stored, action))
        storedSent += stored
        if flush { flushOutput() }
    }

    /// Sends the current step of the charging session.
    private func sessionStep() {
        guard running.isRunning, !session.waiting else { return }
        session.waiting = true
        let now = Self.nowMilliseconds()
        let time = OCPPTimestampText.text(now)
        switch session.step {
        case .preparing:
            send(
                action: "StatusNotification",
                payload: #"{"connectorId":1,"errorCode":"NoError","status":"Preparing","timestamp":"\#(time)"}"#
            )
        case .authorize:
            send(action: "Authorize", payload: #"{"idTag":"LG-\#(index)"}"#)
        case .start:
            send(
                action: "StartTransaction",
                payload:
                    #"{"connectorId":1,"idTag":"LG-\#(index)","meterStart":\#(meters[0].energyTenths / 10),"timestamp":"\#(time)"}"#,
                stored: 1
            )
        case .meter:
            sendMeterValues(transactionID: session.transactionID)
            flushOutput()
        case .stop:
            send(
                action: "StopTransaction",
                payload:
                    #"{"transactionId":\#(session.transactionID ?? 0),"meterStop":\#(meters[0].energyTenths / 10),"timestamp":"\#(time)","reason":"EVDisconnected"}"#,
                stored: 1
            )
        case .finishing:
            send(
                action: "StatusNotification",
                payload: #"{"connectorId":1,"errorCode":"NoError","status":"Finishing","timestamp":"\#(time)"}"#
            )
        case .available:
            send(
                action: "StatusNotification",
                payload: #"{"connectorId":1,"errorCode":"NoError","status":"Available","timestamp":"\#(time)"}"#
            )
        }
    }

    private func advanceSession() {
        switch session.step {
        case .preparing: session.step = .authorize
        case .authorize: session.step = .start
        case .start: session.step = .meter(0)
        case .meter(let count):
            session.step = count + 1 < settings.meterValuesPerSession ? .meter(count + 1) : .stop
        case .stop: session.step = .finishing
        case .finishing: session.step = .available
        case .available: session.step = .preparing
        }
    }

    static func nowMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}
