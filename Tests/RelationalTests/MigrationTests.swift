import Foundation
import TestSupport
import Testing

@testable import Relational

@Suite("Migrations")
struct MigrationTests {
    @Test("From empty, then again: the second run changes nothing", arguments: TestBackend.allCases)
    func fromEmptyAndRerun(backend: TestBackend) async throws {
        let database = try await backend.makeDatabase()
        let store = try await RelationalStore(url: database.url, logger: TestBackend.logger)
        #expect(try await store.migrate() == RelationalStore.knownMigrations)
        #expect(try await store.migrate() == [])
        #expect(try await store.appliedMigrations() == RelationalStore.knownMigrations)
        await store.shutdown()

        // A new process (a new store) on the same database finds nothing to do either.
        let again = try await RelationalStore(url: database.url, logger: TestBackend.logger)
        #expect(try await again.migrate() == [])
        await again.shutdown()
        try await database.drop()
    }

    @Test("Servers starting at once do not both migrate", arguments: TestBackend.allCases)
    func concurrentStarts(backend: TestBackend) async throws {
        let database = try await backend.makeDatabase()
        let stores = try await withThrowingTaskGroup(of: RelationalStore.self) { group in
            for _ in 0..<4 {
                group.addTask { try await RelationalStore(url: database.url, logger: TestBackend.logger) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        // The stores are shut down whatever the outcome: a store released while open stops the
        // whole test process (SQLiteNIO asserts), which would hide the failure behind a crash.
        let outcome: Result<([Int], [Int]), any Error>
        do {
            let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
                for store in stores { group.addTask { try await store.migrate() } }
                return try await group.reduce(into: []) { $0.append(contentsOf: $1) }
            }
            outcome = .success((applied, try await stores[0].appliedMigrations()))
        } catch {
            outcome = .failure(error)
        }
        for store in stores { await store.shutdown() }
        let (applied, recorded) = try outcome.get()
        #expect(applied.sorted() == RelationalStore.knownMigrations)
        #expect(recorded == RelationalStore.knownMigrations)
        try await database.drop()
    }

    @Test("An SQLite file that cannot be created is a clear error")
    func unopenableSQLite() async {
        await expectStoreError(.unavailable) {
            _ = try await RelationalStore(
                url: .sqlite(.file(path: "/nonexistent-directory/ocpp.db")),
                logger: TestBackend.logger
            )
        }
    }

    @Test("Column names are the snake_case of property names")
    func columnNames() {
        #expect(ColumnNames.column(for: "chargePointID") == "charge_point_id")
        #expect(ColumnNames.column(for: "parentIDTag") == "parent_id_tag")
        #expect(ColumnNames.column(for: "idTag") == "id_tag")
        #expect(ColumnNames.column(for: "energyWh") == "energy_wh")
        #expect(ColumnNames.column(for: "id") == "id")
    }
}
