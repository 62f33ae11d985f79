import PostgresNIO
import SQLiteNIO

/// A relational store operation that could not be carried out.
///
/// ``code`` says what kind of failure it was, so that callers can map it (the REST API:
/// not found 404, conflict 409, invalid reference or value 422, still referenced 409).
public struct RelationalStoreError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: Sendable, Hashable {
            case notFound, conflict, invalidReference, stillReferenced, invalidValue, unavailable
        }

        private let base: Base

        /// No row has the given id.
        public static let notFound = Code(base: .notFound)
        /// A unique value is already taken.
        public static let conflict = Code(base: .conflict)
        /// A reference names a row that does not exist.
        public static let invalidReference = Code(base: .invalidReference)
        /// The row cannot be deleted while others refer to it (ask to cascade).
        public static let stillReferenced = Code(base: .stillReferenced)
        /// A value breaks a rule of the schema (length, allowed values, range).
        public static let invalidValue = Code(base: .invalidValue)
        /// The database failed or could not be reached.
        public static let unavailable = Code(base: .unavailable)

        public var description: String { "\(base)" }
    }

    /// The kind of failure.
    public let code: Code
    /// What happened, for people.
    public let message: String

    public var description: String { message }

    /// An error of kind `code` that says `message`.
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    static func notFound(_ entity: String, id: Int64) -> RelationalStoreError {
        RelationalStoreError(code: .notFound, message: "\(entity) \(id) does not exist")
    }

    /// The database error `error`, raised while doing `operation`, as a store error.
    static func translating(_ error: any Error, operation: Operation) -> RelationalStoreError {
        if let error = error as? RelationalStoreError { return error }
        if let error = error as? PSQLError, let state = error.serverInfo?[.sqlState] {
            let detail = error.serverInfo?[.detail] ?? error.serverInfo?[.message] ?? "\(state)"
            switch state {
            case "23505": return RelationalStoreError(code: .conflict, message: "already exists: \(detail)")
            case "23503":
                return operation == .delete
                    ? RelationalStoreError(code: .stillReferenced, message: Self.referencedMessage(detail))
                    : RelationalStoreError(
                        code: .invalidReference,
                        message: "refers to a row that does not exist: \(detail)"
                    )
            case "23514", "23502", "22001", "22003", "22P02", "22021", "22008":
                return RelationalStoreError(
                    code: .invalidValue,
                    message: "invalid value: \(error.serverInfo?[.message] ?? detail)"
                )
            default: break
            }
        }
        if let error = error as? SQLiteError {
            switch error.reason {
            case .constraintUniqueFailed, .constraintPrimaryKeyFailed:
                return RelationalStoreError(code: .conflict, message: "already exists: \(error.message)")
            case .constraintForeignKeyFailed:
                return operation == .delete
                    ? RelationalStoreError(code: .stillReferenced, message: Self.referencedMessage(error.message))
                    : RelationalStoreError(
                        code: .invalidReference,
                        message: "refers to a row that does not exist (\(error.message))"
                    )
            case .constraintCheckFailed, .constraintNotNullFailed:
                return RelationalStoreError(code: .invalidValue, message: "invalid value: \(error.message)")
            default: break
            }
        }
        return RelationalStoreError(code: .unavailable, message: "database error: \(String(reflecting: error))")
    }

    private static func referencedMessage(_ detail: String) -> String {
        "other rows still refer to it (\(detail)); delete them first or ask to cascade"
    }

    enum Operation {
        case read, write, delete
    }
}
