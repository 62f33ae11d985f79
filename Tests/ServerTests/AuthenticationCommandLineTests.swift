import Foundation
import Relational
import TestSupport
import Testing

/// The token commands, the first start's admin token and the authentication switch of the
/// real executable.
@Suite("Authentication on the command line", .serialized)
struct AuthenticationCommandLineTests {
    struct Run {
        var status: Int32
        var standardOutput: String
        var standardError: String
        var lines: [Substring] { standardOutput.split(separator: "\n") }
    }

    /// Runs the executable to completion, keeping its standard output apart.
    func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> Run {
        try await onOwnThread {
            let process = Process()
            process.executableURL = builtExecutable()
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
            let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("ocpp-stderr-\(UUID())")
            _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
            defer { try? FileManager.default.removeItem(at: errorFile) }
            let output = Pipe()
            process.standardOutput = output
            process.standardError = try FileHandle(forWritingTo: errorFile)
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return Run(
                status: process.terminationStatus,
                standardOutput: String(decoding: data, as: UTF8.self),
                standardError: (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
            )
        }
    }

    static var tokenPattern: Regex<Substring> { /ocpp_[A-Za-z0-9_-]{43}/ }

    /// A new, empty database of `backend`, as a `DATABASE_URL`, and a way to remove it.
    static func database(_ backend: TestBackend) async throws -> (url: String, drop: @Sendable () async throws -> Void)
    {
        let made = try await backend.makeDatabase()
        switch made.url {
        case .sqlite(.file(let path)):
            return ("sqlite:///\(path)", made.drop)
        case .postgres(let settings):
            let user = settings.user.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? settings.user
            let password = settings.password.map {
                ":" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0)
            }
            return (
                "postgres://\(user)\(password ?? "")@\(settings.host):\(settings.port)/\(settings.database)"
                    + "?sslmode=\(settings.sslMode.rawValue)",
                made.drop
            )
        case .sqlite(.memory):
            throw TestFailure("an in-memory database cannot be shared with a process")
        }
    }

