import Foundation
import SQLKit
import TestSupport
import Testing

@testable import Relational

/// Transactions whose task is cancelled halfway (a client that hangs up, a service shut down
/// while it writes).
@Suite("Transactions")
struct TransactionTests {
    @Test(
        "A write cancelled inside its transaction rolls back; the connection takes the next write",
        arguments: TestBackend.allCases
    )
    func cancelledWrite(backend: TestBackend) async throws {
        try await backend.withStore { store in
            let cancelled = Task {
                try await store.write { sql in
                    try await Self.insert("CP-HALF", sql)
                    // The task is cancelled between two statements of one transaction.
                    withUnsafeCurrentTask { $0?.cancel() }
                    try await Self.insert("CP-OTHER-HALF", sql)
                }
            }
            // SQLite's statements honour the cancellation (the write fails); PostgreSQL's finish.
            let committed = (try? await cancelled.value) != nil
            // All or nothing of the cancelled transaction is kept, and every connection (SQLite
            // has one) is out of it: writes go on.
            for index in 0..<3 {
                _ = try await store.create(Charger.self, Charger.Fields(chargePointID: "CP-NEXT-\(index)"))
            }
            let ids = try await store.list(Charger.self, ListQuery(limit: 10)).items.map(\.chargePointID)
            let half = committed ? ["CP-HALF", "CP-OTHER-HALF"] : []
            #expect(ids.sorted() == (half + ["CP-NEXT-0", "CP-NEXT-1", "CP-NEXT-2"]).sorted())
            if backend == .sqlite { #expect(!committed, "SQLite statements honour cancellation") }
        }
    }

    static func insert(_ chargePointID: String, _ sql: any SQLDatabase) async throws {
        let now = Date()
        try await sql.raw(
            "INSERT INTO chargers (charge_point_id, created_at, updated_at) VALUES (\(bind: chargePointID), \(bind: now), \(bind: now))"
        ).run()
    }
}
