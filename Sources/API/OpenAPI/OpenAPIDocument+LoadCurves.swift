import Foundation

/// Load curves of sites and companies.
extension OpenAPIDocument {
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
