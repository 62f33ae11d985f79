import Foundation
import NIOCore
import NIOWebSocket
import Protocol
import Synchronization
import Testing
import TimeSeries

@_spi(Benchmarks) @testable import Ingest

/// Calls to chargers, backpressure and graceful shutdown.
@Suite("Calls, backpressure, shutdown")
struct OperationsTests {
    @Test("A call reaches the charger, its confirmation comes back decoded; calls queue one at a time")
    func calls() async throws {
        let server = try await IngestTestServer.start()
        let charger = try await server.connect("CP-CALL")
        _ = try await charger.call("1", "Heartbeat", "{}")
        let id = try ChargePointID("CP-CALL")
        let first = Task { try await server.ingest.call(ResetRequest(type: .hard), to: id) }
        let second = Task { try await server.ingest.call(GetConfigurationRequest(key: ["HeartbeatInterval"]), to: id) }
        let call1 = try parse(try await charger.nextText())
        #expect(call1[0] as? Int == 2)
        // One outstanding call per connection: the other waits until this one is answered.
        try await Task.sleep(for: .milliseconds(200))
        #expect(!charger.hasEvent)
        let uniqueID1 = try #require(call1[1] as? String)
        if call1[2] as? String == "Reset" {
            #expect(try object(call1[3])["type"] as? String == "Hard")
            try await charger.send(#"[3,"\#(uniqueID1)",{"status":"Accepted"}]"#)
            let call2 = try parse(try await charger.nextText())
            #expect(call2[2] as? String == "GetConfiguration")
            try await charger.send(
                #"[3,"\#(call2[1] as! String)",{"configurationKey":[{"key":"HeartbeatInterval","readonly":false,"value":"300"}]}]"#
            )
        } else {
            #expect(call1[2] as? String == "GetConfiguration")
            try await charger.send(
                #"[3,"\#(uniqueID1)",{"configurationKey":[{"key":"HeartbeatInterval","readonly":false,"value":"300"}]}]"#
            )
            let call2 = try parse(try await charger.nextText())
            try await charger.send(#"[3,"\#(call2[1] as! String)",{"status":"Accepted"}]"#)
        }
        #expect(try await first.value.status == .accepted)
        #expect(try await second.value.configurationKey?.first?.value == "300")
        await charger.close()
        await server.stop()
    }

    @Test("Calls fail clearly: not connected, invalid request, CALLERROR, timeout, bad confirmation, closed connection")
    func callFailures() async throws {
        // The default timeout (30 s): on a saturated test machine a 5 s one could expire before
        // the test charger's answer arrives. The timeout itself runs on an impatient server below.
        let server = try await IngestTestServer.start()
        let id = try ChargePointID("CP-FAIL")
        await #expect(throws: ChargePointCallError.notConnected(id)) {
            _ = try await server.ingest.call(ResetRequest(type: .soft), to: id)
        }
        let charger = try await server.connect("CP-FAIL")
        _ = try await charger.call("1", "Heartbeat", "{}")
        do {
            _ = try await server.ingest.call(
                ChangeConfigurationRequest(key: String(repeating: "k", count: 51), value: "1"),
                to: id
            )
            Issue.record("an invalid request must not be sent")
        } catch {
            guard case .invalidRequest = error else { throw error }
        }
        #expect(!charger.hasEvent)

        let refused = Task { try await server.ingest.call(ResetRequest(type: .soft), to: id) }
        let call = try parse(try await charger.nextText())
        try await charger.send(#"[4,"\#(call[1] as! String)","NotSupported","no resets here",{}]"#)
        do {
            _ = try await refused.value
            Issue.record("a CALLERROR must fail the call")
        } catch let error as ChargePointCallError {
            guard case .callError(let callError) = error else { throw error }
            #expect(callError.code == .notSupported)
            #expect(callError.errorDescription == "no resets here")
        }

        // A call nobody answers times out (to the tick, in virtual time, in
        // ConnectionHandlerTests.callTimeouts); end to end here on a server with a 1 s timeout.
        let impatient = try await IngestTestServer.start(IngestConfiguration(callTimeout: 1))
        let silent = try await impatient.connect("CP-SILENT")
        _ = try await silent.call("1", "Heartbeat", "{}")
        let ignored = Task {
            try await impatient.ingest.call(ResetRequest(type: .soft), to: ChargePointID("CP-SILENT"))
        }
        _ = try await silent.nextText()
        await #expect(throws: ChargePointCallError.timedOut) { _ = try await ignored.value }
        await silent.close()
        await impatient.stop()

        let garbled = Task { try await server.ingest.call(ResetRequest(type: .soft), to: id) }
        let call3 = try parse(try await charger.nextText())
        try await charger.send(#"[3,"\#(call3[1] as! String)",{"status":"Maybe"}]"#)
        do {
            _ = try await garbled.value
            Issue.record("an invalid confirmation must fail the call")
        } catch let error as ChargePointCallError {
            guard case .invalidResponse = error else { throw error }
        }

        let orphaned = Task { try await server.ingest.call(ResetRequest(type: .soft), to: id) }
        _ = try await charger.nextText()
        try await charger.channel.close()
        await #expect(throws: ChargePointCallError.connectionClosed) { _ = try await orphaned.value }
        await server.stop()
    }

    @Test("Backpressure: with the writer held, the server stops reading; nothing is dropped; all is answered on resume")
    func backpressure() async throws {
        let server = try await IngestTestServer.start(IngestConfiguration(queueCapacity: 16))
        let charger = try await server.connect("CP-PRESSURE")
        _ = try await charger.call("0", "Heartbeat", "{}")
        server.ingest.pauseWriter()
        // Send until the client cannot write any more: the server has stopped reading (had it
        // kept reading into memory, the client would stay writable).
        var sent = 0
        let deadline = ContinuousClock.now + .seconds(60)
        while charger.channel.isWritable {
            guard ContinuousClock.now < deadline, sent < 2_000_000 else {
                Issue.record("the server kept reading \(sent) messages while its writer was held")
                break
            }
            for _ in 0..<200 {
                sent += 1
                var frame = WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: Self.meterValues(sent)))
                frame.maskKey = .random()
                charger.channel.write(frame, promise: nil)
            }
            charger.channel.flush()
            try await Task.sleep(for: .milliseconds(5))
        }
        // Nothing was answered while the writer was held.
        #expect(!charger.hasEvent)
        server.ingest.resumeWriter()
        var answered = Set<Int>()
        while answered.count < sent {
            let text: String
            do {
                text = try await charger.nextText(timeout: .seconds(60))
            } catch {
                Issue.record("\(answered.count) of \(sent) answered")
                throw error
            }
            let answer = try parse(text)
            #expect(answer[0] as? Int == 3)
            answered.insert(Int(answer[1] as! String)!)
        }
        #expect(answered == Set(1...sent))
        #expect(try server.rows("CP-PRESSURE").count == sent * 2)
        await charger.close()
        await server.stop()
    }

    @Test("durable(_:) waits for room in a full queue without taking it, and returns once the rows are stored")
    func durableWaitsForRoom() async throws {
        let server = try await IngestTestServer.start(IngestConfiguration(queueCapacity: 2))
        let writer = server.ingest.services.events
        writer.pause()
        let count = 20
        let done = Completions()
        let writes = (1...count).map { index in
            Task {
                let series = SeriesKey(
                    chargePointID: "CP-DURABLE",
                    connectorID: 1,
                    kind: .sample,
                    measurand: "Energy.Active.Import.Register"
                )
                try await writer.durable([
                    EventRow(series: series, timestamp: 1_767_225_600_000 + Int64(index), value: .number(Double(index)))
                ])
                done.count.add(1, ordering: .relaxed)
            }
        }
        // Two in the queue, the rest waiting for room; none is durable while the writer is held.
        try await server.eventually("the queue is full") { writer.queue.approximateCount == writer.queue.capacity }
        #expect(done.count.load(ordering: .relaxed) == 0)
        #expect(try server.rows("CP-DURABLE").isEmpty)
        writer.resume()
        for write in writes { try await write.value }
        #expect(done.count.load(ordering: .relaxed) == count)
        #expect(try server.rows("CP-DURABLE").map { Int($0.value.number ?? 0) }.sorted() == Array(1...count))
        await server.stop()
    }

    @Test("Graceful shutdown answers what was received, then closes the WebSockets with 1001")
    func gracefulShutdown() async throws {
        let server = try await IngestTestServer.start()
        let charger = try await server.connect("CP-STOP")
        _ = try await charger.call("0", "Heartbeat", "{}")
        server.ingest.pauseWriter()
        for index in 1...50 { try await charger.send(Self.meterValues(index)) }
        try await server.eventually("the server has read the messages") {
            server.ingest.services.events.queue.approximateCount >= 50
        }
        let stopping = Task { await server.stop(keepFiles: true) }
        try await Task.sleep(for: .milliseconds(200))
        server.ingest.resumeWriter()
        var answered = 0
        while true {
            switch try await charger.next(timeout: .seconds(30)) {
            case .text(let text):
                #expect(try parse(text)[0] as? Int == 3)
                answered += 1
            case .close(let code):
                #expect(code == 1001)
                #expect(answered == 50)
                await stopping.value
                let reopened = try TimeSeriesStore(directory: server.directory.appendingPathComponent("data").path)
                let rows = try reopened.query(EventQuery(chargePointIDs: ["CP-STOP"], limit: 1000)).rows
                #expect(rows.count == 100)
                reopened.close()
                try? FileManager.default.removeItem(at: server.directory)
                return
            case .disconnected:
                Issue.record("disconnected without a close frame after \(answered) answers")
                return
            }
        }
    }

    static func meterValues(_ index: Int) -> String {
        let time = OCPPTimestamp(millisecondsSince1970: 1_767_225_600_000 + Int64(index) * 1000)
        return #"[2,"\#(index)","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"\#(time)","#
            + #""sampledValue":[{"value":"\#(index)"},{"value":"7.2","measurand":"Power.Active.Import","unit":"kW"}]}]}]"#
    }
}

/// How many writes have returned.
private final class Completions: Sendable {
    let count = Atomic<Int>(0)
}
