import Foundation
public import Logging
import SQLKit

/// Companies, sites, chargers, connectors, drivers, RFID cards and charge sessions, on
/// PostgreSQL or embedded SQLite behind one interface.
///
/// Every write is one transaction; a method returns once it is committed (durable).
public final class RelationalStore: Sendable {
    let backend: any DatabaseBackend
    let logger: Logger

    /// The security profile (0...3) a charger gets when it is created without one: through
    /// the REST API, or registered by the OCPP front end (`OCPP_DEFAULT_SECURITY_PROFILE`).
    public let defaultSecurityProfile: Int

    /// The security profiles a charger may have: 0 (none), 1 (Basic authentication), 2 (TLS
    /// and Basic authentication), 3 (TLS with a client certificate).
    public static let securityProfiles: ClosedRange<Int> = 0...3

    /// The dialect of the database behind the store.
    public var dialect: SQLDialectKind { backend.dialect }

    /// Opens the database `url` names (creating an SQLite file when it does not exist).
    /// - Parameters:
    ///   - url: Where the database is.
    ///   - maximumConnections: The PostgreSQL pool size.
    ///   - logger: Logger for the store and its connections.
    ///   - defaultSecurityProfile: The profile of chargers created without one (0...3).
    /// - Throws: ``RelationalStoreError`` when the database cannot be opened, `.invalidValue`
    ///   for a default profile outside 0...3.
    public init(
        url: DatabaseURL,
        maximumConnections: Int = 20,
        logger: Logger,
        defaultSecurityProfile: Int = 0
    ) async throws {
        guard Self.securityProfiles.contains(defaultSecurityProfile) else {
            throw RelationalStoreError(
                code: .invalidValue,
                message: "the default security profile must be 0, 1, 2 or 3, got \(defaultSecurityProfile)"
            )
        }
        self.logger = logger
        self.defaultSecurityProfile = defaultSecurityProfile
        switch url {
        case .sqlite(let location):
            do {
                backend = try await SQLiteBackend(location: location, logger: logger)
            } catch {
                throw RelationalStoreError(code: .unavailable, message: "cannot open SQLite database \(url): \(error)")
            }
        case .postgres(let settings):
            do {
                backend = try PostgresBackend(
                    settings: settings,
                    maximumConnections: maximumConnections,
                    logger: logger
                )
            } catch {
                throw RelationalStoreError(code: .unavailable, message: "cannot connect to \(url): \(error)")
            }
        }
    }

    /// Closes every connection. The store is unusable afterwards.
    public func shutdown() async {
        await backend.shutdown()
    }

    // MARK: - Migrations

    /// Applies the migrations the database lacks, holding the database-wide migration lock
    /// so that servers starting at once do not both migrate.
    /// - Returns: The versions applied (empty when the schema was up to date).
    /// - Throws: ``RelationalStoreError`` when a migration fails (nothing of it is kept).
    @discardableResult
    public func migrate() async throws -> [Int] {
        let dialect = backend.dialect
        let logger = self.logger
        do {
            return try await backend.withMigrationLock { sql in
                try await sql.raw(
                    SQLQueryString(
                        Migration(
                            version: 0,
                            name: "",
                            statements: [
                                """
                                CREATE TABLE IF NOT EXISTS schema_migrations (
                                    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at {TIME} NOT NULL)
                                """
                            ]
                        ).sql(for: dialect)[0]
                    )
                ).run()
                let applied = Set(
                    try await sql.raw("SELECT version FROM schema_migrations").all().map {
                        try $0.decode(column: "version", as: Int.self)
                    }
                )
                var versions: [Int] = []
                for migration in Schema.migrations where !applied.contains(migration.version) {
                    logger.notice(
                        "Applying migration",
                        metadata: ["version": "\(migration.version)", "name": "\(migration.name)"]
                    )
                    for statement in migration.sql(for: dialect) {
                        try await sql.raw(SQLQueryString(statement)).run()
                    }
                    try await sql.raw(
                        """
                        INSERT INTO schema_migrations (version, name, applied_at)
                        VALUES (\(bind: migration.version), \(bind: migration.name), \(bind: Date()))
                        """
                    ).run()
                    versions.append(migration.version)
                }
                return versions
            }
        } catch {
            throw RelationalStoreError.translating(error, operation: .write)
        }
    }

    /// The migration versions recorded in the database, ascending.
    public func appliedMigrations() async throws -> [Int] {
        try await read { sql in
            try await sql.raw("SELECT version FROM schema_migrations ORDER BY version").all().map {
                try $0.decode(column: "version", as: Int.self)
            }
        }
    }

    /// The versions this build defines.
    public static var knownMigrations: [Int] { Schema.migrations.map(\.version) }

    // MARK: - Plumbing

    func read<Result: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> Result) async throws -> Result {
        do {
            return try await backend.withConnection(body)
        } catch {
            throw RelationalStoreError.translating(error, operation: .read)
        }
    }

    func write<Result: Sendable>(
        _ operation: RelationalStoreError.Operation = .write,
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        do {
            return try await backend.withTransaction(body)
        } catch {
            throw RelationalStoreError.translating(error, operation: operation)
        }
    }
}

/// Column names are the snake_case of the Swift names, with `ID` as `_id`
/// (`chargePointID` is `charge_point_id`, `parentIDTag` is `parent_id_tag`); the REST API's
/// JSON names are the same.
public enum ColumnNames {
    /// The column (and JSON) name of the property `property`.
    public static func column(for property: String) -> String {
        // Called for every column of every row read or written: bytes, not Characters.
        let characters = Array(property.utf8)
        var result: [UInt8] = []
        result.reserveCapacity(characters.count + 4)
        func isUpper(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") }
        func isLower(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") }
        for (index, character) in characters.enumerated() {
            if isUpper(character), index > 0 {
                let previous = characters[index - 1]
                let nextIsLower = index + 1 < characters.count && isLower(characters[index + 1])
                if isLower(previous) || (isUpper(previous) && nextIsLower) {
                    result.append(UInt8(ascii: "_"))
                }
            }
            result.append(isUpper(character) ? character + 32 : character)
        }
        return String(decoding: result, as: UTF8.self)
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    static let encoder = SQLQueryEncoder(
        keyEncodingStrategy: .custom { path in Key(stringValue: column(for: path.last?.stringValue ?? "")) },
        nilEncodingStrategy: .asNil
    )
    // SQLRowDecoder maps each property's key to the column it reads, the same direction as encoding.
    static let decoder = SQLRowDecoder(
        keyDecodingStrategy: .custom { path in Key(stringValue: column(for: path.last?.stringValue ?? "")) }
    )
}
