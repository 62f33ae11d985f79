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
    static let json: [UInt8] = {
        // A JSONValue holds nothing the encoder refuses.
        try! APIJSONEncoder.bytes(document())
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

    static func operations(into paths: inout [String: JSONValue]) {
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
}
