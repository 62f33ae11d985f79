import Foundation
import TestSupport

/// The real `ocpp-server` executable on an ephemeral port, with its data in `directory`.
struct ServerProcess {
    let process: Process
    let port: Int
    /// An admin bearer token for the REST API, made with `ocpp-server token create`.
    let token: String
    /// Finishes when the process has ended.
    private let exited: AsyncStream<Void>

    /// Starts the server; `DATA_DIR` and an SQLite database go in `directory`. Its output is
    /// dropped unless `OCPP_TEST_SERVER_LOGS` names a directory to write each server's log into
    /// (`OCPP_TEST_SERVER_LOG_LEVEL` sets its level), for looking into a failure.
    /// - Parameters:
    ///   - settings: More environment variables for the server.
    ///   - port: The port to listen on (a free one by default).
    ///   - logFile: Where its output goes, overriding `OCPP_TEST_SERVER_LOGS`.
    static func start(
        in directory: URL,
        logLevel: String = "error",
        settings: [String: String] = [:],
        port: Int? = nil,
        logFile: String? = nil
    ) throws -> ServerProcess {
        let port = try port ?? freePort()
        let environment = ProcessInfo.processInfo.environment.merging([
            "DATA_DIR": directory.appendingPathComponent("data").path,
            "DATABASE_URL": "sqlite:///\(directory.appendingPathComponent("store.db").path)",
            "LOG_LEVEL": ProcessInfo.processInfo.environment["OCPP_TEST_SERVER_LOG_LEVEL"] ?? logLevel,
            // The metrics tests scrape /metrics as Prometheus would, without a token.
            "METRICS_PUBLIC": "true",
        ]) { _, new in new }.merging(settings) { _, new in new }
        let creator = Process()
        creator.executableURL = builtExecutable()
        creator.arguments = ["token", "create", "--role", "admin", "--name", "tests"]
        creator.environment = environment
        let output = Pipe()
        creator.standardOutput = output
        creator.standardError = FileHandle.nullDevice
        try creator.run()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        creator.waitUntilExit()
        guard creator.terminationStatus == 0, let token = printed.split(separator: "\n").last else {
            throw TestFailure("ocpp-server token create failed: \(printed)")
        }
        let process = Process()
        process.executableURL = builtExecutable()
        process.arguments = ["serve", "--host", "127.0.0.1", "--port", "\(port)"]
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        if let logs = ProcessInfo.processInfo.environment["OCPP_TEST_SERVER_LOGS"] {
            let path = "\(logs)/server-\(UUID().uuidString).log"
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: path)
        }
        if let logFile {
            _ = FileManager.default.createFile(atPath: logFile, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: logFile)
        }
        let (exited, ended) = AsyncStream<Void>.makeStream()
        process.terminationHandler = { _ in ended.finish() }
        try process.run()
        return ServerProcess(process: process, port: port, token: String(token), exited: exited)
    }

    /// Connects a charger once the server listens (within a minute).
    func connect(_ id: String) async throws -> TestChargePoint {
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            do {
                return try await TestChargePoint.connect(port: port, id: id)
            } catch {
                guard ContinuousClock.now < deadline, process.isRunning else { throw error }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    /// Waits until the process has ended (once per process).
    /// - Throws: `TestFailure` when it still runs after `timeout`.
    func waitUntilExit(timeout: Duration = .seconds(60)) async throws {
        let exited = self.exited
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { for await _ in exited {} }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw TestFailure("the server still runs after \(timeout)")
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Ends the process with SIGKILL if it still runs.
    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }
}
