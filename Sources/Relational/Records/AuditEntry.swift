public import Foundation

/// One entry of the audit log: a write made through the REST API (a command sent to a
/// charger, a change to the database, a token or key set), who made it, and the status it
/// was answered with.
///
/// Entries are only ever appended: the database refuses to update or delete them (triggers
/// on `audit_log`), and no foreign key ties them to rows that a cascade could delete. An
/// entry never holds a request body or header, only the fields below, each cut to its
/// bound.
public struct AuditEntry: Sendable, Hashable, Codable {
    /// The most characters (Unicode scalars) of `actor`, `role`, `method`, `route` and `target`.
    public static let maximumFieldLength = 255
    /// The most characters of `path` and `detail`.
    public static let maximumTextLength = 1024

    /// Assigned when the entry is appended, in append order; 0 before.
    public var id: Int64
    /// When the answer was decided.
    public var at: Date
    /// Who: a token's name or a JWT's subject; `anonymous` when authentication is off.
    public var actor: String
    /// The API token used, when it was one of the server's tokens.
    public var actorTokenID: Int64?
    /// The role the request was made with.
    public var role: String?
    /// The HTTP method (`POST`, `PUT`, `PATCH`, `DELETE`).
    public var method: String
    /// The route's pattern, e.g. `/db/chargers/{charger_id}`.
    public var route: String
    /// The path requested.
    public var path: String
    /// The ids the write was about, e.g. `charger_id=12` or `charge_point_id=CP-1`.
    public var target: String?
    /// The HTTP status of the answer.
    public var status: Int
    /// A short note: why the audit entry is incomplete, or what the answer said.
    public var detail: String?

    /// An entry to append; text longer than its bound is cut.
    public init(
        at: Date = Date(),
        actor: String,
        actorTokenID: Int64? = nil,
        role: String? = nil,
        method: String,
        route: String,
        path: String,
        target: String? = nil,
        status: Int,
        detail: String? = nil
    ) {
        self.id = 0
        self.at = at
        self.actor = Self.bounded(actor, Self.maximumFieldLength)
        self.actorTokenID = actorTokenID
        self.role = role.map { Self.bounded($0, Self.maximumFieldLength) }
        self.method = Self.bounded(method, Self.maximumFieldLength)
        self.route = Self.bounded(route, Self.maximumFieldLength)
        self.path = Self.bounded(path, Self.maximumTextLength)
        self.target = target.map { Self.bounded($0, Self.maximumFieldLength) }
        self.status = status
        self.detail = detail.map { Self.bounded($0, Self.maximumTextLength) }
    }

    /// `text`, cut to at most `limit` Unicode scalars (what `length()` counts in both
    /// PostgreSQL and SQLite), with NUL (which PostgreSQL's text cannot hold, and which a
    /// request's field names may carry) replaced by U+FFFD.
    static func bounded(_ text: String, _ limit: Int) -> String {
        let scalars = text.unicodeScalars
        guard scalars.count > limit || scalars.contains("\u{0}") else { return text }
        var cut = String.UnicodeScalarView()
        cut.append(contentsOf: scalars.prefix(limit).map { $0 == "\u{0}" ? "\u{FFFD}" : $0 })
        return String(cut)
    }
}

/// Where a page of the audit log ended: the next page starts after this entry.
public struct AuditCursor: Sendable, Hashable, CustomStringConvertible {
    /// The id of the last entry of the page.
    public var afterID: Int64

    public init(afterID: Int64) {
        self.afterID = afterID
    }

    /// Parses a token made by ``description``: 1 to 18 digits, no leading zero.
    public init?(_ token: String) {
        guard token.utf8.count <= 18, let id = Int64(token), id > 0, String(id) == token else { return nil }
        afterID = id
    }

    /// The cursor as an opaque token for the API.
    public var description: String { String(afterID) }
}

/// One page of the audit log, in append order.
public struct AuditPage: Sendable {
    public var entries: [AuditEntry]
    /// Where the next page starts, or `nil` when this is the last.
    public var nextCursor: AuditCursor?
}
