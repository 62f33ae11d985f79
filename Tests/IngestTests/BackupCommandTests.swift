import Foundation
import Synchronization
import TestSupport
import Testing
import TimeSeries

/// `ocpp-server backup` against the real executable while it serves a charger, then
/// `ocpp-server restore` into an empty DATA_DIR and a server on it: every value acknowledged
/// before the backup started reads back over REST, and so do the charger and its session.
@Suite("Backup command")
struct BackupCommandTests {
    static func environment(_ directory: URL, database: String? = nil) -> [String: String] {
        [
            "DATA_DIR": directory.appendingPathComponent("data").path,
            "DATABASE_URL": database ?? "sqlite:///\(directory.appendingPathComponent("store.db").path)",
            "LOG_LEVEL": "error",
        ]
    }

    static func meterValues(_ index: Int, transactionID: Int) -> String {
        let time = OCPPTimestampText.format(CrashTests.timestamp(index))
        return #"[2,"\#(index)","MeterValues",{"connectorId":1,"transactionId":\#(transactionID),"meterValue":"#
            + #"[{"timestamp":"\#(time)","sampledValue":[{"value":"\#(index)"}]}]}]"#
    }

    /// Every Energy.Active.Import.Register value of the charger with database id `id`, page by page.
    static func energyValues(_ server: ServerProcess, charger id: Int) async throws -> [Int] {
        var values: [Int] = []
        var cursor: String?
        repeat {
            let response = try await CommandEndpointTests.http(
                server.port,
                "GET",
                "/db/chargers/\(id)/meter-values?measurand=Energy.Active.Import.Register&limit=1000"
                    + (cursor.map { "&cursor=\($0)" } ?? ""),
                token: server.token
            )
            guard response.status == 200 else { throw TestFailure("meter values: \(response.status) \(response.body)") }
            let page = try object(response.json as Any)
            values += (page["items"] as? [[String: Any]] ?? []).compactMap { ($0["value"] as? Double).map { Int($0) } }
            cursor = page["next_cursor"] as? String
        } while cursor != nil
        return values
    }

    /// The charger's JSON, found by its charge point id.
    static func charger(_ server: ServerProcess, _ chargePointID: String) async throws -> [String: Any]? {
        let response = try await CommandEndpointTests.http(
            server.port,
            "GET",
            "/db/chargers?charge_point_id=\(chargePointID)",
            token: server.token
        )
        guard response.status == 200 else { throw TestFailure("chargers: \(response.status) \(response.body)") }
        return try (object(response.json as Any)["items"] as? [Any])?.first.map { try object($0) }
    }

    /// Set once the backup process has ended.
    final class Finished: Sendable {
        let value = Atomic(false)
    }

