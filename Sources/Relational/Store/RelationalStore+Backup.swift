import Foundation
import SQLKit

extension RelationalStore {
    /// Writes a consistent copy of the SQLite database to `path` (which must not exist) while
    /// the server goes on writing to it: `VACUUM INTO`, which reads the database in one read
    /// transaction (a snapshot; WAL journaling lets writers go on meanwhile) and writes the
    /// copy as a database of its own. SQLiteNIO does not expose `sqlite3_backup_*`, and
    /// `VACUUM INTO` gives the same snapshot (compacted) through plain SQL. The copy is not
    /// synced here: the caller syncs it.
    /// - Throws: ``RelationalStoreError`` (`.invalidValue`) for a PostgreSQL database (back it
    ///   up with `pg_dump`), or when the copy fails.
    public func backupSQLite(to path: String) async throws {
        guard dialect == .sqlite else {
            throw RelationalStoreError(
                code: .invalidValue,
                message: "the relational database is PostgreSQL: back it up with pg_dump"
            )
        }
        let statement = "VACUUM INTO '" + path.replacingOccurrences(of: "'", with: "''") + "'"
        do {
            try await backend.withConnection { sql in try await sql.raw(SQLQueryString(statement)).run() }
        } catch {
            throw RelationalStoreError.translating(error, operation: .read)
        }
    }
}
