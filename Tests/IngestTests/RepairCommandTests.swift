import Foundation
import TestSupport
import Testing
import TimeSeries

/// `ocpp-server` on a damaged time-series store: it refuses to start and says what to do;
/// `ocpp-server repair` sets the damage aside; the server then starts with every readable row.
@Suite("Repair command")
struct RepairCommandTests {
    /// Runs the executable to its end (within a minute) and returns its status and output.
    static func run(_ arguments: [String], environment: [String: String]) async throws -> (Int32, String, String) {
        let process = Process()
        process.executableURL = builtExecutable()
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        let (exited, ended) = AsyncStream<Void>.makeStream()
        process.terminationHandler = { _ in ended.finish() }
        try process.run()
        async let printed = Task.detached { output.fileHandleForReading.readDataToEndOfFile() }.value
        async let logged = Task.detached { errors.fileHandleForReading.readDataToEndOfFile() }.value
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { for await _ in exited {} }
            group.addTask {
                try await Task.sleep(for: .seconds(60))
                throw TestFailure("ocpp-server \(arguments) still runs after a minute")
            }
            try await group.next()
            group.cancelAll()
        }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        return (
            process.terminationStatus, String(decoding: await printed, as: UTF8.self),
            String(decoding: await logged, as: UTF8.self)
        )
    }

    @Test("The server refuses a damaged store naming file and offset; repair fixes it; the server then starts")
    func refuseRepairStart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ocpp-repair-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let dataDirectory = directory.appendingPathComponent("data").path
        let series = SeriesKey(chargePointID: "CP-REPAIR", connectorID: 1, kind: .sample, measurand: "Voltage")
        func rows(_ range: Range<Int>) -> [EventRow] {
            range.map {
                EventRow(series: series, timestamp: 1_714_521_600_000 + Int64($0) * 1000, value: .number(Double($0)))
            }
        }
        var store = try TimeSeriesStore(directory: dataDirectory)
        for batch in 0..<3 { try store.appendBlocking(rows(batch * 10..<batch * 10 + 10)) }
        store.close()
        let wal =
            dataDirectory + "/wal/" + (try FileManager.default.contentsOfDirectory(atPath: dataDirectory + "/wal")[0])
        var bytes = try Data(contentsOf: URL(fileURLWithPath: wal))
        let second = 8 + bytes[0..<4].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        bytes[second + 12] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: wal))

        let environment = [
            "DATA_DIR": dataDirectory,
            "DATABASE_URL": "sqlite:///\(directory.appendingPathComponent("store.db").path)",
            "LOG_LEVEL": "error",
        ]
        let (status, _, refusal) = try await Self.run(
            ["serve", "--host", "127.0.0.1", "--port", "0"],
            environment: environment
        )
        #expect(status != 0)
        #expect(refusal.contains("\(wal) is damaged at byte \(second)"), "\(refusal)")
        #expect(refusal.contains("ocpp-server repair"), "\(refusal)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: wal)) == bytes)

        let (repaired, report, _) = try await Self.run(["repair"], environment: environment)
        #expect(repaired == 0)
        #expect(report.contains("\(wal) (bytes \(second)..<"), "\(report)")
        #expect(report.contains(dataDirectory + "/quarantine/"), "\(report)")

        let server = try ServerProcess.start(in: directory)
        defer { server.kill() }
        _ = try await server.connect("CP-AFTER-REPAIR")
        kill(server.process.processIdentifier, SIGTERM)
        try await server.waitUntilExit()
        store = try TimeSeriesStore(directory: dataDirectory)
        defer { store.close() }
        #expect(
            try store.query(EventQuery(chargePointIDs: ["CP-REPAIR"], limit: 100)).rows == rows(0..<10) + rows(20..<30)
        )
    }
}