    @Test("A backup taken mid-ingest restores into an empty DATA_DIR with every value acknowledged before it")
    func backupMidIngestAndRestore() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ocpp-backup-\(UUID().uuidString)")
        let live = root.appendingPathComponent("live")
        let restored = root.appendingPathComponent("restored")
        let backup = root.appendingPathComponent("backup").path
        try FileManager.default.createDirectory(at: live, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let settings = ["OCPP_ACCEPT_UNKNOWN_ID_TAGS": "true"]

        // A first run whose rows a flush puts in segments (the server flushes only full or old
        // memtables), so that the backup holds segments and log files.
        var sent = 0
        var acknowledged = Set<Int>()
        var server = try ServerProcess.start(in: live, settings: settings)
        var charger = try await server.connect("CP-BACKUP")
        _ = try await charger.call("boot", "BootNotification", #"{"chargePointVendor":"A","chargePointModel":"B"}"#)
        let start = try await charger.call(
            "start",
            "StartTransaction",
            #"{"connectorId":1,"idTag":"TAG-B","meterStart":0,"timestamp":"2026-01-01T00:00:00Z"}"#
        )
        let transactionID = try #require(try object(start[2])["transactionId"] as? Int)
        for _ in 0..<50 {
            sent += 1
            let answer = try await charger.call(
                "\(sent)",
                "MeterValues",
                Self.meterValues(sent, transactionID: transactionID)
            )
            if answer[0] as? Int == 3 { acknowledged.insert(sent) }
        }
        kill(server.process.processIdentifier, SIGTERM)
        try await server.waitUntilExit()
        let store = try TimeSeriesStore(directory: live.appendingPathComponent("data").path)
        try store.flush()
        store.close()

        server = try ServerProcess.start(in: live, settings: settings)
        defer { server.kill() }
        charger = try await server.connect("CP-BACKUP")
        // A repair and a second server are refused while this one runs.
        let (refusedRepair, _, repairMessage) = try await RepairCommandTests.run(
            ["repair"],
            environment: Self.environment(live)
        )
        #expect(refusedRepair != 0 && repairMessage.contains("in use by another process"), "\(repairMessage)")
        let (refusedServer, _, serverMessage) = try await RepairCommandTests.run(
            ["serve", "--host", "127.0.0.1", "--port", "0"],
            environment: Self.environment(live)
        )
        #expect(refusedServer != 0 && serverMessage.contains("in use by another process"), "\(serverMessage)")

        var before: Set<Int> = []
        let finished = Finished()
        var backupTask: Task<(Int32, String, String), any Error>?
        var outstanding = 0
        while backupTask == nil || !finished.value.load(ordering: .relaxed) || outstanding > 0 {
            while outstanding < 16, !finished.value.load(ordering: .relaxed) {
                sent += 1
                try await charger.send(Self.meterValues(sent, transactionID: transactionID))
                outstanding += 1
            }
            guard outstanding > 0 else { continue }
            let answer = try parse(try await charger.nextText())
            outstanding -= 1
            #expect(answer[0] as? Int == 3, "\(answer)")
            if answer[0] as? Int == 3, let index = Int(answer[1] as? String ?? "") { acknowledged.insert(index) }
            if backupTask == nil, acknowledged.count >= 300 {
                before = acknowledged
                let environment = Self.environment(live)
                backupTask = Task {
                    defer { finished.value.store(true, ordering: .relaxed) }
                    return try await RepairCommandTests.run(["backup", backup], environment: environment)
                }
            }
        }
        let task = try #require(backupTask)
        let (status, printed, logged) = try await task.value
        #expect(status == 0, "\(logged)")
        #expect(printed.contains("segments hard-linked"), "\(printed)")
        #expect(acknowledged.count > before.count, "no value was acknowledged while the backup ran")
        await charger.close()
        kill(server.process.processIdentifier, SIGTERM)
        try await server.waitUntilExit()

        let manifest = try object(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: backup + "/manifest.json")))
        )
        let timeSeries = try object(manifest["timeSeries"] as Any)
        #expect(timeSeries["linkedSegments"] as? Int ?? 0 > 0)
        #expect(timeSeries["logRows"] as? Int ?? 0 > 0)
        #expect(try object(manifest["relational"] as Any)["kind"] as? String == "sqlite")

        try FileManager.default.createDirectory(at: restored, withIntermediateDirectories: true)
        let (restoredStatus, restoredText, restoreLog) = try await RepairCommandTests.run(
            ["restore", backup],
            environment: Self.environment(restored)
        )
        #expect(restoredStatus == 0, "\(restoreLog)")
        #expect(restoredText.contains("Restored the backup"), "\(restoredText)")

        let again = try ServerProcess.start(in: restored, settings: settings)
        defer { again.kill() }
        _ = try await again.connect("CP-PROBE")
        let chargerJSON = try #require(try await Self.charger(again, "CP-BACKUP"))
        let id = try #require(chargerJSON["id"] as? Int)
        let values = try await Self.energyValues(again, charger: id)
        let counted = Dictionary(values.map { ($0, 1) }, uniquingKeysWith: +)
        let missing = before.filter { counted[$0] == nil }
        #expect(missing.isEmpty, "acknowledged before the backup but not restored: \(missing.sorted().prefix(20))")
        #expect(counted.values.allSatisfy { $0 == 1 }, "values restored more than once")
        // 0: the register at the session's start (StartTransaction's meterStart).
        #expect(counted[0] == 1 && counted.keys.allSatisfy { (0...sent).contains($0) })
        let session = try await CommandEndpointTests.http(
            again.port,
            "GET",
            "/db/charge_sessions/\(transactionID)",
            token: again.token
        )
        #expect(session.status == 200, "\(session.body)")
        #expect(session.body.contains("TAG-B"), "\(session.body)")
        kill(again.process.processIdentifier, SIGTERM)
        try await again.waitUntilExit()
    }

    @Test(
        "Bad input: DIR not empty, DATA_DIR missing, no manifest, DATA_DIR not empty; PostgreSQL is said and left to pg_dump"
    )
    func badInput() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ocpp-backup-\(UUID().uuidString)")
        let live = root.appendingPathComponent("live")
        try FileManager.default.createDirectory(at: live, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let store = try TimeSeriesStore(directory: live.appendingPathComponent("data").path)
        try store.appendBlocking([
            EventRow(
                series: SeriesKey(chargePointID: "CP-1", connectorID: 1, kind: .sample),
                timestamp: 1,
                value: .number(1)
            )
        ])
        store.close()

        let occupied = root.appendingPathComponent("occupied").path
        try FileManager.default.createDirectory(atPath: occupied, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: URL(fileURLWithPath: occupied + "/notes.txt"))
        let postgres = "postgres://ocpp:secret@127.0.0.1:1/ocpp"
        var (status, _, message) = try await RepairCommandTests.run(
            ["backup", occupied],
            environment: Self.environment(live, database: postgres)
        )
        #expect(status != 0 && message.contains("is not empty"), "\(message)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: occupied) == ["notes.txt"])

        let target = root.appendingPathComponent("target").path
        (status, _, message) = try await RepairCommandTests.run(
            ["backup", target],
            environment: Self.environment(root.appendingPathComponent("missing"), database: postgres)
        )
        #expect(status != 0 && message.contains("does not exist"), "\(message)")
        #expect(!FileManager.default.fileExists(atPath: target))

        var printed: String
        (status, printed, message) = try await RepairCommandTests.run(
            ["backup", target],
            environment: Self.environment(live, database: postgres)
        )
        #expect(status == 0, "\(message)")
        #expect(printed.contains("pg_dump") && !printed.contains("secret"), "\(printed)")
        #expect(FileManager.default.fileExists(atPath: target + "/manifest.json"))
        #expect(!FileManager.default.fileExists(atPath: target + "/relational.sqlite"))

        (status, _, message) = try await RepairCommandTests.run(
            ["restore", occupied],
            environment: Self.environment(root)
        )
        #expect(status != 0 && message.contains("holds no manifest.json"), "\(message)")
        (status, _, message) = try await RepairCommandTests.run(
            ["restore", target],
            environment: Self.environment(live)
        )
        #expect(status != 0 && message.contains("is not empty"), "\(message)")

        let fresh = root.appendingPathComponent("fresh")
        (status, printed, message) = try await RepairCommandTests.run(
            ["restore", target],
            environment: Self.environment(fresh)
        )
        #expect(status == 0, "\(message)")
        #expect(printed.contains("pg_restore"), "\(printed)")
        let restoredStore = try TimeSeriesStore(directory: fresh.appendingPathComponent("data").path)
        defer { restoredStore.close() }
        #expect(try restoredStore.query(EventQuery(chargePointIDs: ["CP-1"], limit: 10)).rows.count == 1)

        // A backup of an older segment format restores (this build reads it); a newer one is refused.
        let manifestPath = target + "/manifest.json"
        let written = try String(contentsOfFile: manifestPath, encoding: .utf8)
        let current = "\"segmentFormatVersion\" : \(TimeSeriesBackup.segmentFormatVersion)"
        #expect(written.contains(current), "\(written)")
        for (version, restores) in [(TimeSeriesBackup.segmentFormatVersion - 1, true), (99, false)] {
            try written.replacingOccurrences(of: current, with: "\"segmentFormatVersion\" : \(version)")
                .write(toFile: manifestPath, atomically: true, encoding: .utf8)
            (status, _, message) = try await RepairCommandTests.run(
                ["restore", target],
                environment: Self.environment(root.appendingPathComponent("format-\(version)"))
            )
            if restores {
                #expect(status == 0, "\(message)")
            } else {
                #expect(status != 0 && message.contains("segment format 99"), "\(message)")
            }
        }
    }
}
