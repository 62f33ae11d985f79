import Foundation

/// Live streams of a charger's or a site's samples and status changes.
extension OpenAPIDocument {
    static func liveStreams(into paths: inout [String: JSONValue]) {
        let description =
            "Server-Sent Events (text/event-stream), sent as rows are acknowledged to the charger: "
            + "`ready` first (data {\"replay\": \"none\" | \"exact\" | \"history\" | \"lost\"}), then `sample` and "
            + "`status` events whose data is a meter-history row with charge_point_id (and, for a status, "
            + "error_code, info, vendor_id, vendor_error_code); `dropped` when the client falls further behind "
            + "than the server buffers, `end` when the server stops; a comment every 15 s while idle. Each event "
            + "id is CURSOR@EPOCH-NEXT; reconnect with Last-Event-ID to resume without a gap or a duplicate (a "
            + "meter-history next_cursor as Last-Event-ID starts where that read ended)."
        let lastEventID = parameter(
            "Last-Event-ID",
            in: "header",
            ["type": "string", "maxLength": 128],
            "The last event id received (or a meter-history next_cursor): resume after it."
        )
        for (resource, name) in [(Resource.chargers, "charger"), (.sites, "site")] {
            add(
                &paths,
                "/db/\(resource.collection)/{\(resource.idParameter)}/meter-values/stream",
                "get",
                operation(
                    "stream_\(name)_meter_values",
                    "The \(name)'s samples and status changes, live. " + description,
                    tag: "Meter history",
                    parameters: [
                        parameter(resource.idParameter, in: "path", id(resource), "The \(name)'s database id."),
                        lastEventID,
                    ],
                    responses: [
                        "200": response(
                            "The stream; it ends only with `dropped` or `end`.",
                            ["type": "string"],
                            type: "text/event-stream"
                        ),
                        "404": response("No such \(name).", reference("Detail")),
                        "422": invalid,
                        "503": response(
                            "Too many live streams are open, or the server is stopping.",
                            reference("Detail")
                        ),
                    ]
                )
            )
        }
    }
}
