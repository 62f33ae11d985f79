import SQLKit

@testable public import Relational

/// Holds a store's write transaction open until ``end()`` (SQLite has one connection: every
/// other query waits behind it, as they do behind a commit in a reconnect storm), then runs
/// `statements` in it and commits.
public final class StoreHold: Sendable {
    private let release: AsyncStream<Void>.Continuation
    private let task: Task<Void, any Error>

    /// Returns once the transaction is open.
    public init(_ store: RelationalStore, then statements: [String] = []) async {
        let (held, heldContinuation) = AsyncStream<Void>.makeStream()
        let (released, release) = AsyncStream<Void>.makeStream()
        self.release = release
        task = Task {
            defer { heldContinuation.finish() }
            try await store.write { sql in
                heldContinuation.yield()
                for await _ in released { break }
                for statement in statements { try await sql.raw(SQLQueryString(statement)).run() }
            }
        }
        for await _ in held { break }
    }

    /// Runs the statements and commits.
    public func end() async throws {
        release.yield()
        try await task.value
    }
}
