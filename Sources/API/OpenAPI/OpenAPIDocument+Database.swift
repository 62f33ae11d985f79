import Foundation
import Ingest
import Protocol
import Relational

/// The database CRUD endpoints and the schemas of their resources.
extension OpenAPIDocument {
    static func database(into paths: inout [String: JSONValue]) {
        for (resource, scope) in DatabaseRoutes.collections {
            var scopeParameters: [JSONValue] = []
            var prefix = "/db"
            var operationPrefix = ""
            for name in scope.parameters {
                let parent = DatabaseRoutes.resources.first { $0.idParameter == name }!
                prefix += "/\(parent.collection)/{\(name)}"
                operationPrefix += parent.displayName.replacingOccurrences(of: " ", with: "_") + "_"
                scopeParameters.append(
                    parameter(name, in: "path", id(parent), "The \(parent.displayName)'s database id.")
                )
            }
            let collection = "\(prefix)/\(resource.collection)/"
            let item = "\(prefix)/\(resource.collection)/{\(resource.idParameter)}"
            let singular = operationPrefix + resource.displayName.replacingOccurrences(of: " ", with: "_")
            let plural = operationPrefix + resource.collection
            let idParameter = parameter(
                resource.idParameter,
                in: "path",
                id(resource),
                "The \(resource.displayName)'s database id."
            )
            // A nested collection's path sets its parent: bodies leave that field out.
            let fixed = Set(scope.parameters)
            let create =
                fixed.isEmpty
                ? reference("\(resource.schemaName)Create")
                : object(resource.writableFields.filter { !fixed.contains($0.name) }, required: nil)
            let patch =
                fixed.isEmpty
                ? reference("\(resource.schemaName)Patch")
                : object(resource.writableFields.filter { !fixed.contains($0.name) }, required: [])
            let tag = "Database: \(resource.collection)"
            var listParameters =
                scopeParameters + [
                    parameter(
                        "limit",
                        in: "query",
                        integer(minimum: 1, maximum: Int64(ListQuery.maximumLimit)),
                        "Items per page (50)."
                    ),
                    parameter("offset", in: "query", integer(minimum: 0, maximum: Int64.max), "Items to skip."),
                    parameter(
                        "sort",
                        in: "query",
                        [
                            "type": "string",
                            "enum": .array(resource.sortableFields.flatMap { [.string($0), .string("-\($0)")] }),
                        ],
                        "The field to sort by, - first for descending (ties by id)."
                    ),
                ]
            for field in resource.responseFields where field.filterable {
                var schema = fieldSchema(field, nullable: false)
                if field.nullable, field.kind == .integer {
                    schema = ["anyOf": [schema, ["type": "string", "enum": ["null"]]]]
                }
                listParameters.append(
                    parameter(
                        field.name,
                        in: "query",
                        schema,
                        "Only rows whose \(field.name) is this\(field.nullable ? " (null: none)" : "")."
                    )
                )
            }
            if let timeField = resource.timeFilter {
                listParameters.append(
                    parameter(
                        "from",
                        in: "query",
                        ["type": "string", "format": "date-time"],
                        "\(timeField) at or after."
                    )
                )
                listParameters.append(
                    parameter("to", in: "query", ["type": "string", "format": "date-time"], "\(timeField) before.")
                )
            }
            let notFound = response("It, or a parent in the path, does not exist.", reference("Detail"))
            let conflict = response(
                "A unique value is taken, other rows still refer to it, or it refers to a row that does not exist.",
                reference("Detail")
            )
            add(
                &paths,
                collection,
                "get",
                operation(
                    "list_\(plural)",
                    "List \(resource.collection.replacingOccurrences(of: "_", with: " ")), filtered, sorted, paginated.",
                    tag: tag,
                    parameters: listParameters,
                    responses: [
                        "200": response("A page.", reference("\(resource.schemaName)Page")), "404": notFound,
                        "422": invalid, "503": unavailable,
                    ]
                )
            )
            add(
                &paths,
                item,
                "get",
                operation(
                    "get_\(singular)",
                    "One \(resource.displayName).",
                    tag: tag,
                    parameters: scopeParameters + [idParameter],
                    responses: [
                        "200": response("It.", reference(resource.schemaName)), "404": notFound, "422": invalid,
                        "503": unavailable,
                    ]
                )
            )
            guard !resource.readOnly else { continue }
            add(
                &paths,
                collection,
                "post",
                operation(
                    "create_\(singular)",
                    "Create a \(resource.displayName).",
                    tag: tag,
                    parameters: scopeParameters,
                    body: create,
                    responses: [
                        "201": created(resource, singular: singular, scope: scope),
                        "404": notFound, "409": conflict, "413": detail, "422": invalid, "503": unavailable,
                    ]
                )
            )
            let updateResponses: [String: JSONValue] = [
                "200": response("As stored now.", reference(resource.schemaName)), "404": notFound,
                "409": conflict, "413": detail, "422": invalid, "503": unavailable,
            ]
            add(
                &paths,
                item,
                "put",
                operation(
                    "replace_\(singular)",
                    "Replace every writable field (absent optional fields become null or their default).",
                    tag: tag,
                    parameters: scopeParameters + [idParameter],
                    body: create,
                    responses: updateResponses
                )
            )
            add(
                &paths,
                item,
                "patch",
                operation(
                    "update_\(singular)",
                    "Change the fields the body names.",
                    tag: tag,
                    parameters: scopeParameters + [idParameter],
                    body: patch,
                    responses: updateResponses
                )
            )
            add(
                &paths,
                item,
                "delete",
                operation(
                    "delete_\(singular)",
                    "Delete it; with cascade=true also the rows that cannot exist without it.",
                    tag: tag,
                    parameters: scopeParameters + [
                        idParameter,
                        parameter(
                            "cascade",
                            in: "query",
                            ["type": "string", "enum": ["true", "false"]],
                            "Delete dependent rows too (false)."
                        ),
                    ],
                    responses: [
                        "204": response("Deleted.", nil), "404": notFound, "409": conflict, "422": invalid,
                        "503": unavailable,
                    ]
                )
            )
        }
        authorizationKey(into: &paths)
    }

