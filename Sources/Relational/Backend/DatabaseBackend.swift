import SQLKit

/// Which SQL dialect a backend speaks, where the schema or a statement must differ.
public enum SQLDialectKind: Sendable, Hashable {
    case postgres
    case sqlite
}

/// A database the relational store runs on: connections, transactions and the lock that
/// keeps two servers from migrating at once.
protocol DatabaseBackend: Sendable {
    var dialect: SQLDialectKind { get }

    /// Runs `body` with a connection of its own.
    func withConnection<Result: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result

    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
    func withTransaction<Result: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result

    /// Runs `body` holding the database-wide migration lock (a PostgreSQL advisory lock; for
    /// SQLite, an exclusive transaction).
    func withMigrationLock<Result: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result

    /// Closes every connection.
    func shutdown() async
}

/// Runs `body` between `begin` and COMMIT on one connection, rolling back when it throws.
func runTransaction<Result: Sendable>(
    on sql: any SQLDatabase,
    begin: String = "BEGIN",
    _ body: @Sendable (any SQLDatabase) async throws -> Result
) async throws -> Result {
    do {
        try await sql.raw(SQLQueryString(begin)).run()
        let result = try await body(sql)
        try await sql.raw("COMMIT").run()
        return result
    } catch {
        // In a cancelled task every statement fails at once, ROLLBACK too: the connection
        // would stay inside the transaction and refuse every later BEGIN ("cannot start a
        // transaction within a transaction"). The ROLLBACK runs in a task of its own, which the
        // cancellation does not reach. After a failed BEGIN it finds no transaction: harmless.
        await Task { try? await sql.raw("ROLLBACK").run() }.value
        throw error
    }
}
