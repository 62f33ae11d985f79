import Foundation
import Hummingbird
import Relational

/// `GET /db/audit_log`: the audit log for admins, in append order, filtered by time range
/// and paged by cursor. Nothing in the API changes or deletes an entry.
enum AuditRoutes {
    static let defaultLimit = 100

    static func register(on router: Router<APIRequestContext>, store: RelationalStore) {
        router.get("/db/audit_log") { request, _ in
            try await APIError.mapping {
                let query = try query(request.uri.queryParameters)
                return AuditLogPage(
                    try await store.auditLog(from: query.from, to: query.to, cursor: query.cursor, limit: query.limit)
                )
            }
        }
    }

    struct Query: Equatable {
        var from: Date?
        var to: Date?
        var cursor: AuditCursor?
        var limit = AuditRoutes.defaultLimit
    }

    /// `from`, `to` (ISO 8601; an empty range when to is not after from), `cursor`, `limit` (1...1000).
    static func query(_ parameters: Hummingbird.Parameters) throws(ResourceCoding.Invalid) -> Query {
        var query = Query()
        for (key, value) in parameters {
            let name = String(key)
            let text = String(value)
            func invalid(_ message: String, _ type: String) -> ResourceCoding.Invalid {
                ResourceCoding.Invalid(location: ["query", name], message: message, type: type)
            }
            switch name {
            case "from", "to":
                guard let date = ResourceCoding.date(text) else {
                    throw invalid("must be an ISO 8601 date-time with a time zone, got \(text)", "datetime_parsing")
                }
                if name == "from" {
                    query.from = date
                } else {
                    query.to = date
                }
            case "cursor":
                guard let cursor = AuditCursor(text) else {
                    throw invalid("not a cursor this API returned", "value_error")
                }
                query.cursor = cursor
            case "limit":
                guard let limit = ResourceCoding.integer(text).flatMap({ Int(exactly: $0) }),
                    (1...ListQuery.maximumLimit).contains(limit)
                else {
                    throw invalid("must be a whole number in 1...\(ListQuery.maximumLimit), got \(text)", "int_parsing")
                }
                query.limit = limit
            default:
                throw invalid("unknown query parameter; audit_log accepts from, to, cursor, limit", "extra_forbidden")
            }
        }
        return query
    }

    /// `{"items": [...], "next_cursor": ...}`.
    struct AuditLogPage: ResponseEncodable, Sendable {
        struct Item: Encodable, Sendable {
            var id: Int64
            var at: Date
            var actor: String
            var actorTokenID: Int64?
            var role: String?
            var method: String
            var route: String
            var path: String
            var target: String?
            var status: Int
            var detail: String?

            enum CodingKeys: String, CodingKey {
                case id, at, actor
                case actorTokenID = "actor_token_id"
                case role, method, route, path, target, status, detail
            }
        }

        var items: [Item]
        var nextCursor: String?

        enum CodingKeys: String, CodingKey {
            case items
            case nextCursor = "next_cursor"
        }

        init(_ page: AuditPage) {
            items = page.entries.map { entry in
                Item(
                    id: entry.id,
                    at: entry.at,
                    actor: entry.actor,
                    actorTokenID: entry.actorTokenID,
                    role: entry.role,
                    method: entry.method,
                    route: entry.route,
                    path: entry.path,
                    target: entry.target,
                    status: entry.status,
                    detail: entry.detail
                )
            }
            nextCursor = page.nextCursor?.description
        }
    }
}