    /// `POST /db/chargers/{charger_id}/authorization_key` (``AuthorizationKeyRoutes``).
    private static func authorizationKey(into paths: inout [String: JSONValue]) {
        let hexKey: JSONValue = [
            "type": "string", "pattern": "^([0-9A-Fa-f]{2}){16,20}$",
            "description": "16 to 20 bytes as 32 to 40 hexadecimal digits, either case.",
        ]
        guard
            case .object(var post) = operation(
                "set_charger_authorization_key",
                "Set the charger's authorization key (the HTTP Basic password of security profiles 1 and 2), "
                    + "given or generated (20 random bytes when the body is empty or {}), and answer it: once, "
                    + "only a salted hash is kept. Not connected: it becomes the current key. Connected: the "
                    + "charger is sent ChangeConfiguration(AuthorizationKey) first; Accepted or RebootRequired "
                    + "store it as pending (old and new key both work until the charger authenticates with the "
                    + "new one); Rejected or NotSupported store nothing (409).",
                tag: "Database: chargers",
                parameters: [parameter("charger_id", in: "path", id(.chargers), "The charger's database id.")],
                responses: [
                    "200": response(
                        "The key, shown this once.",
                        [
                            "type": "object",
                            "properties": [
                                "authorization_key": [
                                    "type": "string", "pattern": "^([0-9A-F]{2}){16,20}$",
                                    "description": "The key in upper-case hexadecimal digits.",
                                ],
                                "pending": [
                                    "type": "boolean",
                                    "description": "Whether the old key still works until the charger uses this one.",
                                ],
                                "change_configuration_status": [
                                    "type": ["string", "null"], "enum": ["Accepted", "RebootRequired", .null],
                                    "description": .string(
                                        "The charger's answer to ChangeConfiguration; null when it was not connected."
                                    ),
                                ],
                            ],
                            "required": ["authorization_key", "pending", "change_configuration_status"],
                            "additionalProperties": false,
                        ]
                    ),
                    "404": response("No charger has that id.", reference("Detail")),
                    "409": response(
                        "The charger answered Rejected or NotSupported; nothing was stored.",
                        reference("Detail")
                    ),
                    "413": detail,
                    "422": invalid,
                    "429": response(
                        "Too many calls are queued for the charger; nothing was sent or stored.",
                        reference("Detail")
                    ),
                    "502": response(
                        "The charger answered with a CALLERROR or an invalid confirmation (nothing was stored), "
                            + "or the connection closed before it answered (the key is kept as pending, in case "
                            + "the charger applied it; set a key again).",
                        reference("CallError")
                    ),
                    "503": unavailable,
                    "504": response(
                        "The charger did not answer in time; the key is kept as pending, in case it applied it "
                            + "(set a key again).",
                        reference("Detail")
                    ),
                ]
            )
        else { return }
        // Optional: an empty body generates a key.
        post["requestBody"] = [
            "required": false,
            "content": [
                "application/json": [
                    "schema": [
                        "type": "object", "properties": ["authorization_key": hexKey], "additionalProperties": false,
                    ]
                ]
            ],
        ]
        add(&paths, "/db/chargers/{charger_id}/authorization_key", "post", .object(post))
    }

