import Foundation
import Protocol
import TimeSeries

/// How meter history is written: JSON objects with snake_case keys, or CSV with a header.
enum HistoryFormat {
    static let columns = [
        "timestamp", "connector_id", "transaction_id", "measurand", "phase", "unit", "location", "context", "format",
    ]

    /// A raw sample: `value` is a JSON number when the sample is numeric, and `raw` carries
    /// the exact text whenever it is not the number's canonical form, or for SignedData.
    static func rowsJSON(_ rows: [EventRow], nextCursor: EventCursor?) -> String {
        var items: [String] = []
        items.reserveCapacity(rows.count)
        for row in rows {
            var fields = seriesFields(row.series, timestamp: row.timestamp)
            switch row.value {
            case .number(let number):
                fields.append(#""value":\#(jsonNumber(number))"#)
            case .numberWithText(let number, let text):
                fields.append(#""value":\#(jsonNumber(number))"#)
                fields.append(#""raw":\#(APIApplication.jsonString(text))"#)
            case .text(let text), .payload(let text):
                fields.append(#""value":null"#)
                fields.append(#""raw":\#(APIApplication.jsonString(text))"#)
            case .status(let status):
                fields.append(#""value":\#(APIApplication.jsonString(status.status))"#)
            }
            items.append("{" + fields.joined(separator: ",") + "}")
        }
        let cursor = nextCursor.map { APIApplication.jsonString($0.description) } ?? "null"
        return #"{"items":[\#(items.joined(separator: ","))],"next_cursor":\#(cursor)}"#
    }

    static func rowsCSV(_ rows: [EventRow]) -> String {
        var lines = [(columns + ["value", "raw"]).joined(separator: ",")]
        for row in rows {
            var cells = seriesCells(row.series, timestamp: row.timestamp)
            switch row.value {
            case .number(let number): cells += [EventValue.number(number).text, ""]
            case .numberWithText(let number, let text): cells += [EventValue.number(number).text, csv(text)]
            case .text(let text), .payload(let text): cells += ["", csv(text)]
            case .status(let status): cells += [csv(status.status), ""]
            }
            lines.append(cells.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func aggregateJSON(_ buckets: [AggregateBucket], aggregate: String) -> String {
        let items = buckets.map { bucket in
            var fields = seriesFields(bucket.series, timestamp: bucket.start, timestampKey: "bucket_start")
            fields.append(#""value":\#(jsonNumber(value(of: bucket, aggregate)))"#)
            fields.append(#""count":\#(bucket.count)"#)
            return "{" + fields.joined(separator: ",") + "}"
        }
        return #"{"items":[\#(items.joined(separator: ","))],"next_cursor":null}"#
    }

    static func aggregateCSV(_ buckets: [AggregateBucket], aggregate: String) -> String {
        var header = columns
        header[0] = "bucket_start"
        var lines = [(header + ["value", "count"]).joined(separator: ",")]
        for bucket in buckets {
            let cells =
                seriesCells(bucket.series, timestamp: bucket.start)
                + [EventValue.number(value(of: bucket, aggregate)).text, String(bucket.count)]
            lines.append(cells.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func value(of bucket: AggregateBucket, _ aggregate: String) -> Double {
        switch aggregate {
        case "min": return bucket.minimum
        case "max": return bucket.maximum
        case "first": return bucket.first
        case "last": return bucket.last
        case "sum": return bucket.sum
        case "count": return Double(bucket.count)
        default: return bucket.average
        }
    }

    private static func seriesFields(_ key: SeriesKey, timestamp: Int64, timestampKey: String = "timestamp") -> [String]
    {
        func text(_ value: String?) -> String { value.map(APIApplication.jsonString) ?? "null" }
        return [
            #""\#(timestampKey)":"\#(OCPPTimestamp(millisecondsSince1970: timestamp))""#,
            #""connector_id":\#(key.connectorID)"#,
            #""transaction_id":\#(key.transactionID.map(String.init) ?? "null")"#,
            #""measurand":\#(text(key.measurand))"#,
            #""phase":\#(text(key.phase))"#,
            #""unit":\#(text(key.unit))"#,
            #""location":\#(text(key.location))"#,
            #""context":\#(text(key.context))"#,
            #""format":\#(text(key.format))"#,
        ]
    }

    private static func seriesCells(_ key: SeriesKey, timestamp: Int64) -> [String] {
        [
            OCPPTimestamp(millisecondsSince1970: timestamp).description, String(key.connectorID),
            key.transactionID.map(String.init) ?? "", csv(key.measurand ?? ""), csv(key.phase ?? ""),
            csv(key.unit ?? ""), csv(key.location ?? ""), csv(key.context ?? ""), csv(key.format ?? ""),
        ]
    }

    /// A number as JSON (non-finite values, which JSON cannot carry, as null).
    static func jsonNumber(_ value: Double) -> String {
        value.isFinite ? EventValue.number(value).text : "null"
    }

    /// A CSV cell, quoted when it holds a comma, quote or line break.
    static func csv(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
