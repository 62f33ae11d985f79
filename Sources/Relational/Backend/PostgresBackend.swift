import Logging
import NIOSSL
import PostgresKit
import PostgresNIO
import SQLKit

/// PostgreSQL through PostgresNIO's pooled `PostgresClient`, queried through SQLKit.
final class PostgresBackend: DatabaseBackend {
    let dialect = SQLDialectKind.postgres
    private let client: PostgresClient
    private let runTask: Task<Void, Never>

    /// The advisory lock key that serializes migrations across servers ("ocppmigr").
    static let migrationLockKey: Int64 = 0x6F63_7070_6D69_6772

    init(settings: DatabaseURL.PostgresSettings, maximumConnections: Int, logger: Logger) {
        var configuration: PostgresClient.Configuration
        if settings.host.hasPrefix("/") {
            configuration = PostgresClient.Configuration(
                unixSocketPath: settings.host + "/.s.PGSQL.\(settings.port)",
                username: settings.user,
                password: settings.password,
                database: settings.database
            )
        } else {
            configuration = PostgresClient.Configuration(
                host: settings.host,
                port: settings.port,
                username: settings.user,
                password: settings.password,
                database: settings.database,
                tls: Self.tls(for: settings.sslMode)
            )
        }
        configuration.options.maximumConnections = maximumConnections
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let client = self.client
        runTask = Task { await client.run() }
    }

    private static func tls(for mode: DatabaseURL.SSLMode) -> PostgresClient.Configuration.TLS {
        switch mode {
        case .disable:
            return .disable
        case .allow, .prefer:
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            return .prefer(tls)
        case .require:
            // libpq's `require` encrypts without verifying the certificate.
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            return .require(tls)
        case .verifyCA:
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .noHostnameVerification
            return .require(tls)
        case .verifyFull:
            return .require(.makeClientConfiguration())
        }
    }

    func withConnection<Result: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await client.withConnection { connection in
            try await body(connection.sql(queryLogLevel: .trace))
        }
    }

    func withTransaction<Result: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await client.withConnection { connection in
            try await Self.transaction(on: connection, body)
        }
    }

    private static func transaction<Result: Sendable>(
        on connection: PostgresConnection,
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await runTransaction(on: connection.sql(queryLogLevel: .trace), body)
    }

    func withMigrationLock<Result: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await client.withConnection { connection in
            let sql = connection.sql(queryLogLevel: .trace)
            // A transaction-scoped advisory lock: released at COMMIT or ROLLBACK, even if
            // the connection drops, so a crashed server never leaves it held.
            return try await Self.transaction(on: connection) { _ in
                try await sql.raw("SELECT pg_advisory_xact_lock(\(bind: Self.migrationLockKey))").run()
                return try await body(sql)
            }
        }
    }

    func shutdown() async {
        runTask.cancel()
        await runTask.value
    }
}
