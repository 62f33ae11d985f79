import Foundation
import Ingest
import Protocol
import Relational

/// Meter history, status history and session summaries.
extension OpenAPIDocument {
    static func meterHistory(into paths: inout [String: JSONValue]) {
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
                    "Downsample into buckets of this width (1m, 15m, 1h, 1d). An answer holds at most "
                        + "\(MeterHistory.maximumBuckets) buckets (the range's buckets times its series): more is a 422."
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
                parameter(
                    "layout",
                    in: "query",
                    [
                        "type": "string",
                        "enum": .array(HistoryFormat.BucketLayout.allCases.map { .string($0.rawValue) }),
                    ],
                    "Bucketed JSON only: rows (the default), one item per bucket; series, one item per series "
                        + "with its buckets' values and counts as arrays (a month by the hour is a fifteenth of "
                        + "the bytes). Without bucket, or in CSV, it changes nothing (as agg)."
                ),
            ]
        for (resource, name) in [
            (Resource.chargers, "charger"), (.connectors, "connector"), (.chargeSessions, "charge session"),
        ] {
            let (collection, idParameter) = (resource.collection, resource.idParameter)
            add(
                &paths,
                "/db/\(collection)/{\(idParameter)}/meter-values",
                "get",
                operation(
                    "meter_values_of_\(name.replacingOccurrences(of: " ", with: "_"))",
                    "The \(name)'s meter history, raw or downsampled, JSON or CSV.",
                    tag: "Meter history",
                    parameters: [parameter(idParameter, in: "path", id(resource), "The \(name)'s database id.")]
                        + filters,
                    responses: [
                        "200": [
                            "description": .string(
                                "Samples (or buckets) in time order, with a cursor for the next page; with "
                                    + "layout=series, buckets by series."
                            ),
                            "headers": [
                                "OCPP-Incomplete-Nodes": [
                                    "description": .string(
                                        "CSV in a cluster: the nodes that held part of the range but could not "
                                            + "answer, comma-separated (JSON has incomplete_nodes). Absent when "
                                            + "the answer is complete."
                                    ),
                                    "schema": ["type": "string"],
                                ]
                            ],
                            "content": [
                                "application/json": [
                                    "schema": [
                                        "anyOf": [reference("MeterHistoryPage"), reference("MeterHistorySeries")]
                                    ]
                                ],
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

    /// The schema of `/db/chargers/{charger_id}/events`' page.
    private static let chargerEventPage: JSONValue = [
        "type": "object",
        "properties": [
            "items": [
                "type": "array",
                "items": [
                    "type": "object",
                    "properties": [
                        "timestamp": ["type": "string", "format": "date-time"],
                        "action": ["type": "string", "enum": .array(ChargerEvents.actions.map { .string($0.name) })],
                        "payload": [
                            "type": "object",
                            "description": .string(
                                "The stored payload: the OCPP request in snake_case; for ServerSecurityEvent a "
                                    + "SecurityEventNotification's fields; for CertificateSigned the charger's "
                                    + "confirmation, or error when the call failed."
                            ),
                        ],
                    ],
                    "required": ["timestamp", "action", "payload"],
                ],
            ],
            "next_cursor": ["type": ["string", "null"]],
            "incomplete_nodes": [
                "type": "array", "items": ["type": "string"],
                "description": .string(
                    "In a cluster only (a server alone leaves it out): the nodes that held the charger in the "
                        + "range but could not answer. Empty when the answer is complete."
                ),
            ],
        ],
        "required": ["items", "next_cursor"],
    ]

    /// A `cursor` parameter: a `next_cursor` this API returned.
    private static let cursor: JSONValue = ["type": "string", "pattern": .string(MeterHistory.cursorPattern)]

    /// `connector_id`, `limit` and `cursor`, as the history endpoints take them.
    private static func historyPaging(_ noun: String) -> [JSONValue] {
        [
            parameter(
                "connector_id",
                in: "query",
                integer(minimum: 0, maximum: Int64(MeterHistory.connectorIDs.upperBound)),
                "Only this OCPP connector id."
            ),
            parameter(
                "limit",
                in: "query",
                integer(minimum: 1, maximum: Int64(MeterHistory.maximumLimit)),
                "\(noun) per page (\(MeterHistory.defaultLimit))."
            ),
            parameter("cursor", in: "query", cursor, "next_cursor of the previous page."),
        ]
    }

    static func chargerHistory(into paths: inout [String: JSONValue]) {
        add(
            &paths,
            "/db/chargers/{charger_id}/status-history",
            "get",
            operation(
                "status_history_of_charger",
                "The charger's StatusNotifications, in time order, with a cursor for the next page.",
                tag: "Meter history",
                parameters: [
                    parameter("charger_id", in: "path", id(.chargers), "The charger's database id."),
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
            "/db/chargers/{charger_id}/events",
            "get",
            operation(
                "events_of_charger",
                "The charger's stored events, in time order, with a cursor for the next page: the notifications "
                    + "it sent (SecurityEventNotification, firmware, diagnostics and log status, DataTransfer, "
                    + "SignCertificate), the security events the server recorded about it (ServerSecurityEvent) "
                    + "and its answers to CertificateSigned.",
                tag: "Meter history",
                parameters: [
                    parameter("charger_id", in: "path", id(.chargers), "The charger's database id."),
                    parameter("from", in: "query", ["type": "string", "format": "date-time"], "At or after."),
                    parameter(
                        "to",
                        in: "query",
                        ["type": "string", "format": "date-time"],
                        "Before (none when not after from)."
                    ),
                    [
                        "name": "action", "in": "query", "required": false, "style": "form", "explode": true,
                        "schema": [
                            "type": "array",
                            "items": [
                                "type": "string", "enum": .array(ChargerEvents.actions.map { .string($0.name) }),
                            ],
                        ],
                        "description": "Only events of these actions (repeat for several).",
                    ],
                    parameter(
                        "limit",
                        in: "query",
                        integer(minimum: 1, maximum: Int64(MeterHistory.maximumLimit)),
                        "Items per page (\(MeterHistory.defaultLimit))."
                    ),
                    parameter("cursor", in: "query", cursor, "next_cursor of the previous page."),
                ],
                responses: [
                    "200": response("A page.", chargerEventPage),
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
                    parameter(
                        "charge_session_id",
                        in: "path",
                        id(.chargeSessions),
                        "The session's id (its transactionId)."
                    )
                ],
                responses: [
                    "200": response("The summary.", reference("ChargeSessionSummary")),
                    "404": response("No such session.", reference("Detail")), "422": invalid,
                ]
            )
        )
    }
}
