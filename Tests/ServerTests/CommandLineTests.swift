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
    // MARK: - Security settings

    @Test("OCPP_DEFAULT_SECURITY_PROFILE must be 0 to 3")
    func defaultSecurityProfile() throws {
        let bad = try run(
            ["migrate"],
            environment: ["OCPP_DEFAULT_SECURITY_PROFILE": "4", "DATABASE_URL": "sqlite://:memory:"]
        )
        #expect(bad.status != 0)
        #expect(bad.output.contains("OCPP_DEFAULT_SECURITY_PROFILE '4' is not 0, 1, 2 or 3"), "\(bad.output)")
        let good = try run(
            ["migrate"],
            environment: ["OCPP_DEFAULT_SECURITY_PROFILE": "3", "DATABASE_URL": "sqlite://:memory:"]
        )
        #expect(good.status == 0, "\(good.output)")
    }

    @Test("TLS and charger CA files come in pairs, must be readable and valid, and are named in the error")
    func tlsSettings() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (certificate, key) = try selfSignedCertificate(in: directory, name: "server")
        let garbage = directory.appendingPathComponent("garbage.pem").path
        try "not PEM".write(toFile: garbage, atomically: true, encoding: .utf8)
        let base = ["DATABASE_URL": "sqlite://:memory:"]
        let cases: [([String: String], String)] = [
            (["TLS_CERT_FILE": certificate], "TLS_CERT_FILE is set but TLS_KEY_FILE is not"),
            (["TLS_KEY_FILE": key], "TLS_KEY_FILE is set but TLS_CERT_FILE is not"),
            (["TLS_PORT": "8443"], "TLS_PORT is set but TLS_CERT_FILE and TLS_KEY_FILE are not"),
            (["TLS_CLIENT_CA_FILE": certificate], "TLS_CLIENT_CA_FILE is set but TLS_CERT_FILE"),
            (["TLS_CERT_FILE": "/nonexistent/cert.pem", "TLS_KEY_FILE": key], "TLS_CERT_FILE '/nonexistent/cert.pem'"),
            (["TLS_CERT_FILE": garbage, "TLS_KEY_FILE": key], "TLS_CERT_FILE '\(garbage)' holds no"),
            (["TLS_CERT_FILE": certificate, "TLS_KEY_FILE": garbage], "TLS_KEY_FILE '\(garbage)'"),
            (
                ["TLS_CERT_FILE": certificate, "TLS_KEY_FILE": key, "TLS_CLIENT_CA_FILE": garbage],
                "TLS_CLIENT_CA_FILE '\(garbage)'"
            ),
            (["TLS_CERT_FILE": certificate, "TLS_KEY_FILE": key, "TLS_PORT": "http"], "TLS_PORT 'http'"),
            (
                ["TLS_CERT_FILE": certificate, "TLS_KEY_FILE": key, "TLS_PORT": "8000"],
                "TLS_PORT 8000 is the same as PORT"
            ),
            (["OCPP_CHARGER_CA_CERT_FILE": certificate], "OCPP_CHARGER_CA_KEY_FILE"),
            (
                ["OCPP_CHARGER_CA_CERT_FILE": "/nonexistent/ca.pem", "OCPP_CHARGER_CA_KEY_FILE": key],
                "/nonexistent/ca.pem"
            ),
        ]
        for (environment, message) in cases {
            let result = try run(["migrate"], environment: base.merging(environment) { _, new in new })
            #expect(result.status != 0, "\(environment)")
            #expect(result.output.contains(message), "\(environment): \(result.output)")
        }
        let valid = try run(
            ["migrate"],
            environment: base.merging([
                "TLS_CERT_FILE": certificate, "TLS_KEY_FILE": key, "TLS_CLIENT_CA_FILE": certificate,
            ]) { _, new in new }
        )
        #expect(valid.status == 0, "\(valid.output)")
    }

    @Test("serve listens with TLS, warns about profile 0 on a public address, and reloads on SIGHUP")
    func serveTLS() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (certificate, key) = try selfSignedCertificate(in: directory, name: "server")
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = ["serve"]
        process.environment = ProcessInfo.processInfo.environment.merging([
            "PORT": "\(try freePort())", "HOST": "0.0.0.0", "TLS_PORT": "\(try freePort())",
            "TLS_CERT_FILE": certificate, "TLS_KEY_FILE": key, "DATABASE_URL": "sqlite://:memory:",
            "DATA_DIR": directory.appendingPathComponent("data").path, "LOG_LEVEL": "info",
        ]) { _, new in new }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let output = ChildOutput(reading: pipe)
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        try await output.wait(for: "Listening with TLS", while: process)
        #expect(output.text.contains("get profile 0: anyone reaching the server can connect as them"))

        kill(process.processIdentifier, SIGHUP)
        try await output.wait(for: "Reloaded the TLS certificate", while: process)
        try "not a key".write(toFile: key, atomically: true, encoding: .utf8)
        kill(process.processIdentifier, SIGHUP)
        try await output.wait(for: "Reloading the TLS certificate failed", while: process)
        #expect(process.isRunning)
    }

    @Test("A refused charger is logged with its reason, never with its password or Authorization header")
    func refusalLog() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try freePort()
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = ["serve"]
        process.environment = ProcessInfo.processInfo.environment.merging([
            "PORT": "\(port)", "HOST": "127.0.0.1", "OCPP_DEFAULT_SECURITY_PROFILE": "1",
            "DATABASE_URL": "sqlite://:memory:", "DATA_DIR": directory.appendingPathComponent("data").path,
            "LOG_LEVEL": "trace",
        ]) { _, new in new }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let output = ChildOutput(reading: pipe)
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        try await output.wait(for: "Listening", while: process)
        let password = "TopSecretPassword1234"
        let credentials = Data("CP-LOG:\(password)".utf8).base64EncodedString()
        let answer = try await onOwnThread {
            try rawHTTP(
                port: port,
                "GET /ocpp/CP-LOG HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    + "Sec-WebSocket-Protocol: ocpp1.6\r\nAuthorization: Basic \(credentials)\r\n\r\n"
            )
        }
        #expect(answer.hasPrefix("HTTP/1.1 401"), "\(answer)")
        #expect(answer.contains(#"Basic realm="OCPP""#), "\(answer)")
        try await output.wait(for: "Refused a charger's connection", while: process)
        #expect(output.text.contains("unknown_charger"))
        #expect(!output.text.contains(password))
        #expect(!output.text.contains(credentials))
    }

    /// A self-signed EC P-256 certificate for `localhost` made with the openssl command.
    func selfSignedCertificate(in directory: URL, name: String) throws -> (certificate: String, key: String) {
        let certificate = directory.appendingPathComponent("\(name).crt.pem").path
        let key = directory.appendingPathComponent("\(name).key.pem").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", certificate, "-subj", "/CN=localhost", "-days", "1",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestFailure("openssl could not make a certificate") }
        return (certificate, key)
    }
}

/// Sends `request` over a new TCP connection to 127.0.0.1 and returns everything the server
/// answers until it closes the connection (blocking: run it on a thread of its own).
func rawHTTP(port: Int, _ request: String) throws -> String {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw TestFailure("socket() failed") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    let connected = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
    guard connected else { throw TestFailure("connect() failed") }
    let bytes = Array(request.utf8)
    var sent = 0
    while sent < bytes.count {
        let count = bytes[sent...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { throw TestFailure("send() failed") }
        sent += count
    }
    var answer: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { break }
        answer += buffer[..<count]
    }
    return String(decoding: answer, as: UTF8.self)
}
