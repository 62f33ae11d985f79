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
        try QueryParameter.each(parameters) { parameter throws(ResourceCoding.Invalid) in
            switch parameter.name {
            case "from": query.from = try parameter.date()
            case "to": query.to = try parameter.date()
            case "cursor": query.cursor = try parameter.cursor(AuditCursor.init)
            case "limit": query.limit = try parameter.integer(in: 1...ListQuery.maximumLimit)
            default: throw parameter.unknown("audit_log", accepts: "from, to, cursor, limit")
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
