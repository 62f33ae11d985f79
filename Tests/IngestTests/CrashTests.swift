import Foundation
import Logging
import Relational
import TestSupport
import Testing
import TimeSeries

/// The durability contract against the real executable: SIGKILL at a random moment while
/// MeterValues stream in at full speed, restart, and every acknowledged sampled value is
/// there exactly once; SIGTERM instead shuts it down gracefully, losing nothing either.
@Suite("Crash")
struct CrashTests {
    @Test("SIGKILL mid-stream loses no acknowledged sampled value, over several rounds")
    func killAndRestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ocpp-crash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let dataDirectory = directory.appendingPathComponent("data").path
        var acknowledged = Set<Int>()
        var sent = 0
        let window = 64
        for round in 0..<4 {
            let server = try ServerProcess.start(in: directory)
            let process = server.process
            defer { server.kill() }

            let charger = try await server.connect("CP-CRASH")
            let killAt = ContinuousClock.now + .milliseconds(Int.random(in: 300...1200))
            var outstanding = 0
            var killed = false
            receiving: while true {
                while !killed, outstanding < window {
                    sent += 1
                    try await charger.send(Self.meterValues(sent))
                    outstanding += 1
                }
                if !killed, ContinuousClock.now >= killAt {
                    kill(process.processIdentifier, SIGKILL)
                    killed = true
                }
                switch try await charger.next(timeout: .seconds(30)) {
                case .text(let text):
                    let answer = try parse(text)
                    #expect(answer[0] as? Int == 3, "round \(round): \(text)")
                    if answer[0] as? Int == 3, let index = Int(answer[1] as? String ?? "") {
                        acknowledged.insert(index)
                    }
                    outstanding -= 1
                case .close, .disconnected:
                    break receiving
                }
            }
            try await server.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal, "round \(round): the server was not killed")
        }
        #expect(acknowledged.count > 100, "too few messages were acknowledged to test anything")
        print("crash test: \(acknowledged.count) of \(sent) messages acknowledged over 4 kills")

        var stored: [Int: Int] = [:]
        for row in try Self.energySamples(of: "CP-CRASH", in: dataDirectory) {
            let index = Int(row.value.number ?? -1)
            #expect(row.timestamp == Self.timestamp(index), "a row that no message carried: \(row)")
            stored[index, default: 0] += 1
        }
        let missing = acknowledged.filter { stored[$0] == nil }
        #expect(missing.isEmpty, "acknowledged but lost: \(missing.sorted().prefix(20))")
        #expect(stored.values.allSatisfy { $0 == 1 }, "some samples are stored more than once")
        #expect(stored.keys.allSatisfy { (1...sent).contains($0) })
    }

    @Test("SIGTERM mid-stream: answers what was read, closes with 1001, flushes, exits 0; nothing acknowledged is lost")
    func terminate() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ocpp-term-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServerProcess.start(in: directory)
        defer { server.kill() }
        let charger = try await server.connect("CP-TERM")
        let boot = try await charger.call(
            "boot",
            "BootNotification",
            #"{"chargePointVendor":"A","chargePointModel":"B"}"#
        )
        #expect(try object(boot[2])["status"] as? String == "Accepted")
        _ = try await charger.call("s1", "StatusNotification", Self.status("Charging"))

        var acknowledged = Set<Int>()
        var statusAcknowledged = false
        var sent = 0
        var outstanding = 0
        var closeCode: UInt16?
        let terminateAt = ContinuousClock.now + .milliseconds(Int.random(in: 300...800))
        var terminated = false
        receiving: while true {
            while !terminated, outstanding < 64 {
                sent += 1
                try await charger.send(Self.meterValues(sent))
                outstanding += 1
            }
            if !terminated, ContinuousClock.now >= terminateAt {
                // The connector's status, read in the same moment: the coalescer's last flush
                // must write it.
                try await charger.send(#"[2,"s2","StatusNotification",\#(Self.status("Finishing"))]"#)
                kill(server.process.processIdentifier, SIGTERM)
                terminated = true
            }
            switch try await charger.next(timeout: .seconds(30)) {
            case .text(let text):
                let answer = try parse(text)
                #expect(answer[0] as? Int == 3, "\(text)")
                guard answer[0] as? Int == 3, let id = answer[1] as? String else { continue }
                if id == "s2" {
                    statusAcknowledged = true
                } else if let index = Int(id) {
                    acknowledged.insert(index)
                    outstanding -= 1
                }
            case .close(let code):
                closeCode = code
                break receiving
            case .disconnected:
                break receiving
            }
        }
        try await server.waitUntilExit()
        #expect(server.process.terminationReason == .exit)
        #expect(server.process.terminationStatus == 0)
        #expect(closeCode == 1001)
        #expect(!acknowledged.isEmpty)

        var stored: [Int: Int] = [:]
        for row in try Self.energySamples(of: "CP-TERM", in: directory.appendingPathComponent("data").path) {
            stored[Int(row.value.number ?? -1), default: 0] += 1
        }
        let missing = acknowledged.filter { stored[$0] == nil }
        #expect(missing.isEmpty, "acknowledged but lost: \(missing.sorted().prefix(20))")
        #expect(stored.values.allSatisfy { $0 == 1 }, "some samples are stored more than once")

        let database = directory.appendingPathComponent("store.db").path
        let relational = try await RelationalStore(url: .sqlite(.file(path: database)), logger: Logger(label: "term"))
        let connectors = try await relational.list(Connector.self, ListQuery(limit: 10)).items
        await relational.shutdown()
        if statusAcknowledged {
            #expect(connectors.first?.status == "Finishing", "the last status was acknowledged but not flushed")
        } else {
            #expect(["Charging", "Finishing"].contains(connectors.first?.status ?? ""))
        }
    }

    /// Every stored Energy.Active.Import.Register sample of `chargePointID`, read page by page
    /// from the time-series store in `directory` once the server has exited.
    static func energySamples(of chargePointID: String, in directory: String) throws -> [EventRow] {
        let store = try TimeSeriesStore(directory: directory)
        defer { store.close() }
        var rows: [EventRow] = []
        var cursor: EventCursor?
        repeat {
            let page = try store.query(
                EventQuery(
                    chargePointIDs: [chargePointID],
                    measurands: ["Energy.Active.Import.Register"],
                    limit: 10_000,
                    cursor: cursor
                )
            )
            rows += page.rows
            cursor = page.nextCursor
        } while cursor != nil
        return rows
    }

    static func status(_ status: String) -> String {
        #"{"connectorId":1,"errorCode":"NoError","status":"\#(status)"}"#
    }

    static func timestamp(_ index: Int) -> Int64 { 1_767_225_600_000 + Int64(index) * 1000 }

    static func meterValues(_ index: Int) -> String {
        let time = OCPPTimestampText.format(timestamp(index))
        return #"[2,"\#(index)","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":"\#(time)","#
            + #""sampledValue":[{"value":"\#(index)"},{"value":"11.5","measurand":"Power.Active.Import","unit":"kW"}]}]}]"#
    }
}

/// ISO 8601 text of milliseconds since 1970, as chargers send it.
enum OCPPTimestampText {
    static func format(_ milliseconds: Int64) -> String {
        let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
        return ISO8601DateFormatter.withFractionalSeconds.string(from: date)
    }
}
