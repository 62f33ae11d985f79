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

    /// - Throws: When the `sslrootcert` file cannot be read as PEM certificates.
    init(settings: DatabaseURL.PostgresSettings, maximumConnections: Int, logger: Logger) throws {
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
                tls: try Self.tls(for: settings)
            )
        }
        configuration.options.maximumConnections = maximumConnections
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let client = self.client
        runTask = Task { await client.run() }
    }

    /// The TLS use `settings` ask for, as libpq's `sslmode` and `sslrootcert` define it.
    static func tls(for settings: DatabaseURL.PostgresSettings) throws -> PostgresClient.Configuration.TLS {
        let tls = try tlsConfiguration(for: settings)
        switch settings.sslMode {
        case .disable: return .disable
        case .allow, .prefer: return .prefer(tls)
        case .require, .verifyCA, .verifyFull: return .require(tls)
        }
    }

    /// The TLS configuration of a connection to the server `settings` name.
    static func tlsConfiguration(for settings: DatabaseURL.PostgresSettings) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch settings.verification {
        case .none:
            // libpq's `allow`, `prefer` and `require` encrypt without verifying the certificate.
            tls.certificateVerification = .none
        case .certificateAuthority:
            tls.certificateVerification = .noHostnameVerification
        case .full:
            // The host name of the URL, or for an address the address itself, must be in the certificate.
            tls.certificateVerification = .fullVerification
        }
        if tls.certificateVerification != .none, let path = settings.sslRootCertificate {
            let certificates: [NIOSSLCertificate]
            do {
                certificates = try NIOSSLCertificate.fromPEMFile(path)
            } catch {
                throw PostgresTLSError(message: "cannot read sslrootcert '\(path)' as PEM certificates: \(error)")
            }
            guard !certificates.isEmpty else {
                throw PostgresTLSError(message: "sslrootcert '\(path)' holds no PEM certificate")
            }
            tls.trustRoots = .certificates(certificates)
        }
        return tls
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

    /// Listens on `channel` on a connection of the pool, held until the connection fails (the
    /// notifications end with its error) or the task is cancelled.
    /// - Parameters:
    ///   - listening: Called once `LISTEN` has taken effect.
    ///   - received: Called with each notification's payload.
    func listen(
        channel: String,
        listening: @Sendable () -> Void,
        received: @Sendable (String) -> Void
    ) async throws {
        try await client.withConnection { connection in
            try await connection.listen(on: channel) { notifications in
                listening()
                for try await notification in notifications { received(notification.payload) }
            }
        }
    }

    func shutdown() async {
        runTask.cancel()
        await runTask.value
    }
}

/// A PostgreSQL URL whose TLS settings cannot be used.
struct PostgresTLSError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
