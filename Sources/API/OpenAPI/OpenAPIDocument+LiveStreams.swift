import Foundation

/// Live streams of a charger's, a site's or the whole fleet's samples and status changes.
extension OpenAPIDocument {
    static func liveStreams(into paths: inout [String: JSONValue]) {
        let description =
            "Server-Sent Events (text/event-stream), sent as rows are acknowledged to the charger: "
            + "`ready` first (data {\"replay\": \"none\" | \"exact\" | \"history\" | \"lost\"}), then `samples` "
            + "events (data {\"series\": [{charge_point_id, connector_id, measurand, phase, unit, location, "
            + "context, format, rows: [[timestamp, value, transaction_id(, raw)], ...]}]}, the rows of one write "
            + "grouped by series) and `status` events (data: a meter-history row with charge_point_id, error_code, "
            + "info, vendor_id, vendor_error_code); `dropped` when the client falls further behind "
            + "than the server buffers, `end` when the server stops; a comment every 15 s while idle. Each event "
            + "id is CURSOR@EPOCH-NEXT; reconnect with Last-Event-ID to resume without a gap or a duplicate (a "
            + "meter-history next_cursor as Last-Event-ID starts where that read ended)."
        let lastEventID = parameter(
            "Last-Event-ID",
            in: "header",
            ["type": "string", "maxLength": 128],
            "The last event id received (or a meter-history next_cursor): resume after it."
        )
        let kind = parameter(
            "kind",
            in: "query",
            ["type": "string", "enum": ["sample", "status"]],
            "Only samples, or only status changes; both without it."
        )
        func streamOperation(
            _ id: String,
            _ summary: String,
            _ parameters: [JSONValue],
            notFound: String?
        )
            -> JSONValue
        {
            var responses: [String: JSONValue] = [
                "200": response(
                    "The stream; it ends only with `dropped` or `end`.",
                    ["type": "string"],
                    type: "text/event-stream"
                ),
                "422": invalid,
                "503": response("Too many live streams are open, or the server is stopping.", reference("Detail")),
            ]
            if let notFound { responses["404"] = response(notFound, reference("Detail")) }
            return operation(
                id,
                summary + " " + description,
                tag: "Meter history",
                parameters: parameters + [kind, lastEventID],
                responses: responses
            )
        }
        for (resource, name) in [(Resource.chargers, "charger"), (.sites, "site")] {
            add(
                &paths,
                "/db/\(resource.collection)/{\(resource.idParameter)}/meter-values/stream",
                "get",
                streamOperation(
                    "stream_\(name)_meter_values",
                    "The \(name)'s samples and status changes, live.",
                    [parameter(resource.idParameter, in: "path", id(resource), "The \(name)'s database id.")],
                    notFound: "No such \(name)."
                )
            )
        }
        add(
            &paths,
            "/db/meter-values/stream",
            "get",
            streamOperation(
                "stream_fleet_meter_values",
                "Samples and status changes of every charger the caller may see (its company's, or all), "
                    + "as registered when the stream opens, live.",
                [],
                notFound: nil
            )
        )
    }
}
