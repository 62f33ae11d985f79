import Foundation

/// Load curves of sites and companies, and a site's report.
extension OpenAPIDocument {
    static func siteReport(into paths: inout [String: JSONValue]) {
        let date: JSONValue = ["type": "string", "format": "date-time"]
        let nullableDate: JSONValue = ["type": ["string", "null"], "format": "date-time"]
        let nullableNumber: JSONValue = ["type": ["number", "null"]]
        let outage: JSONValue = [
            "type": "object",
            "properties": [
                "start": date, "end": date, "seconds": ["type": "number"], "status": ["type": "string"],
                "error_code": ["type": "string"],
            ],
            "required": ["start", "end", "seconds", "status", "error_code"],
        ]
        let session: JSONValue = [
            "type": "object",
            "properties": [
                "charge_session_id": id(.chargeSessions), "start_time": date, "stop_time": nullableDate,
                "energy_wh": nullableNumber, "peak_power_w": nullableNumber,
                "error_codes": ["type": "array", "items": ["type": "string"]],
            ],
            "required": ["charge_session_id", "start_time", "stop_time", "energy_wh", "peak_power_w", "error_codes"],
        ]
        let port: JSONValue = [
            "type": "object",
            "properties": [
                "charger_id": id(.chargers), "charge_point_id": ["type": "string"], "connector_id": ["type": "integer"],
                "uptime": [
                    "type": ["number", "null"],
                    "description": "Up over up plus down (Unavailable and Faulted of the port or of connector 0).",
                ],
                "up_seconds": ["type": "number"], "down_seconds": ["type": "number"],
                "unknown_seconds": ["type": "number", "description": "Before the first status reported."],
                "outages": ["type": "array", "items": outage],
                "sessions": ["type": "array", "items": session],
            ],
            "required": [
                "charger_id", "charge_point_id", "connector_id", "uptime", "up_seconds", "down_seconds",
                "unknown_seconds", "outages", "sessions",
            ],
        ]
        let report: JSONValue = [
            "type": "object",
            "properties": [
                "site_id": id(.sites), "from": date, "to": date, "ports": ["type": "array", "items": port],
            ],
            "required": ["site_id", "from", "to", "ports"],
        ]
        add(
            &paths,
            "/db/sites/{site_id}/report",
            "get",
            operation(
                "report_of_site",
                "Per port: sessions started in the period (energy, peak power, error codes) and uptime with outages.",
                tag: "Meter history",
                parameters: [
                    parameter("site_id", in: "path", id(.sites), "The site's database id."),
                    parameter("from", in: "query", date, "Start of the period (default: 30 days before to)."),
                    parameter(
                        "to",
                        in: "query",
                        date,
                        "End of the period (default: now, or from when from is later); at or before from: an empty period."
                    ),
                    parameter(
                        "format",
                        in: "query",
                        ["type": "string", "enum": ["json", "csv"]],
                        "csv: one line per port, outage and session, told apart by the record column."
                    ),
                ],
                responses: [
                    "200": [
                        "description": "The report.",
                        "content": [
                            "application/json": ["schema": report],
                            "text/csv": ["schema": ["type": "string"]],
                        ],
                    ],
                    "404": response("No such site.", reference("Detail")),
                    "422": invalid,
                ]
            )
        )
    }

    static func loadCurves(into paths: inout [String: JSONValue]) {
        let point: JSONValue = [
            "type": "object",
            "properties": [
                "bucket_start": ["type": "string", "format": "date-time"],
                "value": ["type": "number", "description": "The sum over the series of each one's folded value."],
                "chargers": ["type": "integer", "description": "Chargers with a summed series in the bucket."],
                "series": ["type": "integer", "description": "Series summed in the bucket."],
            ],
            "required": ["bucket_start", "value", "chargers", "series"],
        ]
        let curve: JSONValue = [
            "type": "object",
            "properties": [
                "measurand": ["type": "string"],
                "unit": [
                    "type": ["string", "null"],
                    "description": "The unit after conversion (kW to W, kWh to Wh, ...) when all series share it.",
                ],
                "agg": ["type": "string", "enum": .array(LoadCurves.aggregates.map { .string($0) })],
                "bucket": ["type": "string"],
                "chargers": ["type": "integer", "description": "Chargers of the site or company."],
                "items": ["type": "array", "items": point],
            ],
            "required": ["measurand", "unit", "agg", "bucket", "chargers", "items"],
        ]
        let filters: [JSONValue] = [
            parameter(
                "measurand",
                in: "query",
                ["type": "string", "minLength": 1],
                "The measurand summed.",
                required: true
            ),
            parameter(
                "bucket",
                in: "query",
                ["type": "string", "pattern": "^[1-9][0-9]{0,5}[smhd]$"],
                "Bucket width (1m, 15m, 1h, 1d; 15m). At most \(MeterHistory.maximumBuckets) buckets from the first "
                    + "to the last sample in range: more is a 422."
            ),
            parameter(
                "agg",
                in: "query",
                ["type": "string", "enum": .array(LoadCurves.aggregates.map { .string($0) })],
                "How each series is folded in a bucket before the sum (avg)."
            ),
            parameter(
                "phase",
                in: "query",
                ["type": "string"],
                "Sum this phase's series (default: series without a phase)."
            ),
            parameter(
                "connector_id",
                in: "query",
                integer(minimum: 0, maximum: Int64(MeterHistory.connectorIDs.upperBound)),
                "Only this OCPP connector id (0: the chargers' main meters). Default: every connector from 1."
            ),
            parameter("from", in: "query", ["type": "string", "format": "date-time"], "Samples at or after."),
            parameter("to", in: "query", ["type": "string", "format": "date-time"], "Samples before."),
            parameter("format", in: "query", ["type": "string", "enum": ["json", "csv"]], "csv for CSV."),
        ]
        for (resource, name) in [(Resource.sites, "site"), (.companies, "company")] {
            add(
                &paths,
                "/db/\(resource.collection)/{\(resource.idParameter)}/meter-values",
                "get",
                operation(
                    "load_curve_of_\(name)",
                    "The \(name)'s load curve: per bucket, each connector's series folded, then summed over its chargers.",
                    tag: "Meter history",
                    parameters: [
                        parameter(resource.idParameter, in: "path", id(resource), "The \(name)'s database id.")
                    ]
                        + filters,
                    responses: [
                        "200": [
                            "description": "The curve, buckets in time order.",
                            "content": [
                                "application/json": ["schema": curve],
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
}
