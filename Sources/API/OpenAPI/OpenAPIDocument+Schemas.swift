import Foundation
import Ingest
import Protocol
import Relational

/// The schemas several parts of the document share.
extension OpenAPIDocument {
    static func baseSchemas() -> [String: JSONValue] {
        let nullableText: JSONValue = ["type": ["string", "null"]]
        let incompleteNodes: JSONValue = [
            "type": "array", "items": ["type": "string"],
            "description": .string(
                "In a cluster only (a server alone leaves it out): the nodes that held part of the charger's "
                    + "history in the range but could not answer (lease lapsed, unreachable, no answer in time). "
                    + "Empty when the answer is complete."
            ),
        ]
        // What chargers send is bounded where it enters (OCPP integers are 32 bits; connector ids 0 or more).
        let connectorID = integer(minimum: 0, maximum: Int64(Int32.max))
        let transactionID: JSONValue = [
            "type": ["integer", "null"], "minimum": .integer(Int64(Int32.min)), "maximum": .integer(Int64(Int32.max)),
        ]
        let series: [String: JSONValue] = [
            "connector_id": connectorID, "transaction_id": transactionID,
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
                    "last_message_at": [
                        "type": ["string", "null"], "format": "date-time",
                        "description": "Null for a charger held by another node of a cluster.",
                    ],
                    "remote_address": nullableText, "registration_status": nullableText, "subprotocol": nullableText,
                    "node_id": [
                        "type": "string",
                        "description": "In a cluster only: the node the charger is connected to.",
                    ],
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
            "MeterHistorySeries": [
                "type": "object",
                "description": .string(
                    "Downsampled history laid out by series (layout=series): each series' buckets from its "
                        + "first (start) to its last, one entry per bucket_ms; a bucket without samples is null "
                        + "in values and 0 in counts."
                ),
                "properties": [
                    "bucket_ms": ["type": "integer", "minimum": 1],
                    "series": [
                        "type": "array",
                        "items": [
                            "type": "object",
                            "properties": .object(
                                series.merging([
                                    "start": ["type": "string", "format": "date-time"],
                                    "values": ["type": "array", "items": ["type": ["number", "null"]]],
                                    "counts": ["type": "array", "items": ["type": "integer", "minimum": 0]],
                                ]) { $1 }
                            ),
                            "required": .array(
                                (["start", "values", "counts"] + series.keys.sorted()).map(JSONValue.string)
                            ),
                        ],
                    ],
                    "next_cursor": ["type": "null"],
                    "incomplete_nodes": incompleteNodes,
                ],
                "required": ["bucket_ms", "series", "next_cursor"],
            ],
            "StatusEvent": [
                "type": "object",
                "properties": [
                    "timestamp": ["type": "string", "format": "date-time"], "connector_id": connectorID,
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
                    "incomplete_nodes": incompleteNodes,
                ],
                "required": ["items", "next_cursor"],
            ],
            "ChargeSessionSummary": [
                "type": "object",
                "properties": [
                    "charge_session_id": id(.chargeSessions), "charger_id": id(.chargers),
                    "connector_id": connectorID, "status": ["type": "string"],
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
                        "type": "integer", "description": "Numeric energy register and power samples of the session.",
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
                    "incomplete_nodes": incompleteNodes,
                ],
                "required": ["items", "next_cursor"],
            ],
        ]
    }
}
