import Foundation
import Ingest
import Protocol
import Relational

/// The OpenAPI 3.1 document of the whole API, served at `/openapi.json`.
///
/// It is built from the same descriptions the routes are registered from (the database
/// resources, the command list) and from the official OCPP schemas; a test checks that its
/// paths and methods are exactly the router's, and schemathesis checks the responses.
enum OpenAPIDocument {
    /// The document as JSON text.
    static let json: String = {
        var output = ""
        document().write(to: &output)
        return output
    }()

    /// The `/docs` page: Swagger UI (loaded by the browser from jsDelivr) reading `/openapi.json`.
    static let swaggerPage = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>ocpp-server API</title>
        <link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
        </head>
        <body>
        <div id="swagger-ui"></div>
        <script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
        <script>
        window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true});
        </script>
        </body>
        </html>
        """

    static func document() -> JSONValue {
        var paths: [String: JSONValue] = [:]
        operations(into: &paths)
        commands(into: &paths)
        database(into: &paths)
        integration(into: &paths)
        meterHistory(into: &paths)
        chargerHistory(into: &paths)
        var schemas = baseSchemas()
        if case .object(let ocpp)? = JSONValue.parse(Array(OCPPSchemas.json.utf8)) {
            schemas.merge(ocpp) { current, _ in current }
        }
        relayedSchemas(into: &schemas)
        for resource in DatabaseRoutes.resources {
            resourceSchemas(resource, into: &schemas)
        }
        return [
            "openapi": "3.1.0",
            "info": [
                "title": "ocpp-server",
                "version": "1.0.0",
                "description": .string(
                    "An OCPP 1.6J Central System. Charge points connect over WebSocket at /ocpp/{charge_point_id}; "
                        + "this API sends them OCPP commands, manages the database (companies, sites, chargers, "
                        + "connectors, drivers, RFID cards, charge sessions) and reads meter history. JSON is "
                        + "snake_case at every depth."
                ),
            ],
            "paths": .object(paths),
            "components": ["schemas": .object(schemas)],
        ]
    }

    // MARK: - Building blocks

    static func reference(_ schema: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(schema)")] }

    static func response(_ description: String, _ schema: JSONValue?, type: String = "application/json") -> JSONValue {
        guard let schema else { return ["description": .string(description)] }
        return ["description": .string(description), "content": .object([type: ["schema": schema]])]
    }

    static func parameter(
        _ name: String,
        in location: String,
        _ schema: JSONValue,
        _ description: String,
        required: Bool = false
    ) -> JSONValue {
        [
            "name": .string(name), "in": .string(location), "required": .bool(required || location == "path"),
            "schema": schema, "description": .string(description),
        ]
    }

    static func integer(minimum: Int64? = nil, maximum: Int64? = nil) -> JSONValue {
        var schema: [String: JSONValue] = ["type": "integer"]
        if let minimum { schema["minimum"] = .integer(minimum) }
        if let maximum { schema["maximum"] = .integer(maximum) }
        return .object(schema)
    }

    static let detail = response("An error, explained.", reference("Detail"))
    static let invalid = response(
        "Invalid input: where, what, and a machine-readable type.",
        reference("ValidationError")
    )
    static let unavailable = response("The database does not answer.", reference("Detail"))

    static func operation(
        _ id: String,
        _ summary: String,
        tag: String,
        parameters: [JSONValue] = [],
        body: JSONValue? = nil,
        responses: [String: JSONValue]
    ) -> JSONValue {
        var operation: [String: JSONValue] = [
            "operationId": .string(id), "summary": .string(summary), "tags": [.string(tag)],
            "responses": .object(responses),
        ]
        if !parameters.isEmpty { operation["parameters"] = .array(parameters) }
        if let body {
            operation["requestBody"] = ["required": true, "content": ["application/json": ["schema": body]]]
        }
        return .object(operation)
    }

    static func add(_ paths: inout [String: JSONValue], _ path: String, _ method: String, _ operation: JSONValue) {
        var item: [String: JSONValue] = [:]
        if case .object(let existing)? = paths[path] { item = existing }
        item[method] = operation
        paths[path] = .object(item)
    }

    // MARK: - Operations

    private static func operations(into paths: inout [String: JSONValue]) {
        add(
            &paths,
            "/health",
            "get",
            operation(
                "health",
                "The process is up.",
                tag: "Operations",
                responses: ["200": response("Up.", reference("Status"))]
            )
        )
        add(
            &paths,
            "/ready",
            "get",
            operation(
                "ready",
                "The database answers and has every migration.",
                tag: "Operations",
                responses: [
                    "200": response("Ready.", reference("Status")),
                    "503": response("Not ready, with the reason.", reference("Status")),
                ]
            )
        )
        add(
            &paths,
            "/metrics",
            "get",
            operation(
                "metrics",
                "Prometheus metrics.",
                tag: "Operations",
                responses: ["200": response("The text exposition format.", ["type": "string"], type: "text/plain")]
            )
        )
        add(
            &paths,
            "/openapi.json",
            "get",
            operation(
                "openapi",
                "This document.",
                tag: "Operations",
                responses: ["200": response("OpenAPI 3.1.", ["type": "object"])]
            )
        )
        add(
            &paths,
            "/docs",
            "get",
            operation(
                "docs",
                "Interactive documentation (Swagger UI reading /openapi.json).",
                tag: "Operations",
                responses: ["200": response("An HTML page.", ["type": "string"], type: "text/html")]
            )
        )
        add(
            &paths,
            "/ocpp/{charge_point_id}",
            "get",
            operation(
                "ocpp_websocket",
                "The OCPP 1.6J WebSocket endpoint (subprotocol ocpp1.6); a plain GET is told to upgrade.",
                tag: "OCPP",
                parameters: [
                    parameter("charge_point_id", in: "path", ["type": "string"], "The charger's OCPP identity.")
                ],
                responses: [
                    "101": response("Upgraded to a WebSocket speaking OCPP 1.6J.", nil),
                    "400": response(
                        "The upgrade was refused: a bad id or only other subprotocols.",
                        reference("Detail")
                    ),
                    "426": response("Not a WebSocket upgrade request.", reference("Detail")),
                ]
            )
        )
    }

    // MARK: - OCPP commands

    private static func commands(into paths: inout [String: JSONValue]) {
        let chargePoint = parameter(
            "charge_point_id",
            in: "path",
            ["type": "string", "pattern": .string(ChargePointID.pattern)],
            "The charger's OCPP identity."
        )
        let failures: [String: JSONValue] = [
            "404": response("The charger is not connected.", reference("Detail")),
            "422": invalid,
            "429": response("Too many calls are queued for this charger.", reference("Detail")),
            "502": response(
                "The charger answered with a CALLERROR, an invalid confirmation, or closed the connection.",
                reference("CallError")
            ),
            "504": response("The charger did not answer in time.", reference("Detail")),
        ]
        add(
            &paths,
            "/charge_points",
            "get",
            operation(
                "list_connected_charge_points",
                "The chargers connected to this server.",
                tag: "OCPP commands",
                parameters: [
                    parameter("limit", in: "query", integer(minimum: 1, maximum: 1000), "Items per page (100)."),
                    parameter("offset", in: "query", integer(minimum: 0), "Items to skip."),
                ],
                responses: ["200": response("A page.", reference("ConnectedChargePointPage")), "422": invalid]
            )
        )
        add(
            &paths,
            "/charge_points/{charge_point_id}/configuration",
            "get",
            operation(
                "get_configuration",
                "GetConfiguration: the charger's configuration keys (all, or those named).",
                tag: "OCPP commands",
                parameters: [
                    chargePoint,
                    [
                        "name": "key", "in": "query", "required": false, "style": "form", "explode": true,
                        "schema": ["type": "array", "items": ["type": "string", "maxLength": 50]],
                        "description": "A key to read; repeat for several.",
                    ],
                ],
                responses: failures.merging([
                    "200": response("The confirmation.", reference("GetConfigurationResponse"))
                ]) {
                    $1
                }
            )
        )
        for command in ChargePointCommands.commands {
            let action = command.action.rawValue
            add(
                &paths,
                "/charge_points/{charge_point_id}/\(command.path)",
                "post",
                operation(
                    command.path,
                    "\(action): the body is its request in snake_case; the answer is the charger's confirmation.",
                    tag: "OCPP commands",
                    parameters: [chargePoint],
                    body: reference("\(action)Request"),
                    responses: failures.merging([
                        "200": response("The confirmation.", reference("\(action)Response")),
                        "413": response("The body is too large.", reference("Detail")),
                    ]) { $1 }
                )
            )
        }
    }

    // MARK: - Database

    private static func database(into paths: inout [String: JSONValue]) {
        for (resource, scope) in DatabaseRoutes.collections {
            var scopeParameters: [JSONValue] = []
            var prefix = "/db"
            var operationPrefix = ""
            for name in scope.parameters {
                let parent = DatabaseRoutes.resources.first { $0.idParameter == name }!
                prefix += "/\(parent.collection)/{\(name)}"
                operationPrefix += parent.displayName.replacingOccurrences(of: " ", with: "_") + "_"
                scopeParameters.append(
                    parameter(name, in: "path", integer(), "The \(parent.displayName)'s database id.")
                )
            }
            let collection = "\(prefix)/\(resource.collection)/"
            let item = "\(prefix)/\(resource.collection)/{\(resource.idParameter)}"
            let singular = operationPrefix + resource.displayName.replacingOccurrences(of: " ", with: "_")
            let plural = operationPrefix + resource.collection
            let idParameter = parameter(
                resource.idParameter,
                in: "path",
                integer(),
                "The \(resource.displayName)'s database id."
            )
            let tag = "Database: \(resource.collection)"
            var listParameters =
                scopeParameters + [
                    parameter(
                        "limit",
                        in: "query",
                        integer(minimum: 1, maximum: Int64(ListQuery.maximumLimit)),
                        "Items per page (50)."
                    ),
                    parameter("offset", in: "query", integer(minimum: 0), "Items to skip."),
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
            let conflict = response("A unique value is taken, or other rows still refer to it.", reference("Detail"))
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
                    body: reference("\(resource.schemaName)Create"),
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
                    body: reference("\(resource.schemaName)Create"),
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
                    body: reference("\(resource.schemaName)Patch"),
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
        var schema: [String: JSONValue] = ["description": .string(field.description)]
        switch field.kind {
        case .integer: schema["type"] = "integer"
        case .number: schema["type"] = "number"
        case .string: schema["type"] = "string"
        case .dateTime:
            schema["type"] = "string"
            schema["format"] = "date-time"
        }
        if nullable, case .string(let type)? = schema["type"] { schema["type"] = [.string(type), "null"] }
        if let minimum = field.minimum { schema["minimum"] = .integer(minimum) }
        if let maximum = field.maximum { schema["maximum"] = .integer(maximum) }
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

    private static func resourceSchemas(_ resource: Resource, into schemas: inout [String: JSONValue]) {
        func object(_ fields: [ResourceField], required: [String]) -> JSONValue {
            var properties: [String: JSONValue] = [:]
            for field in fields {
                properties[field.name] = fieldSchema(field, nullable: field.nullable)
            }
            return [
                "type": "object", "properties": .object(properties), "additionalProperties": false,
                "required": .array(required.map(JSONValue.string)),
            ]
        }
        schemas[resource.schemaName] = object(resource.responseFields, required: resource.responseFields.map(\.name))
        schemas["\(resource.schemaName)Page"] = page(reference(resource.schemaName))
        guard !resource.readOnly else { return }
        schemas["\(resource.schemaName)Create"] = object(
            resource.writableFields,
            required: resource.writableFields.filter(\.required).map(\.name)
        )
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

    // MARK: - OCPP-DB integration

    private static func integration(into paths: inout [String: JSONValue]) {
        for endpoint in IntegrationRoutes.endpoints {
            let action = endpoint.action.rawValue
            add(
                &paths,
                "/db/ocpp/\(endpoint.path)",
                "post",
                operation(
                    "relay_\(endpoint.path.replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "-", with: "_"))",
                    "Relay a charger's \(action): the same ingest path and durability rule as the WebSocket; "
                        + "200 only once what it carried is durable.",
                    tag: "OCPP-DB integration",
                    body: reference("Relayed\(action)Request"),
                    responses: [
                        "200": response("The confirmation the charger would get.", reference("\(action)Response")),
                        "403": response(
                            "The charger is Rejected, or unknown while unknown chargers are refused.",
                            reference("Detail")
                        ),
                        "413": detail, "422": invalid,
                        "503": response("Storing failed; nothing was acknowledged. Retry.", reference("Detail")),
                    ]
                )
            )
        }
    }

    /// `Relayed<Action>Request`: the OCPP request's schema plus the charger's `charge_point_id`.
    private static func relayedSchemas(into schemas: inout [String: JSONValue]) {
        for endpoint in IntegrationRoutes.endpoints {
            let action = endpoint.action.rawValue
            guard case .object(var schema)? = schemas["\(action)Request"],
                case .object(var properties)? = schema["properties"]
            else { continue }
            properties["charge_point_id"] = [
                "type": "string", "pattern": .string(ChargePointID.pattern),
                "description": "The charger's OCPP identity.",
            ]
            schema["properties"] = .object(properties)
            var required: [JSONValue] = ["charge_point_id"]
            if case .array(let existing)? = schema["required"] { required += existing }
            schema["required"] = .array(required)
            schemas["Relayed\(action)Request"] = .object(schema)
        }
    }

    // MARK: - Meter history

    private static func meterHistory(into paths: inout [String: JSONValue]) {
        let filters: [JSONValue] =
            [
                parameter("from", in: "query", ["type": "string", "format": "date-time"], "Samples at or after."),
                parameter("to", in: "query", ["type": "string", "format": "date-time"], "Samples before."),
                [
                    "name": "measurand", "in": "query", "required": false, "style": "form", "explode": true,
                    "schema": ["type": "array", "items": ["type": "string"]],
                    "description": "Only these measurands (repeat for several).",
                ],
                [
                    "name": "phase", "in": "query", "required": false, "style": "form", "explode": true,
                    "schema": ["type": "array", "items": ["type": "string"]],
                    "description": "Only these phases (repeat for several).",
                ],
            ] + historyPaging("Samples") + [
                parameter(
                    "bucket",
                    in: "query",
                    ["type": "string", "pattern": "^[1-9][0-9]{0,5}[smhd]$"],
                    "Downsample into buckets of this width (1m, 15m, 1h, 1d)."
                ),
                parameter(
                    "agg",
                    in: "query",
                    ["type": "string", "enum": ["avg", "min", "max", "first", "last", "sum", "count"]],
                    "The aggregate of each bucket (avg)."
                ),
                parameter(
                    "format",
                    in: "query",
                    ["type": "string", "enum": ["json", "csv"]],
                    "csv for CSV (as does Accept: text/csv). CSV without limit streams the whole range."
                ),
            ]
        for (collection, idParameter, name) in [
            ("chargers", "charger_id", "charger"), ("connectors", "connector_id", "connector"),
            ("charge_sessions", "charge_session_id", "charge session"),
        ] {
            add(
                &paths,
                "/db/\(collection)/{\(idParameter)}/meter-values",
                "get",
                operation(
                    "meter_values_of_\(name.replacingOccurrences(of: " ", with: "_"))",
                    "The \(name)'s meter history, raw or downsampled, JSON or CSV.",
                    tag: "Meter history",
                    parameters: [parameter(idParameter, in: "path", integer(), "The \(name)'s database id.")] + filters,
                    responses: [
                        "200": [
                            "description": "Samples (or buckets) in time order, with a cursor for the next page.",
                            "content": [
                                "application/json": ["schema": reference("MeterHistoryPage")],
                                "text/csv": ["schema": ["type": "string"]],
                            ],
                        ],
                        "404": response("No such \(name).", reference("Detail")),
                        "422": invalid,
                    ]
                )
            )
        }
    }

    /// `connector_id`, `limit` and `cursor`, as the history endpoints take them.
    private static func historyPaging(_ noun: String) -> [JSONValue] {
        [
            parameter("connector_id", in: "query", integer(minimum: 0), "Only this OCPP connector id."),
            parameter(
                "limit",
                in: "query",
                integer(minimum: 1, maximum: Int64(MeterHistory.maximumLimit)),
                "\(noun) per page (\(MeterHistory.defaultLimit))."
            ),
            parameter("cursor", in: "query", ["type": "string"], "next_cursor of the previous page."),
        ]
    }

    private static func chargerHistory(into paths: inout [String: JSONValue]) {
        add(
            &paths,
            "/db/chargers/{charger_id}/status-history",
            "get",
            operation(
                "status_history_of_charger",
                "The charger's StatusNotifications, in time order, with a cursor for the next page.",
                tag: "Meter history",
                parameters: [
                    parameter("charger_id", in: "path", integer(), "The charger's database id."),
                    parameter("from", in: "query", ["type": "string", "format": "date-time"], "At or after."),
                    parameter("to", in: "query", ["type": "string", "format": "date-time"], "Before."),
                ] + historyPaging("Items") + [
                    parameter(
                        "order",
                        in: "query",
                        ["type": "string", "enum": ["asc", "desc"]],
                        "Oldest first (asc)."
                    )
                ],
                responses: [
                    "200": response("A page.", reference("StatusHistoryPage")),
                    "404": response("No such charger.", reference("Detail")), "422": invalid,
                ]
            )
        )
        add(
            &paths,
            "/db/charge_sessions/{charge_session_id}/summary",
            "get",
            operation(
                "summary_of_charge_session",
                "Energy delivered, duration and peak power of a session, from its samples.",
                tag: "Meter history",
                parameters: [
                    parameter("charge_session_id", in: "path", integer(), "The session's id (its transactionId).")
                ],
                responses: [
                    "200": response("The summary.", reference("ChargeSessionSummary")),
                    "404": response("No such session.", reference("Detail")), "422": invalid,
                ]
            )
        )
    }

    // MARK: - Shared schemas

    private static func baseSchemas() -> [String: JSONValue] {
        let nullableText: JSONValue = ["type": ["string", "null"]]
        let series: [String: JSONValue] = [
            "connector_id": ["type": "integer"], "transaction_id": ["type": ["integer", "null"]],
            "measurand": nullableText, "phase": nullableText, "unit": nullableText, "location": nullableText,
            "context": nullableText, "format": nullableText,
        ]
        return [
            "Detail": [
                "type": "object", "properties": ["detail": ["type": "string"]], "required": ["detail"],
            ],
            "ValidationError": [
                "type": "object",
                "properties": [
                    "detail": [
                        "type": "array",
                        "items": [
                            "type": "object",
                            "properties": [
                                "loc": [
                                    "type": "array", "items": ["anyOf": [["type": "string"], ["type": "integer"]]],
                                ],
                                "msg": ["type": "string"], "type": ["type": "string"],
                            ],
                            "required": ["loc", "msg", "type"],
                        ],
                    ]
                ],
                "required": ["detail"],
            ],
            "CallError": [
                "type": "object",
                "properties": [
                    "detail": ["type": "string"], "error_code": ["type": "string"],
                    "error_description": ["type": "string"], "error_details": ["type": "object"],
                ],
                "required": ["detail"],
            ],
            "Status": [
                "type": "object", "properties": ["status": ["type": "string"], "detail": ["type": "string"]],
                "required": ["status"],
            ],
            "ConnectedChargePoint": [
                "type": "object",
                "properties": [
                    "charge_point_id": ["type": "string"],
                    "connected_since": ["type": "string", "format": "date-time"],
                    "last_message_at": ["type": "string", "format": "date-time"],
                    "remote_address": nullableText, "registration_status": nullableText, "subprotocol": nullableText,
                ],
                "required": [
                    "charge_point_id", "connected_since", "last_message_at", "remote_address", "registration_status",
                    "subprotocol",
                ],
            ],
            "ConnectedChargePointPage": page(reference("ConnectedChargePoint")),
            "MeterValue": [
                "type": "object",
                "description": "A raw sample.",
                "properties": .object(
                    series.merging([
                        "timestamp": ["type": "string", "format": "date-time"],
                        "value": [
                            "type": ["number", "null"],
                            "description": "The sample as a number; null when it is not one (see raw).",
                        ],
                        "raw": [
                            "type": "string",
                            "description":
                                "The exact text the charger sent, when it is not the number's shortest form or the format is SignedData.",
                        ],
                    ]) { $1 }
                ),
                "required": .array((["timestamp", "value"] + series.keys.sorted()).map(JSONValue.string)),
            ],
            "MeterValueBucket": [
                "type": "object",
                "description": "One bucket of a downsampled series.",
                "properties": .object(
                    series.merging([
                        "bucket_start": ["type": "string", "format": "date-time"],
                        "value": ["type": ["number", "null"]],
                        "count": ["type": "integer", "minimum": 1],
                    ]) { $1 }
                ),
                "required": .array((["bucket_start", "value", "count"] + series.keys.sorted()).map(JSONValue.string)),
            ],
            "StatusEvent": [
                "type": "object",
                "properties": [
                    "timestamp": ["type": "string", "format": "date-time"], "connector_id": ["type": "integer"],
                    "status": ["type": "string"], "error_code": ["type": "string"], "info": nullableText,
                    "vendor_id": nullableText, "vendor_error_code": nullableText,
                ],
                "required": [
                    "timestamp", "connector_id", "status", "error_code", "info", "vendor_id", "vendor_error_code",
                ],
            ],
            "StatusHistoryPage": [
                "type": "object",
                "properties": [
                    "items": ["type": "array", "items": reference("StatusEvent")], "next_cursor": nullableText,
                ],
                "required": ["items", "next_cursor"],
            ],
            "ChargeSessionSummary": [
                "type": "object",
                "properties": [
                    "charge_session_id": ["type": "integer"], "charger_id": ["type": "integer"],
                    "connector_id": ["type": "integer"], "status": ["type": "string"],
                    "start_time": ["type": "string", "format": "date-time"],
                    "stop_time": ["type": ["string", "null"], "format": "date-time"],
                    "duration_seconds": ["type": "number", "description": "To the stop, or to now while active."],
                    "energy_wh": [
                        "type": ["number", "null"],
                        "description": "Last minus first energy register sample of the session (kWh converted).",
                    ],
                    "energy_source": [
                        "type": ["string", "null"], "enum": ["meter_values", "meter_start_stop", .null],
                        "description": "meter_start_stop when the session has no register samples to compare.",
                    ],
                    "peak_power_w": [
                        "type": ["number", "null"], "description": "Highest Power.Active.Import sample.",
                    ],
                    "average_power_w": ["type": ["number", "null"]],
                    "sample_count": [
                        "type": "integer", "description": "Energy register and power samples the summary read.",
                    ],
                ],
                "required": [
                    "charge_session_id", "charger_id", "connector_id", "status", "start_time", "stop_time",
                    "duration_seconds", "energy_wh", "energy_source", "peak_power_w", "average_power_w",
                    "sample_count",
                ],
            ],
            "MeterHistoryPage": [
                "type": "object",
                "properties": [
                    "items": [
                        "type": "array",
                        "items": ["anyOf": [reference("MeterValue"), reference("MeterValueBucket")]],
                    ],
                    "next_cursor": nullableText,
                ],
                "required": ["items", "next_cursor"],
            ],
        ]
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    init(stringLiteral value: String) { self = .string(value) }
    init(integerLiteral value: Int64) { self = .integer(value) }
    init(booleanLiteral value: Bool) { self = .bool(value) }
    init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements) { _, last in last })
    }
}
