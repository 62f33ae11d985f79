import Foundation
import TestSupport
import Testing

@testable import Relational

/// SQLite's file is closed on every way out: a shutdown from a cancelled task, and a store
/// dropped without one. (SQLiteNIO asserts when an open connection is released, which stops
/// the whole test process.)
@Suite("SQLite lifecycle")
struct SQLiteLifecycleTests {
    /// A migrated store on a new file; its WAL file exists while a connection is open.
    private func openStore() async throws -> (
        store: RelationalStore, wal: String, drop: @Sendable () async throws -> Void
    ) {
        let database = try await TestBackend.sqlite.makeDatabase()
        guard case .sqlite(.file(let path)) = database.url else { throw MissingFile() }
        let store = try await RelationalStore(url: database.url, logger: TestBackend.logger)
        try await store.migrate()
        let wal = path + "-wal"
        #expect(FileManager.default.fileExists(atPath: wal))
        return (store, wal, database.drop)
    }

    private struct MissingFile: Error {}

    @Test("A shutdown from a cancelled task still closes the file")
    func cancelledShutdown() async throws {
        let (store, wal, drop) = try await openStore()
        let shutdown = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            #expect(Task.isCancelled)
            await store.shutdown()
        }
        await shutdown.value
        let backend = try #require(store.backend as? SQLiteBackend)
        #expect(backend.isClosed)
        // The last connection to close checkpoints the WAL into the database and removes it.
        #expect(!FileManager.default.fileExists(atPath: wal))
        try await drop()
    }

    @Test("A store released without a shutdown closes its file")
    func releasedWithoutShutdown() async throws {
        var opened: (store: RelationalStore, wal: String, drop: @Sendable () async throws -> Void)? =
            try await openStore()
        let (wal, drop) = (opened!.wal, opened!.drop)
        opened = nil
        let deadline = ContinuousClock.now + .seconds(20)
        while FileManager.default.fileExists(atPath: wal), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(!FileManager.default.fileExists(atPath: wal))
        try await drop()
    }
}