    /// The 201 of a create, with links that tell clients (and schemathesis) how its id addresses the row.
    private static func created(_ resource: Resource, singular: String, scope: ResourceScope) -> JSONValue {
        var parameters: [String: JSONValue] = [resource.idParameter: "$response.body#/id"]
        for name in scope.parameters {
            parameters[name] = .string("$request.path.\(name)")
        }
        var links: [String: JSONValue] = [:]
        for verb in ["get", "replace", "update", "delete"] {
            links["\(verb)_it"] = ["operationId": .string("\(verb)_\(singular)"), "parameters": .object(parameters)]
        }
        guard case .object(var value) = response("Created; Location names it.", reference(resource.schemaName)) else {
            return [:]
        }
        value["links"] = .object(links)
        return .object(value)
    }

    /// The schema of one field's value.
    static func fieldSchema(_ field: ResourceField, nullable: Bool) -> JSONValue {
        var description = field.description
        if let storeDefault = field.storeDefault { description += " Left out: \(storeDefault)." }
        var schema: [String: JSONValue] = ["description": .string(description)]
        switch field.kind {
        case .integer: schema["type"] = "integer"
        case .number: schema["type"] = "number"
        case .string: schema["type"] = "string"
        case .dateTime:
            schema["type"] = "string"
            schema["format"] = "date-time"
        }
        if nullable, case .string(let type)? = schema["type"] { schema["type"] = [.string(type), "null"] }
        if let minimum = field.minimum ?? (field.kind == .integer ? Int64.min : nil) {
            schema["minimum"] = .integer(minimum)
        }
        if let maximum = field.maximum ?? (field.kind == .integer ? Int64.max : nil) {
            schema["maximum"] = .integer(maximum)
        }
        if let minimum = field.minimumLength { schema["minLength"] = .integer(Int64(minimum)) }
        if let maximum = field.maximumLength { schema["maxLength"] = .integer(Int64(maximum)) }
        if let allowed = field.allowed { schema["enum"] = .array(allowed.map(JSONValue.string)) }
        if let defaultValue = field.defaultValue { schema["default"] = defaultValue }
        if let pattern = field.pattern {
            schema["pattern"] = .string(pattern)
        } else if field.kind == .string, field.allowed == nil {
            schema["pattern"] = "^[^\\u0000]*$"
        }
        return .object(schema)
    }

    /// A path parameter holding one of `resource`'s ids.
    static func id(_ resource: Resource) -> JSONValue { integer(minimum: 1, maximum: resource.idMaximum) }

    /// An object of `fields`; `required` nil: those a create must carry.
    static func object(_ fields: [ResourceField], required: [String]?) -> JSONValue {
        var properties: [String: JSONValue] = [:]
        for field in fields {
            properties[field.name] = fieldSchema(field, nullable: field.nullable)
        }
        let required = required ?? fields.filter(\.required).map(\.name)
        return [
            "type": "object", "properties": .object(properties), "additionalProperties": false,
            "required": .array(required.map(JSONValue.string)),
        ]
    }

    static func resourceSchemas(_ resource: Resource, into schemas: inout [String: JSONValue]) {
        schemas[resource.schemaName] = object(resource.responseFields, required: resource.responseFields.map(\.name))
        schemas["\(resource.schemaName)Page"] = page(reference(resource.schemaName))
        guard !resource.readOnly else { return }
        schemas["\(resource.schemaName)Create"] = object(resource.writableFields, required: nil)
        schemas["\(resource.schemaName)Patch"] = object(resource.writableFields, required: [])
    }

    static func page(_ item: JSONValue) -> JSONValue {
        [
            "type": "object",
            "properties": [
                "items": ["type": "array", "items": item], "total": ["type": "integer", "minimum": 0],
                "limit": ["type": "integer"], "offset": ["type": "integer"],
            ],
            "required": ["items", "total", "limit", "offset"],
        ]
    }
}
