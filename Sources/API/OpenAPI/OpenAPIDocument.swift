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

    static func document() -> JSONValue {
        var paths: [String: JSONValue] = [:]
        operations(into: &paths)
        commands(into: &paths)
        database(into: &paths)
        integration(into: &paths)
        meterHistory(into: &paths)
        chargerHistory(into: &paths)
        loadCurves(into: &paths)
        liveStreams(into: &paths)
        siteReport(into: &paths)
        auditLog(into: &paths)
        tokens(into: &paths)
        swaggerUI(into: &paths)
        console(into: &paths)
        secure(&paths)
        var schemas = baseSchemas()
        if case .object(let ocpp)? = JSONValue.parse(Array(OCPPSchemas.json.utf8)) {
            schemas.merge(ocpp) { current, _ in current }
        }
        relayedSchemas(into: &schemas)
        tokenSchemas(into: &schemas)
        consoleSchemas(into: &schemas)
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
                        + "snake_case at every depth. Every operation but the probes, this document and the "
                        + "WebSocket endpoint needs Authorization: Bearer <token>; x-roles lists the roles it allows."
                ),
            ],
            "paths": .object(paths),
            "components": ["schemas": .object(schemas), "securitySchemes": securitySchemes],
            "security": [["bearer": []]],
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
        // The OCPP WebSocket endpoint (/ocpp/{charge_point_id}, in the description) is no HTTP operation:
        // a request that follows its description is upgraded, and OpenAPI has no way to say so.
    }
}
