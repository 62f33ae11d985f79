import Foundation
import TestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The `ocpp-server` executable, run as a child process.
@Suite("Command line", .serialized)
struct CommandLineTests {
    /// The built executable: in `OCPP_BIN_DIR`, or the debug build beside the package.
    static var binary: URL { builtExecutable() }

    struct Run {
        var status: Int32
        var output: String
    }

    /// Runs the executable to completion.
    func run(_ arguments: [String], environment: [String: String] = [:], in directory: URL? = nil) throws -> Run {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        if let directory { process.currentDirectoryURL = directory }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }

    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ocpp-server-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("The executable is built")
    func executableExists() {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary.path), "missing \(Self.binary.path)")
    }

    @Test("--help lists serve and migrate")
    func help() throws {
        let result = try run(["--help"])
        #expect(result.status == 0)
        #expect(result.output.contains("serve"))
        #expect(result.output.contains("migrate"))
    }

    @Test("An unsupported DATABASE_URL scheme is refused at start, naming the supported ones")
    func unsupportedDatabase() throws {
        let result = try run(["serve"], environment: ["DATABASE_URL": "mysql://root@localhost/ocpp"])
        #expect(result.status != 0)
        #expect(result.output.contains("sqlite://"))
        #expect(result.output.contains("postgres://"))
        #expect(result.output.contains("postgresql://"))
    }

    @Test("A flag overrides the environment")
    func flagOverridesEnvironment() throws {
        let result = try run(
            ["serve", "--database-url", "mysql://x@y/z"],
            environment: ["DATABASE_URL": "sqlite://:memory:"]
        )
        #expect(result.status != 0)
        #expect(result.output.contains("'mysql' is not supported"))
    }

    @Test("An unknown LOG_LEVEL is refused; Python's names are accepted in any case")
    func logLevel() throws {
        let bad = try run(["migrate"], environment: ["LOG_LEVEL": "LOUD", "DATABASE_URL": "sqlite://:memory:"])
        #expect(bad.status != 0)
        #expect(bad.output.contains("LOG_LEVEL 'LOUD'"))
        let good = try run(["migrate"], environment: ["LOG_LEVEL": "warning", "DATABASE_URL": "sqlite://:memory:"])
        #expect(good.status == 0, "\(good.output)")
    }

    @Test("migrate brings an SQLite file up to date; a second run applies nothing")
    func migrateSQLite() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let environment = ["DATABASE_URL": "sqlite:///ocpp.db", "LOG_LEVEL": "info"]
        let first = try run(["migrate"], environment: environment, in: directory)
        #expect(first.status == 0, "\(first.output)")
        #expect(first.output.contains("Relational schema migrated"))
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("ocpp.db").path))
        let second = try run(["migrate"], environment: environment, in: directory)
        #expect(second.status == 0, "\(second.output)")
        #expect(second.output.contains("Relational schema is up to date"))
    }

    @Test("migrate runs against the real PostgreSQL of the test command")
    func migratePostgres() throws {
        let url = try #require(
            ProcessInfo.processInfo.environment["OCPP_TEST_POSTGRES_URL"],
            "OCPP_TEST_POSTGRES_URL is not set: run ./scripts/test.sh"
        )
        let result = try run(["migrate", "--database-url", url])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("Relational schema"))
    }

    @Test("An unreachable database is a clear error at start")
    func unreachableDatabase() throws {
        let result = try run(["migrate"], environment: ["DATABASE_URL": "sqlite:////nonexistent-directory/ocpp.db"])
        #expect(result.status != 0)
        #expect(result.output.contains("cannot open SQLite database"))
    }

    @Test("serve answers GET /health on the configured port, using the embedded defaults otherwise")
    func serveHealth() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try freePort()
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = []
        process.environment = ProcessInfo.processInfo.environment.merging(["PORT": "\(port)", "HOST": "127.0.0.1"]) {
            _,
            new in new
        }
        process.currentDirectoryURL = directory
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }

        let url = URL(string: "http://127.0.0.1:\(port)/health")!
        var status = 0
        for _ in 0..<100 where status != 200 {
            if let (_, response) = try? await URLSession.shared.data(from: url) {
                status = (response as? HTTPURLResponse)?.statusCode ?? 0
            } else {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(status == 200)
        // The embedded defaults: the SQLite file and the data directory in the working directory.
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("ocpp_server.db").path))
        var isDirectory: ObjCBool = false
        #expect(
            FileManager.default.fileExists(
                atPath: directory.appendingPathComponent("data").path,
                isDirectory: &isDirectory
            )
        )
        #expect(isDirectory.boolValue)
    }
}
