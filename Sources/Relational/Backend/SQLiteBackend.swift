import Logging
import NIOCore
import NIOPosix
import SQLKit
import SQLiteKit
import SQLiteNIO

/// Embedded SQLite: one connection, used by one task at a time.
///
/// SQLite allows one writer at a time anyway; a single connection serialized here keeps
/// transactions from interleaving. WAL journaling with `synchronous = FULL` makes every
/// committed transaction durable; foreign keys are enforced.
final class SQLiteBackend: DatabaseBackend {
    let dialect = SQLDialectKind.sqlite
    private let connection: SQLiteConnection
    /// A thread of its own: a statement waiting for a lock held by another process (or a
    /// slow disk) never takes a thread other work needs.
    private let threadPool: NIOThreadPool
    private let lock = AsyncSerialLock()
    private let logger: Logger

    init(location: DatabaseURL.SQLiteLocation, logger: Logger) async throws {
        let storage: SQLiteConnection.Storage
        switch location {
        case .memory: storage = .memory
        case .file(let path): storage = .file(path: path)
        }
        self.logger = logger
        let threadPool = NIOThreadPool(numberOfThreads: 1)
        threadPool.start()
        self.threadPool = threadPool
        do {
            connection = try await SQLiteConnection.open(
                storage: storage,
                threadPool: threadPool,
                logger: logger,
                on: MultiThreadedEventLoopGroup.singleton.any()
            )
        } catch {
            try? await threadPool.shutdownGracefully()
            throw error
        }
        let sql = connection.sql(queryLogLevel: nil)
        do {
            // busy_timeout first: switching to WAL waits for other connections to the same file.
            for pragma in [
                Self.busyTimeout, "PRAGMA foreign_keys = ON", "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = FULL",
            ] {
                try await sql.raw(SQLQueryString(pragma)).run()
            }
        } catch {
            try? await connection.close()
            try? await threadPool.shutdownGracefully()
            throw error
        }
    }

    func withConnection<Result: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await lock.withLock { try await body(connection.sql(queryLogLevel: .trace)) }
    }

    func withTransaction<Result: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await lock.withLock { try await transaction(begin: "BEGIN IMMEDIATE", body) }
    }

    /// The busy timeout of every statement: how long a write waits for another process's.
    static let busyTimeout = "PRAGMA busy_timeout = 10000"
    /// The busy timeout of a migration: servers started at once on one file wait for each
    /// other's migrations (each a few statements and fsyncs, slow on a loaded machine)
    /// instead of failing with "database is locked".
    static let migrationBusyTimeout = "PRAGMA busy_timeout = 120000"

    func withMigrationLock<Result: Sendable>(
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await lock.withLock {
            let sql = connection.sql(queryLogLevel: .trace)
            try await sql.raw(SQLQueryString(Self.migrationBusyTimeout)).run()
            let result: Swift.Result<Result, any Error>
            do {
                result = .success(try await transaction(begin: "BEGIN EXCLUSIVE", body))
            } catch {
                result = .failure(error)
            }
            // Restored even when the task was cancelled (which fails every statement at once).
            try await Task { try await sql.raw(SQLQueryString(Self.busyTimeout)).run() }.value
            return try result.get()
        }
    }

    private func transaction<Result: Sendable>(
        begin: String,
        _ body: @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await runTransaction(on: connection.sql(queryLogLevel: .trace), begin: begin, body)
    }

    func shutdown() async {
        do {
            try await connection.close()
            try await threadPool.shutdownGracefully()
        } catch {
            logger.warning("Closing SQLite failed", metadata: ["error": "\(error)"])
        }
    }
}
