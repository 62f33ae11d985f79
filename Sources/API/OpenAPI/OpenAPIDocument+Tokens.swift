import Foundation
import HTTPTypes
import Relational

/// The bearer tokens (`/db/api_tokens`) and the document's security: the bearer scheme, and
/// on every protected operation the 401 and 403 it may answer and the roles it allows.
extension OpenAPIDocument {
    static func tokens(into paths: inout [String: JSONValue]) {
        let tag = "Database: api_tokens"
        let idParameter = parameter(
            "api_token_id",
            in: "path",
            integer(minimum: 1, maximum: Int64.max),
            "The token's database id."
        )
        let notFound = response("No token has this id.", reference("Detail"))
        add(
            &paths,
            "/db/api_tokens/",
            "get",
            operation(
                "list_api_tokens",
                "The API's bearer tokens, by id, revoked and expired ones too; never a token itself.",
                tag: tag,
                parameters: [
                    parameter(
                        "limit",
                        in: "query",
                        integer(minimum: 1, maximum: Int64(ListQuery.maximumLimit)),
                        "Items per page (100)."
                    ),
                    parameter("offset", in: "query", integer(minimum: 0, maximum: Int64(Int.max)), "Items to skip."),
                ],
                responses: ["200": response("A page.", reference("APITokenPage")), "422": invalid]
            )
        )
        add(
            &paths,
            "/db/api_tokens/",
            "post",
            operation(
                "create_api_token",
                "Creates a bearer token. The answer carries the token once: the server keeps only its SHA-256.",
                tag: tag,
                body: reference("APITokenCreate"),
                responses: [
                    "201": response("Created; `token` is shown this once.", reference("CreatedAPIToken")),
                    "409": response("company_id names no company.", reference("Detail")),
                    "413": response("The body is too large.", reference("Detail")),
                    "422": invalid,
                ]
            )
        )
        add(
            &paths,
            "/db/api_tokens/{api_token_id}",
            "get",
            operation(
                "get_api_token",
                "One bearer token (never the token itself).",
                tag: tag,
                parameters: [idParameter],
                responses: ["200": response("The token.", reference("APIToken")), "404": notFound, "422": invalid]
            )
        )
        add(
            &paths,
            "/db/api_tokens/{api_token_id}",
            "delete",
            operation(
                "revoke_api_token",
                "Revokes a bearer token: it stops working at once on this server, within seconds on others. The row "
                    + "stays, with its revoked_at; revoking it again changes nothing.",
                tag: tag,
                parameters: [idParameter],
                responses: ["204": response("Revoked.", nil), "404": notFound, "422": invalid]
            )
        )
    }

    static func tokenSchemas(into schemas: inout [String: JSONValue]) {
        let time: JSONValue = ["type": "string", "format": "date-time"]
        let nullableTime: JSONValue = ["type": ["string", "null"], "format": "date-time"]
        let roles = JSONValue.array(APIRole.allCases.map { .string($0.rawValue) })
        var properties: [String: JSONValue] = [
            "id": ["type": "integer", "minimum": 1],
            "name": ["type": "string", "minLength": 1, "maxLength": 255, "description": "Who or what holds it."],
            "role": ["type": "string", "enum": roles],
            "company_id": [
                "type": ["integer", "null"], "minimum": 1,
                "description": "The company it is scoped to; null: every company.",
            ],
            "expires_at": nullableTime,
            "created_at": time,
            "revoked_at": nullableTime,
            "last_used_at": [
                "type": ["string", "null"], "format": "date-time",
                "description": "When it last authenticated a request, to within a minute.",
            ],
        ]
        let required: [JSONValue] = [
            "id", "name", "role", "company_id", "expires_at", "created_at", "revoked_at", "last_used_at",
        ]
        schemas["APIToken"] = [
            "type": "object", "properties": .object(properties), "required": .array(required),
        ]
        schemas["APITokenPage"] = page(reference("APIToken"))
        properties["token"] = [
            "type": "string", "pattern": .string("^\(APITokenSecret.prefix)[A-Za-z0-9_-]{43}$"),
            "description": "The bearer token: send it as Authorization: Bearer <token>.",
        ]
        schemas["CreatedAPIToken"] = [
            "type": "object", "properties": .object(properties), "required": .array(required + ["token"]),
        ]
        schemas["APITokenCreate"] = [
            "type": "object",
            "properties": [
                "name": ["type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^\\u0000]*$"],
                "role": ["type": "string", "enum": roles],
                "company_id": [
                    "type": ["integer", "null"], "minimum": 1, "maximum": .integer(Int64.max),
                    "description": "An existing company, or null for every company.",
                ],
                "expires_in": [
                    "type": ["integer", "null"], "minimum": 1, "maximum": .integer(APITokenRoutes.maximumLifetime),
                    "description": "Seconds from now until the token expires; null or absent: never.",
                ],
            ],
            "required": ["name", "role"],
            "additionalProperties": false,
        ]
    }

    /// The bearer scheme: required by every operation but the public ones, which say
    /// `security: []`; each protected operation lists the 401 and 403 it may answer and
    /// (`x-roles`) the roles ``APIAccessPolicy`` lets through.
    static func secure(_ paths: inout [String: JSONValue]) {
        let unauthorized = response(
            "No bearer token, or one that is unknown, expired or revoked (WWW-Authenticate: Bearer).",
            reference("Detail")
        )
        let forbidden = response(
            "The token's role may not use this operation, or it is one of the fleet's own (x-tenants: false) "
                + "and the token is limited to a company.",
            reference("Detail")
        )
        for (path, item) in paths {
            guard case .object(var operations) = item else { continue }
            for (method, operation) in operations {
                guard case .object(var fields) = operation else { continue }
                guard let verb = HTTPRequest.Method(method.uppercased()) else { continue }
                guard let rule = APIAccessPolicy.rule(method: verb, path: path), let roles = rule.roles else {
                    fields["security"] = []
                    operations[method] = .object(fields)
                    continue
                }
                if case .object(var responses)? = fields["responses"] {
                    responses["401"] = responses["401"] ?? unauthorized
                    responses["403"] = responses["403"] ?? forbidden
                    fields["responses"] = .object(responses)
                }
                fields["x-roles"] = .array(APIRole.allCases.filter(roles.contains).map { .string($0.rawValue) })
                // Whether a token limited to a company may call it (on its company's rows only).
                fields["x-tenants"] = .bool(rule.tenants)
                operations[method] = .object(fields)
            }
            paths[path] = .object(operations)
        }
    }

    /// The bearer scheme's declaration, for `components.securitySchemes`.
    static let securitySchemes: JSONValue = [
        "bearer": [
            "type": "http", "scheme": "bearer",
            "description": .string(
                "A token from `ocpp-server token create`, POST /db/api_tokens/, or the initial-admin token the "
                    + "server logs on its first start; or, when the server has a JWKS (API_JWKS_FILE), an ES256 or "
                    + "RS256 JWT with exp, sub and a role claim."
            ),
        ]
    ]
}
