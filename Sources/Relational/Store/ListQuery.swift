public import Foundation

/// A value to filter on.
public enum FieldValue: Sendable, Hashable, Encodable {
    case null
    case integer(Int64)
    case double(Double)
    case text(String)
    case bool(Bool)
    case date(Date)

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .integer(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .text(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .date(let value): try container.encode(value)
        }
    }
}

/// Which rows a list returns, in which order, which page.
public struct ListQuery: Sendable, Hashable {
    /// A condition on one column.
    public struct Filter: Sendable, Hashable {
        public enum Comparison: Sendable, Hashable {
            case equal, atLeast, before
        }

        public var column: String
        public var comparison: Comparison
        public var value: FieldValue

        public init(_ column: String, _ value: FieldValue, _ comparison: Comparison = .equal) {
            self.column = column
            self.comparison = comparison
            self.value = value
        }
    }

    /// Rows per page, 1 to ``maximumLimit``.
    public var limit: Int
    /// Rows to skip.
    public var offset: Int
    /// All must hold.
    public var filters: [Filter]
    /// Column to sort by (ties broken by id), and direction.
    public var sortColumn: String
    public var ascending: Bool

    public static let maximumLimit = 1000

    public init(
        limit: Int = 50,
        offset: Int = 0,
        filters: [Filter] = [],
        sortColumn: String = "id",
        ascending: Bool = true
    ) {
        self.limit = limit
        self.offset = offset
        self.filters = filters
        self.sortColumn = sortColumn
        self.ascending = ascending
    }
}

/// One page of a list, with the number of rows all pages hold.
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var total: Int
    public var limit: Int
    public var offset: Int
}