    @Test("token create, list and revoke work on the configured database", arguments: TestBackend.allCases)
    func tokenCommands(backend: TestBackend) async throws {
        let database = try await Self.database(backend)
        defer { Task { try? await database.drop() } }
        let environment = ["DATABASE_URL": database.url, "LOG_LEVEL": "warning"]

        let created = try await run(
            ["token", "create", "--role", "analyst", "--name", "grafana", "--expires", "90d"],
            environment: environment
        )
        #expect(created.status == 0, "\(created.standardError)")
        let token = String(try #require(created.lines.last))
        #expect(token.wholeMatch(of: Self.tokenPattern) != nil, "\(created.standardOutput)")

        let store = try await RelationalStore(url: try DatabaseURL(database.url), logger: TestBackend.logger)
        do {
            let record = try #require(try await store.apiToken(hash: APITokenHash(token: token)))
            #expect(record.name == "grafana")
            #expect(record.role == "analyst")
            #expect(record.companyID == nil)
            let expiry = try #require(record.expiresAt).timeIntervalSinceNow
            #expect(abs(expiry - 90 * 86_400) < 3600)

            let company = try await store.create(Company.self, .init(name: "ACME"))
            let scoped = try await run(
                ["token", "create", "--role", "operator", "--company", "\(company.id)", "--database-url", database.url]
            )
            #expect(scoped.status == 0, "\(scoped.standardError)")
            let scopedToken = String(try #require(scoped.lines.last))
            #expect(try await store.apiToken(hash: APITokenHash(token: scopedToken))?.companyID == company.id)
            #expect(try await store.apiToken(hash: APITokenHash(token: scopedToken))?.name == "cli-operator")

            let refusals: [([String], String)] = [
                (["--role", "root"], "--role 'root' is not one of admin, operator, analyst, integration"),
                (["--role", "admin", "--expires", "5x"], "--expires '5x' is not a lifetime"),
                (["--role", "admin", "--expires", "0d"], "--expires '0d' is not a lifetime"),
                (["--role", "admin", "--company", "999999"], "refers to a row that does not exist"),
            ]
            for (arguments, message) in refusals {
                let refused = try await run(["token", "create"] + arguments, environment: environment)
                #expect(refused.status != 0, "\(arguments)")
                #expect(refused.standardError.contains(message), "\(arguments): \(refused.standardError)")
                #expect(refused.standardOutput.wholeMatch(of: /\s*/) != nil, "\(refused.standardOutput)")
            }

            let list = try await run(["token", "list"], environment: environment)
            #expect(list.status == 0, "\(list.standardError)")
            #expect(list.lines.count == 3, "\(list.standardOutput)")
            #expect(list.lines.first?.hasPrefix("ID") == true)
            let grafana = try #require(list.lines.first { $0.contains("grafana") })
            #expect(grafana.contains("analyst") && grafana.contains("active") && grafana.contains("any"))
            #expect(!list.standardOutput.contains(token) && !list.standardOutput.contains(scopedToken))
            #expect(!list.standardOutput.contains(APITokenHash(token: token).hex))

            let revoked = try await run(["token", "revoke", "\(record.id)"], environment: environment)
            #expect(revoked.status == 0, "\(revoked.standardError)")
            #expect(revoked.standardOutput.contains("Revoked API token \(record.id) 'grafana'"))
            #expect(try await store.apiToken(id: record.id).revokedAt != nil)
            let listed = try await run(["token", "list"], environment: environment)
            #expect(listed.lines.first { $0.contains("grafana") }?.contains("revoked") == true)
            let missing = try await run(["token", "revoke", "999999"], environment: environment)
            #expect(missing.status != 0)
            #expect(missing.standardError.contains("API token 999999 does not exist"))
        } catch {
            await store.shutdown()
            throw error
        }
        await store.shutdown()
    }

    /// A running `serve` and everything it logged.
    struct Server {
        let process: Process
        let output: ChildOutput
        let port: Int

        func stop() {
            process.terminate()
            process.waitUntilExit()
        }

        func get(_ path: String, token: String? = nil) async throws -> String {
            let port = self.port
            let authorization = token.map { "Authorization: Bearer \($0)\r\n" } ?? ""
            return try await onOwnThread {
                try rawHTTP(
                    port: port,
                    "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(authorization)Connection: close\r\n\r\n"
                )
            }
        }
    }

    func serve(_ environment: [String: String], in directory: URL) async throws -> Server {
        let port = try freePort()
        let process = Process()
        process.executableURL = builtExecutable()
        process.arguments = ["serve"]
        process.environment = ProcessInfo.processInfo.environment.merging(
            [
                "PORT": "\(port)", "HOST": "127.0.0.1", "DATA_DIR": directory.appendingPathComponent("data").path,
                "LOG_LEVEL": "notice",
            ].merging(environment) { _, new in new }
        ) { _, new in new }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let output = ChildOutput(reading: pipe)
        try process.run()
        let server = Server(process: process, output: output, port: port)
        do {
            try await output.wait(for: "Listening", while: process)
        } catch {
            server.stop()
            throw error
        }
        return server
    }

    @Test("The first start creates an admin token, logs it once with its use, and stores only its hash")
    func firstRunToken() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ocpp-first-run-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let environment = ["DATABASE_URL": "sqlite:///\(directory.appendingPathComponent("ocpp.db").path)"]

        let first = try await serve(environment, in: directory)
        let log = first.output.text
        let lines = log.split(separator: "\n").filter { $0.contains("initial-admin") }
        #expect(lines.count == 1, "\(log)")
        let line = try #require(lines.first)
        let token = String(try #require(line.firstMatch(of: Self.tokenPattern)).output)
        #expect(line.contains("notice"))
        #expect(
            line.contains("curl -H \\\"Authorization: Bearer \(token)\\\"")
                || line.contains("Authorization: Bearer \(token)")
        )
        #expect(log.components(separatedBy: token).count - 1 == 2, "the token line and its usage, nothing else")
        #expect(try await first.get("/db/chargers/").hasPrefix("HTTP/1.1 401"))
        #expect(try await first.get("/db/chargers/", token: token).hasPrefix("HTTP/1.1 200"))
        #expect(try await first.get("/health").hasPrefix("HTTP/1.1 200"))
        first.stop()

        // Only the hash is stored.
        for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) where file.hasPrefix("ocpp.db")
        {
            let bytes = try Data(contentsOf: directory.appendingPathComponent(file))
            #expect(bytes.range(of: Data(token.utf8)) == nil, "\(file) holds the token")
        }

        // A second start finds it and creates none; the token still works.
        let second = try await serve(environment, in: directory)
        defer { second.stop() }
        #expect(!second.output.text.contains("initial-admin"), "\(second.output.text)")
        #expect(try await second.get("/db/chargers/", token: token).hasPrefix("HTTP/1.1 200"))
        let list = try await run(["token", "list"], environment: environment)
        #expect(list.lines.count == 2)
        #expect(list.lines.last?.contains("initial-admin") == true && list.lines.last?.contains("admin") == true)
    }

    @Test("API_AUTH_DISABLED is refused unless the server listens on loopback only")
    func authenticationSwitch() async throws {
        for host in ["0.0.0.0", "192.168.1.10", "127.0.0.1.example.com", "::", "localhost.example.com"] {
            let refused = try await run(
                ["serve"],
                environment: ["HOST": host, "API_AUTH_DISABLED": "true", "DATABASE_URL": "sqlite://:memory:"]
            )
            #expect(refused.status != 0, "\(host)")
            #expect(refused.standardError.contains("API_AUTH_DISABLED=true is refused: HOST '\(host)'"), "\(host)")
        }
        let bad = try await run(
            ["migrate"],
            environment: ["API_AUTH_DISABLED": "maybe", "DATABASE_URL": "sqlite://:memory:"]
        )
        #expect(bad.standardError.contains("API_AUTH_DISABLED 'maybe' is not true or false"))
        let jwks = try await run(
            ["migrate"],
            environment: ["API_JWKS_FILE": "/nonexistent/jwks.json", "DATABASE_URL": "sqlite://:memory:"]
        )
        #expect(jwks.status != 0)
        #expect(jwks.standardError.contains("API_JWKS_FILE '/nonexistent/jwks.json' cannot be read"))

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ocpp-no-auth-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await serve(
            ["API_AUTH_DISABLED": "true", "DATABASE_URL": "sqlite://:memory:"],
            in: directory
        )
        defer { server.stop() }
        #expect(server.output.text.contains("API authentication is disabled"))
        #expect(!server.output.text.contains("initial-admin"))
        #expect(try await server.get("/db/chargers/").hasPrefix("HTTP/1.1 200"))
    }
}
