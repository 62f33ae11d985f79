import Foundation
import Relational

/// The audit log.
extension OpenAPIDocument {
    /// One entry of `GET /db/audit_log`.
    static let auditEntry: JSONValue = {
        func text(_ maximum: Int, nullable: Bool = false, _ description: String) -> JSONValue {
            [
                "type": nullable ? ["string", "null"] : "string", "maxLength": .integer(Int64(maximum)),
                "description": .string(description),
            ]
        }
        let field = AuditEntry.maximumFieldLength
        return [
            "type": "object",
            "properties": [
                "id": ["type": "integer", "minimum": 1, "description": "Grows in append order."],
                "at": ["type": "string", "format": "date-time", "description": "When the answer was decided."],
                "actor": text(field, "The token's name or the JWT's subject; anonymous with authentication off."),
                "actor_token_id": [
                    "type": ["integer", "null"], "minimum": 1,
                    "description": "The API token used, if one of the server's.",
                ],
                "role": text(field, nullable: true, "The role the request was made with."),
                "method": ["type": "string", "enum": ["POST", "PUT", "PATCH", "DELETE"]],
                "route": text(
                    field,
                    "The route's pattern, e.g. /db/chargers/{charger_id}; (no route) when none matched."
                ),
                "path": text(AuditEntry.maximumTextLength, "The path requested."),
                "target": text(
                    field,
                    nullable: true,
                    "The ids the write was about (name=value, comma-separated): the path's, the id a create answered "
                        + "with, the charge_point_id of a relayed message."
                ),
                "status": ["type": "integer", "minimum": 100, "maximum": 599, "description": "The answer's status."],
                "detail": text(
                    AuditEntry.maximumTextLength,
                    nullable: true,
                    "The request id (as in the server's log) and, for invalid input, where it was invalid."
                ),
            ],
            "required": [
                "id", "at", "actor", "actor_token_id", "role", "method", "route", "path", "target", "status", "detail",
            ],
        ]
    }()

    static func auditLog(into paths: inout [String: JSONValue]) {
        add(
            &paths,
            "/db/audit_log",
            "get",
            operation(
                "audit_log",
                "The audit log (admins only): every write made through the API (commands to chargers, database "
                    + "changes, relayed OCPP messages, tokens, authorization keys), who made it and its answer's "
                    + "status, in append order, with a cursor for the next page. An entry is appended after the "
                    + "write and before its answer; the API cannot change or delete one.",
                tag: "Audit",
                parameters: [
                    parameter("from", in: "query", ["type": "string", "format": "date-time"], "Entries at or after."),
                    parameter(
                        "to",
                        in: "query",
                        ["type": "string", "format": "date-time"],
                        "Entries before (none when not after from)."
                    ),
                    parameter(
                        "cursor",
                        in: "query",
                        ["type": "string", "pattern": "^[1-9][0-9]{0,17}$"],
                        "next_cursor of the previous page."
                    ),
                    parameter(
                        "limit",
                        in: "query",
                        integer(minimum: 1, maximum: Int64(ListQuery.maximumLimit)),
                        "Entries per page (\(AuditRoutes.defaultLimit))."
                    ),
                ],
                responses: [
                    "200": response(
                        "A page.",
                        [
                            "type": "object",
                            "properties": [
                                "items": ["type": "array", "items": auditEntry],
                                "next_cursor": ["type": ["string", "null"]],
                            ],
                            "required": ["items", "next_cursor"],
                        ]
                    ),
                    "422": invalid,
                    "503": unavailable,
                ]
            )
        )
    }
}
