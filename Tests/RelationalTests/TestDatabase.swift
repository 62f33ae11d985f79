import Foundation
import TestSupport
import Testing

@testable import Relational

/// Whether two instants are the same to the millisecond (SQLite keeps microseconds as a double).
func sameInstant(_ lhs: Date?, _ rhs: Date?) -> Bool {
    guard let lhs, let rhs else { return lhs == nil && rhs == nil }
    return abs(lhs.timeIntervalSince(rhs)) < 0.001
}

/// Expects `body` to throw a store error with `code`.
func expectStoreError(
    _ code: RelationalStoreError.Code,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async {
    do {
        try await body()
        Issue.record("expected \(code), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as RelationalStoreError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(code), got \(error)", sourceLocation: sourceLocation)
    }
}
