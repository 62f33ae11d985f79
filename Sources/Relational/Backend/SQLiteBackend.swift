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
            await Self.close(connection, threadPool, logger: logger)
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

    /// Whether the connection is closed (after ``shutdown()``).
    var isClosed: Bool { connection.isClosed }

    func shutdown() async {
        await Self.close(connection, threadPool, logger: logger)
    }

    /// Closes the connection, then stops its thread. Neither step is cancellable: a shutdown
    /// from a cancelled task (a stopping service group) still closes the file, where the
    /// connection's `async` close would throw `CancellationError` and leave it open.
    private static func close(_ connection: SQLiteConnection, _ threadPool: NIOThreadPool, logger: Logger) async {
        guard !connection.isClosed else { return }
        do {
            try await connection.close().get()
        } catch {
            logger.warning("Closing SQLite failed", metadata: ["error": "\(error)"])
        }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            threadPool.shutdownGracefully { _ in done.resume() }
        }
    }

    /// A backend dropped without ``shutdown()`` (a caller's error path) still closes its file:
    /// the close holds the connection until it has run on the backend's thread, then that
    /// thread stops.
    deinit {
        guard !connection.isClosed else { return }
        logger.warning("An SQLite store was released without a shutdown; closing its file")
        let threadPool = self.threadPool
        connection.close().whenComplete { _ in threadPool.shutdownGracefully { _ in } }
    }
}
