import Foundation
public import Logging
import SQLKit

@testable public import Relational

/// The databases every store test runs against: a real SQLite file in a temporary
/// directory, and a fresh database on the real PostgreSQL server that `scripts/test.sh`
/// starts (its URL in `OCPP_TEST_POSTGRES_URL`).
public enum TestBackend: String, CaseIterable, CustomStringConvertible, Sendable {
    case sqlite
    case postgres

    public var description: String { rawValue }

    public static let logger: Logger = {
        var logger = Logger(label: "relational-tests")
        logger.logLevel = .warning
        return logger
    }()

    public struct MissingPostgres: Error, CustomStringConvertible {
        public let description =
            "OCPP_TEST_POSTGRES_URL is not set: run ./scripts/test.sh, which starts a throwaway PostgreSQL"
    }

    /// A URL of a new, empty database of this kind, and a way to remove it.
    public func makeDatabase() async throws -> (url: DatabaseURL, drop: @Sendable () async throws -> Void) {
        switch self {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("ocpp-relational-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let path = directory.appendingPathComponent("store.db").path
            return (.sqlite(.file(path: path)), { try FileManager.default.removeItem(at: directory) })
        case .postgres:
            guard let text = ProcessInfo.processInfo.environment["OCPP_TEST_POSTGRES_URL"] else {
                throw MissingPostgres()
            }
            guard case .postgres(var settings) = try DatabaseURL(text) else { throw MissingPostgres() }
            let admin = try await RelationalStore(url: .postgres(settings), maximumConnections: 2, logger: Self.logger)
            let name = "ocpp_test_\(UUID().uuidString.replacingOccurrences(of: "-", with: "_").lowercased())"
            try await admin.backend.withConnection { sql in
                try await sql.raw("CREATE DATABASE \(unsafeRaw: name)").run()
            }
            await admin.shutdown()
            let adminSettings = settings
            settings.database = name
            return (
                .postgres(settings),
                {
                    let admin = try await RelationalStore(
                        url: .postgres(adminSettings),
                        maximumConnections: 2,
                        logger: Self.logger
                    )
                    try await admin.backend.withConnection { sql in
                        try await sql.raw("DROP DATABASE IF EXISTS \(unsafeRaw: name) WITH (FORCE)").run()
                    }
                    await admin.shutdown()
                }
            )
        }
    }

    /// Runs `body` with a migrated store on a new database, then removes the database.
    public func withStore(
        maximumConnections: Int = 20,
        _ body: (RelationalStore) async throws -> Void
    ) async throws {
        let database = try await makeDatabase()
        let store = try await RelationalStore(
            url: database.url,
            maximumConnections: maximumConnections,
            logger: Self.logger
        )
        do {
            try await store.migrate()
            try await body(store)
        } catch {
            await store.shutdown()
            try? await database.drop()
            throw error
        }
        await store.shutdown()
        try await database.drop()
    }
}
