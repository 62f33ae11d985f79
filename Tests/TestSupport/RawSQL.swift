import SQLKit

@testable public import Relational

extension RelationalStore {
    /// Runs `statement` as it is, beside the store's API: for tests of what the database
    /// itself refuses, and of how the server answers when a table is missing.
    /// - Throws: The database's error, untranslated.
    public func executeRawSQL(_ statement: String) async throws {
        try await backend.withConnection { sql in
            try await sql.raw(SQLQueryString(statement)).run()
        }
    }
}
