import Atomics
import Foundation
import NIOCore
import NIOWebSocket

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
}

/// One simulated charger: boots, then runs its scenario, measuring each call's latency.
final class ChargerHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let settings: ChargerSettings
    private let statistics: LoadStatistics
    private let index: Int
    private let running: ManagedAtomic<Bool>
    private var context: ChannelHandlerContext?
    private var nextUniqueID: UInt64 = 1
    private var sent: [UInt64: (time: UInt64, sampledValues: Int)] = [:]
    private var booted = false
    private var meters: [MeterState]
    private var nextConnector = 0
    private var timer: RepeatedTask?
    private var session = SessionState()
    private var closedByUs = false

    /// Where a connector's charging session is.
    private struct SessionState {
        enum Step { case preparing, authorize, start, meter(Int), stop, finishing, available }
        var step: Step = .preparing
        var transactionID: Int?
        var waiting = false
    }

    init(index: Int, settings: ChargerSettings, statistics: LoadStatistics, running: ManagedAtomic<Bool>) {
        self.index = index
        self.settings = settings
        self.statistics = statistics
        self.running = running
        self.meters = (0..<max(1, settings.connectors)).map { MeterState(seed: UInt64(index &* 7919 &+ $0 &+ 1)) }
    }

    private var runsSessions: Bool {
        settings.scenario == .sessions || (settings.scenario == .mixed && index % 2 == 0)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// Boots, once the upgrade is complete (writes during it would not reach the WebSocket).
    func begin() {
        send(action: "BootNotification", payload: #"{"chargePointVendor":"ocpp-loadgen","chargePointModel":"Sim-22"}"#)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        if booted { statistics.connected.wrappingDecrement(ordering: .relaxed) }
        if running.load(ordering: .relaxed) && !closedByUs {
            statistics.disconnects.wrappingIncrement(ordering: .relaxed)
            statistics.problem("charger \(index): the server closed the connection")
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            answered(frame.unmaskedData)
        case .ping:
            var pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            pong.maskKey = .random()
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            var data = frame.unmaskedData
            let code = data.readInteger(as: UInt16.self).map(String.init) ?? "none"
            if running.load(ordering: .relaxed) {
                statistics.problem("charger \(index): the server sent close \(code) \(String(buffer: data))")
            }
            context.close(promise: nil)
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
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
        guard let call = sent.removeValue(forKey: uniqueID) else { return }
        if let context {
            statistics.record(microseconds: (now - call.time) / 1000, on: context.eventLoop)
        }
        if type == UInt8(ascii: "4") {
            statistics.callErrors.wrappingIncrement(ordering: .relaxed)
            statistics.problem("charger \(index): CALLERROR \(String(buffer: buffer).prefix(300))")
        } else {
            statistics.confirmed.wrappingIncrement(ordering: .relaxed)
            if call.sampledValues > 0 {
                statistics.sampledValues.wrappingIncrement(by: call.sampledValues, ordering: .relaxed)
            }
        }
        if !booted {
            booted = true
            statistics.connected.wrappingIncrement(ordering: .relaxed)
            statistics.booted.wrappingIncrement(ordering: .relaxed)
            startWorkload()
            return
        }
        if runsSessions {
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
        guard let context else { return }
        if let interval = settings.interval {
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
        guard running.load(ordering: .relaxed), let context else { return }
        switch settings.scenario {
        case .heartbeat: send(action: "Heartbeat", payload: "{}")
        default:
            if runsSessions {
                if !session.waiting { sessionStep() }
            } else {
                sendMeterValues()
            }
        }
        context.flush()
    }

    private func fillWindow() {
        while running.load(ordering: .relaxed), sent.count < settings.window {
            if settings.scenario == .heartbeat {
                send(action: "Heartbeat", payload: "{}", flush: false)
            } else {
                sendMeterValues()
            }
        }
    }

    private func sendMeterValues(transactionID: Int? = nil) {
        guard let context else { return }
        let connector = nextConnector
        nextConnector = (nextConnector + 1) % meters.count
        var buffer = context.channel.allocator.buffer(capacity: 160 + 110 * settings.sampledValues)
        let uniqueID = nextUniqueID
        nextUniqueID += 1
        MessageBuilder.meterValues(
            &buffer,
            uniqueID: uniqueID,
            connectorID: connector + 1,
            transactionID: transactionID,
            timestamp: Self.nowMilliseconds(),
            state: &meters[connector],
            count: settings.sampledValues
        )
        write(buffer, uniqueID: uniqueID, sampledValues: settings.sampledValues, flush: false)
    }

    private func send(action: StaticString, payload: String, flush: Bool = true) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: 64 + payload.utf8.count)
        let uniqueID = nextUniqueID
        nextUniqueID += 1
        MessageBuilder.simple(&buffer, uniqueID: uniqueID, action: action, payload: payload)
        write(buffer, uniqueID: uniqueID, sampledValues: 0, flush: flush)
    }

    private func write(_ buffer: ByteBuffer, uniqueID: UInt64, sampledValues: Int, flush: Bool) {
        guard let context else { return }
        var frame = WebSocketFrame(fin: true, opcode: .text, data: buffer)
        frame.maskKey = .random()
        sent[uniqueID] = (DispatchTimeNanoseconds.now, sampledValues)
        context.write(wrapOutboundOut(frame), promise: nil)
        if flush { context.flush() }
    }

    /// Sends the current step of the charging session.
    private func sessionStep() {
        guard running.load(ordering: .relaxed), !session.waiting else { return }
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
                    #"{"connectorId":1,"idTag":"LG-\#(index)","meterStart":\#(meters[0].energyTenths / 10),"timestamp":"\#(time)"}"#
            )
        case .meter:
            sendMeterValues(transactionID: session.transactionID)
            if let context { context.flush() }
        case .stop:
            send(
                action: "StopTransaction",
                payload:
                    #"{"transactionId":\#(session.transactionID ?? 0),"meterStop":\#(meters[0].energyTenths / 10),"timestamp":"\#(time)","reason":"EVDisconnected"}"#
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

enum DispatchTimeNanoseconds {
    static var now: UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}

enum OCPPTimestampText {
    static func text(_ milliseconds: Int64) -> String {
        var buffer = ByteBuffer()
        MessageBuilder.writeTimestamp(&buffer, milliseconds)
        return String(buffer: buffer)
    }
}
