import Foundation
import Ingest
import Protocol
import Relational

/// The OCPP command endpoints and the OCPP-DB integration endpoints.
extension OpenAPIDocument {
    // MARK: - OCPP commands

    static func commands(into paths: inout [String: JSONValue]) {
        let chargePoint = parameter(
            "charge_point_id",
            in: "path",
            ["type": "string", "pattern": .string(ChargePointID.pattern)],
            "The charger's OCPP identity."
        )
        let failures: [String: JSONValue] = [
            "404": response("The charger is not connected (in a cluster: to any live node).", reference("Detail")),
            "422": invalid,
            "429": response("Too many calls are queued for this charger.", reference("Detail")),
            "502": response(
                "The charger answered with a CALLERROR, an invalid confirmation, or closed the connection; in a "
                    + "cluster also: the node holding the charger could not be reached.",
                reference("CallError")
            ),
            "504": response(
                "The charger did not answer in time (in a cluster also: the node holding it did not).",
                reference("Detail")
            ),
        ]
        /// A command's answers: the charger's confirmation of `action`, or one of the failures.
        func answers(_ action: String) -> [String: JSONValue] {
            failures.merging(["200": response("The confirmation.", reference("\(action)Response"))]) { $1 }
        }
        add(
            &paths,
            "/charge_points",
            "get",
            operation(
                "list_connected_charge_points",
                "The chargers connected to this server (in a cluster, to any node whose lease holds).",
                tag: "OCPP commands",
                parameters: [
                    parameter("limit", in: "query", integer(minimum: 1, maximum: 1000), "Items per page (100)."),
                    parameter("offset", in: "query", integer(minimum: 0, maximum: Int64.max), "Items to skip."),
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
                responses: answers("GetConfiguration")
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
                    responses: answers(action).merging([
                        "413": response("The body is too large.", reference("Detail"))
                    ]) { $1 }
                )
            )
        }
    }

    // MARK: - OCPP-DB integration

    static func integration(into paths: inout [String: JSONValue]) {
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
                        "409": response(
                            "Beyond a limit of this central system (OCPP_MAX_CONNECTOR_ID, "
                                + "OCPP_MAX_SERIES_PER_CHARGER); nothing was stored.",
                            reference("Detail")
                        ),
                        "413": detail, "422": invalid,
                        "503": response("Storing failed; nothing was acknowledged. Retry.", reference("Detail")),
                    ]
                )
            )
        }
    }

    /// The OCPP requests' schemas as the API takes them, with ``SchemaBounds``: `<Action>Request`
    /// for the commands, `Relayed<Action>Request` for `/db/ocpp/*`.
    static let requestSchemas: [String: JSONValue] = {
        guard case .object(let ocpp)? = JSONValue.parse(Array(OCPPSchemas.json.utf8)) else { return [:] }
        var schemas: [String: JSONValue] = [:]
        for (name, schema) in ocpp where name.hasSuffix("Request") {
            schemas[name] = SchemaBounds.bounded(schema, storable: false)
        }
        for endpoint in IntegrationRoutes.endpoints {
            let action = endpoint.action.rawValue
            guard let schema = ocpp["\(action)Request"],
                let relayed = relayed(SchemaBounds.bounded(schema, storable: true))
            else { continue }
            schemas["Relayed\(action)Request"] = relayed
        }
        return schemas
    }()

    /// Replaces the OCPP requests' schemas with ``requestSchemas``.
    static func relayedSchemas(into schemas: inout [String: JSONValue]) {
        schemas.merge(requestSchemas) { _, bounded in bounded }
    }

    /// The relayed form of an OCPP request's schema: plus the charger's `charge_point_id`.
    private static func relayed(_ request: JSONValue) -> JSONValue? {
        guard case .object(var schema) = request, case .object(var properties)? = schema["properties"] else {
            return nil
        }
        properties["charge_point_id"] = [
            "type": "string", "pattern": .string(ChargePointID.pattern),
            "description": "The charger's OCPP identity.",
        ]
        schema["properties"] = .object(properties)
        var required: [JSONValue] = ["charge_point_id"]
        if case .array(let existing)? = schema["required"] { required += existing }
        schema["required"] = .array(required)
        return .object(schema)
    }
}
