import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Relational

/// `/db/api_tokens`: the bearer tokens, for admins (``APIAccessPolicy``).
///
/// `GET` lists them (never a token or its hash), `POST` creates one and answers it once
/// (201), `GET /db/api_tokens/{api_token_id}` reads one, `DELETE` revokes one (204): the
/// row stays, with its `revoked_at`, and the token stops working on this server at once.
enum APITokenRoutes {
    static let collection = "/db/api_tokens"
    static let maximumBodySize = 4096

    /// The fields a create accepts.
    /// The longest lifetime a token may be given: ten years, in seconds.
    static let maximumLifetime: Int64 = 10 * 366 * 86_400

    static let writableFields: [ResourceField] = [
        ResourceField(
            name: "name",
            kind: .string,
            description: "Who or what holds the token.",
            minimumLength: 1,
            maximumLength: 255
        ),
        ResourceField(
            name: "role",
            kind: .string,
            description: "What the token may do.",
            allowed: APIRole.allCases.map(\.rawValue)
        ),
        ResourceField(
            name: "company_id",
            kind: .integer,
            description: "The company the token is scoped to; null or absent: every company.",
            nullable: true,
            minimum: 1
        ),
        ResourceField(
            name: "expires_in",
            kind: .integer,
            description: "Seconds from now until the token expires; null or absent: never.",
            nullable: true,
            minimum: 1,
            maximum: maximumLifetime
        ),
    ]

    /// A token as the API shows it.
    struct TokenBody: ResponseEncodable, Sendable {
        var record: APITokenRecord
        /// The token itself, in the answer to its creation only.
        var token: String?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(record.id, forKey: .id)
            try container.encode(record.name, forKey: .name)
            try container.encode(record.role, forKey: .role)
            try container.encode(record.companyID, forKey: .companyID)
            try container.encode(record.expiresAt, forKey: .expiresAt)
            try container.encode(record.createdAt, forKey: .createdAt)
            try container.encode(record.revokedAt, forKey: .revokedAt)
            try container.encode(record.lastUsedAt, forKey: .lastUsedAt)
            if let token { try container.encode(token, forKey: .token) }
        }

        enum Key: String, CodingKey {
            case id, name, role, token
            case companyID = "company_id"
            case expiresAt = "expires_at"
            case createdAt = "created_at"
            case revokedAt = "revoked_at"
            case lastUsedAt = "last_used_at"
        }
    }

    static func register(
        on router: Router<APIRequestContext>,
        store: RelationalStore,
        authentication: APIAuthentication
    ) {
        router.get(RouterPath(collection)) { request, _ in
            try await APIError.mapping {
                var limit = 100
                var offset = 0
                for (key, value) in request.uri.queryParameters {
                    let name = String(key)
                    switch name {
                    case "limit":
                        guard let number = Int(value), (1...ListQuery.maximumLimit).contains(number) else {
                            throw ResourceCoding.Invalid(
                                location: ["query", name],
                                message: "must be a whole number in 1...\(ListQuery.maximumLimit), got \(value)",
                                type: "int_parsing"
                            )
                        }
                        limit = number
                    case "offset":
                        guard let number = Int(value), number >= 0 else {
                            throw ResourceCoding.Invalid(
                                location: ["query", name],
                                message: "must be a whole number, 0 or more, got \(value)",
                                type: "int_parsing"
                            )
                        }
                        offset = number
                    default:
                        throw ResourceCoding.Invalid(
                            location: ["query", name],
                            message: "unknown query parameter; api_tokens accepts limit, offset",
                            type: "extra_forbidden"
                        )
                    }
                }
                let page = try await store.apiTokens(limit: limit, offset: offset)
                return PageBody(
                    items: page.items.map { TokenBody(record: $0) },
                    total: page.total,
                    limit: page.limit,
                    offset: page.offset
                )
            }
        }
        router.get(RouterPath("\(collection)/:api_token_id")) { _, context in
            try await APIError.mapping {
                TokenBody(record: try await store.apiToken(id: try pathID(context)))
            }
        }
        router.post(RouterPath(collection)) { request, context in
            try await APIError.mapping {
                let body = try await checkedBody(request)
                let (record, token) = try await store.createAPIToken(
                    name: body.name,
                    role: body.role.rawValue,
                    companyID: body.companyID,
                    expiresAt: body.expiresAt
                )
                context.logger.notice(
                    "API token created",
                    metadata: [
                        "token_id": "\(record.id)", "name": "\(record.name)", "role": "\(record.role)",
                        "by": "\(context.principal?.name ?? "-")",
                    ]
                )
                return EditedResponse(
                    status: .created,
                    headers: [.location: "\(collection)/\(record.id)"],
                    response: TokenBody(record: record, token: token)
                )
            }
        }
        router.delete(RouterPath("\(collection)/:api_token_id")) { _, context in
            try await APIError.mapping {
                let record = try await store.revokeAPIToken(id: try pathID(context))
                authentication.forget(tokenID: record.id)
                context.logger.notice(
                    "API token revoked",
                    metadata: [
                        "token_id": "\(record.id)", "name": "\(record.name)", "by": "\(context.principal?.name ?? "-")",
                    ]
                )
                return Response(status: .noContent)
            }
        }
    }

    /// A create's body, checked.
    struct Creation {
        var name: String
        var role: APIRole
        var companyID: Int64?
        var expiresAt: Date?
    }

    static func checkedBody(_ request: Request) async throws -> Creation {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maximumBodySize)
        } catch {
            throw HTTPError(.contentTooLarge, message: "the body exceeds \(maximumBodySize) bytes")
        }
        let body = try ResourceCoding.bodyObject(Array(buffer: buffer))
        for key in body.keys.sorted() where !writableFields.contains(where: { $0.name == key }) {
            throw ResourceCoding.Invalid(
                location: ["body", key],
                message: "unknown field; a token's fields are " + writableFields.map(\.name).joined(separator: ", "),
                type: "extra_forbidden"
            )
        }
        for field in writableFields {
            guard let value = body[field.name] else {
                guard field.nullable else {
                    throw ResourceCoding.Invalid(
                        location: ["body", field.name],
                        message: "field required",
                        type: "missing"
                    )
                }
                continue
            }
            try ResourceCoding.check(value, field: field, location: ["body", field.name])
        }
        guard case .string(let name)? = body["name"], case .string(let roleName)? = body["role"],
            let role = APIRole(rawValue: roleName)
        else {
            throw ResourceCoding.Invalid(location: ["body"], message: "name and role are required", type: "missing")
        }
        var creation = Creation(name: name, role: role)
        if case .integer(let companyID)? = body["company_id"] { creation.companyID = companyID }
        if case .integer(let seconds)? = body["expires_in"] {
            creation.expiresAt = Date().addingTimeInterval(TimeInterval(seconds))
        }
        return creation
    }

    static func pathID(_ context: APIRequestContext) throws(ResourceCoding.Invalid) -> Int64 {
        let text = context.parameters.get("api_token_id") ?? ""
        guard let id = Int64(text) else {
            throw ResourceCoding.Invalid(
                location: ["path", "api_token_id"],
                message: "must be an integer id, got \(text)",
                type: "int_parsing"
            )
        }
        return id
    }
}
