import Foundation
import NIOCore
import Protocol
import TimeSeries

/// How meter history is written: JSON objects with snake_case keys, or CSV with a header.
///
/// Pages hold up to 10,000 rows, so rows are written straight into bytes, and the part of a
/// row its series decides (connector, measurand, ...) is rendered once per series and copied
/// after that; the transaction is the row's own.
enum HistoryFormat {
    static let columns = [
        "timestamp", "connector_id", "transaction_id", "measurand", "phase", "unit", "location", "context", "format",
    ]

    /// A raw sample: `value` is a JSON number when the sample is numeric, and `raw` carries
    /// the exact text whenever it is not the number's canonical form, or for SignedData.
    /// - Parameter incompleteNodes: In a cluster, the nodes that could not answer (the field
    ///   `incomplete_nodes`, left out on a server alone).
    static func rowsJSON(_ rows: [EventRow], nextCursor: EventCursor?, incompleteNodes: [String]? = nil) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(64 + rows.count * 220)
        append(#"{"items":["#, to: &output)
        var series = SeriesText(json: true)
        for (index, row) in rows.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            output.append(UInt8(ascii: "{"))
            appendRowFields(row, series: &series, to: &output)
            output.append(UInt8(ascii: "}"))
        }
        append(#"],"next_cursor":"#, to: &output)
        if let nextCursor {
            appendJSONString(nextCursor.description, to: &output)
        } else {
            append("null", to: &output)
        }
        appendIncompleteNodes(incompleteNodes, to: &output)
        output.append(UInt8(ascii: "}"))
        return output
    }

    /// `,"incomplete_nodes":[...]` when `nodes` is given.
    static func appendIncompleteNodes(_ nodes: [String]?, to output: inout [UInt8]) {
        guard let nodes else { return }
        append(#","incomplete_nodes":["#, to: &output)
        for (index, node) in nodes.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            appendJSONString(node, to: &output)
        }
        output.append(UInt8(ascii: "]"))
    }

    /// A row's fields as ``rowsJSON(_:nextCursor:)`` writes them, from `"timestamp"` to its
    /// value (the braces are the caller's).
    /// `seriesID`, when the caller knows it, finds the series' text by id (a key hashes every
    /// field).
    static func appendRowFields(
        _ row: EventRow,
        seriesID: UInt32? = nil,
        series: inout SeriesText,
        to output: inout [UInt8]
    ) {
        append(#""timestamp":""#, to: &output)
        OCPPTimestamp(millisecondsSince1970: row.timestamp).appendISO8601(to: &output)
        output.append(UInt8(ascii: "\""))
        series.append(row.series, seriesID: seriesID, transaction: row.transactionID, to: &output)
        switch row.value {
        case .number(let number):
            append(#","value":"#, to: &output)
            appendJSONNumber(number, to: &output)
        case .numberWithText(let number, let text):
            append(#","value":"#, to: &output)
            appendJSONNumber(number, to: &output)
            append(#","raw":"#, to: &output)
            appendJSONString(text, to: &output)
        case .text(let text), .payload(let text):
            append(#","value":null,"raw":"#, to: &output)
            appendJSONString(text, to: &output)
        case .status(let status):
            append(#","value":"#, to: &output)
            appendJSONString(status.status, to: &output)
        }
    }

    static func rowsCSV(_ rows: [EventRow], header: Bool = true) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(64 + rows.count * 120)
        if header { append((columns + ["value", "raw"]).joined(separator: ",") + "\n", to: &output) }
        var series = SeriesText(json: false)
        for row in rows {
            OCPPTimestamp(millisecondsSince1970: row.timestamp).appendISO8601(to: &output)
            series.append(row.series, transaction: row.transactionID, to: &output)
            output.append(UInt8(ascii: ","))
            switch row.value {
            case .number(let number):
                append(EventValue.number(number).text, to: &output)
                output.append(UInt8(ascii: ","))
            case .numberWithText(let number, let text):
                append(EventValue.number(number).text, to: &output)
                output.append(UInt8(ascii: ","))
                append(csv(text), to: &output)
            case .text(let text), .payload(let text):
                output.append(UInt8(ascii: ","))
                append(csv(text), to: &output)
            case .status(let status):
                append(csv(status.status), to: &output)
                output.append(UInt8(ascii: ","))
            }
            output.append(UInt8(ascii: "\n"))
        }
        return output
    }

    /// All of the buckets in one buffer, which is the response's body as it is.
    /// - Parameters:
    ///   - transactionID: The session the buckets are of, when the query named one (a series
    ///     spans sessions: otherwise a bucket's `transaction_id` is null).
    ///   - incompleteNodes: As ``rowsJSON(_:nextCursor:incompleteNodes:)`` has it.
    static func aggregateJSON(
        _ buckets: [AggregateBucket],
        aggregate: String,
        transactionID: Int? = nil,
        incompleteNodes: [String]? = nil
    ) -> ByteBuffer {
        var json = BucketsJSON(aggregate: aggregate, transactionID: transactionID, capacity: 64 + buckets.count * 240)
        for bucket in buckets { json.add(bucket) }
        return json.finish(incompleteNodes: incompleteNodes)
    }

    static func aggregateCSV(_ buckets: [AggregateBucket], aggregate: String, transactionID: Int? = nil) -> [UInt8] {
        var header = columns
        header[0] = "bucket_start"
        var output: [UInt8] = []
        append((header + ["value", "count"]).joined(separator: ",") + "\n", to: &output)
        var series = SeriesText(json: false)
        for bucket in buckets {
            OCPPTimestamp(millisecondsSince1970: bucket.start).appendISO8601(to: &output)
            series.append(bucket.series, transaction: transactionID, to: &output)
            append(",\(EventValue.number(value(of: bucket, aggregate)).text),\(bucket.count)\n", to: &output)
        }
        return output
    }

    /// The aggregate a bucket's value is, chosen once per answer.
    enum Aggregate {
        case minimum, maximum, first, last, sum, count, average

        init(_ name: String) {
            switch name {
            case "min": self = .minimum
            case "max": self = .maximum
            case "first": self = .first
            case "last": self = .last
            case "sum": self = .sum
            case "count": self = .count
            default: self = .average
            }
        }

        func value(of bucket: AggregateBucket) -> Double {
            switch self {
            case .minimum: bucket.minimum
            case .maximum: bucket.maximum
            case .first: bucket.first
            case .last: bucket.last
            case .sum: bucket.sum
            case .count: Double(bucket.count)
            case .average: bucket.average
            }
        }
    }

    static func value(of bucket: AggregateBucket, _ aggregate: String) -> Double {
        Aggregate(aggregate).value(of: bucket)
    }

    /// The series' and session's part of a row, after the timestamp:
    /// `,"connector_id":1,"transaction_id":7,...,"format":"Raw"` in JSON,
    /// `,1,7,Energy.Active.Import.Register,...` in CSV. The series' parts (before and after the
    /// transaction, which is the row's) are rendered once per series.
    struct SeriesText {
        let json: Bool
        private var rendered: [SeriesKey: (head: [UInt8], tail: [UInt8])] = [:]
        private var last: (key: SeriesKey, parts: (head: [UInt8], tail: [UInt8]))?
        /// By series id, for callers that know it (a live stream's rows rotate through their
        /// charger's series, so the last one is rarely the next).
        private var renderedByID: [UInt32: (head: [UInt8], tail: [UInt8])] = [:]

        init(json: Bool) { self.json = json }

        mutating func append(_ key: SeriesKey, seriesID: UInt32? = nil, transaction: Int?, to output: inout [UInt8]) {
            let parts = self.parts(key, seriesID: seriesID)
            output.append(contentsOf: parts.head)
            if let transaction {
                HistoryFormat.appendInteger(Int64(transaction), to: &output)
            } else if json {
                HistoryFormat.append("null", to: &output)
            }
            output.append(contentsOf: parts.tail)
        }

        /// The series' text before the transaction and after it.
        mutating func parts(_ key: SeriesKey, seriesID: UInt32? = nil) -> (head: [UInt8], tail: [UInt8]) {
            let parts: (head: [UInt8], tail: [UInt8])
            if let seriesID, let known = renderedByID[seriesID] {
                parts = known
            } else if let last, last.key == key {
                // Rows and buckets come series by series: the last one first.
                parts = last.parts
            } else if let known = rendered[key] {
                parts = known
            } else {
                parts = render(key)
            }
            if let seriesID, renderedByID[seriesID] == nil {
                if renderedByID.count >= 10_000 { renderedByID.removeAll() }
                renderedByID[seriesID] = parts
            }
            last = (key, parts)
            return parts
        }

        private mutating func render(_ key: SeriesKey) -> (head: [UInt8], tail: [UInt8]) {
            var head: [UInt8] = []
            var tail: [UInt8] = []
            if json {
                func field(_ name: String, _ value: String?) {
                    HistoryFormat.append(#","\#(name)":"#, to: &tail)
                    if let value { appendJSONString(value, to: &tail) } else { HistoryFormat.append("null", to: &tail) }
                }
                HistoryFormat.append(#","connector_id":\#(key.connectorID),"transaction_id":"#, to: &head)
                field("measurand", key.measurand)
                field("phase", key.phase)
                field("unit", key.unit)
                field("location", key.location)
                field("context", key.context)
                field("format", key.format)
            } else {
                HistoryFormat.append("," + String(key.connectorID) + ",", to: &head)
                let cells = [
                    csv(key.measurand ?? ""), csv(key.phase ?? ""), csv(key.unit ?? ""), csv(key.location ?? ""),
                    csv(key.context ?? ""), csv(key.format ?? ""),
                ]
                HistoryFormat.append("," + cells.joined(separator: ","), to: &tail)
            }
            rendered[key] = (head, tail)
            return (head, tail)
        }
    }

    /// A number as JSON (non-finite values, which JSON cannot carry, as null).
    static func jsonNumber(_ value: Double) -> String {
        value.isFinite ? EventValue.number(value).text : "null"
    }

    /// As ``jsonNumber(_:)`` writes it, without building a string for a whole number.
    static func appendJSONNumber(_ value: Double, to output: inout [UInt8]) {
        if value.rounded() == value, abs(value) < 1e15, value != 0 || value.sign == .plus {
            appendInteger(Int64(value), to: &output)
        } else if appendShortDecimal(value, to: &output) {
            return
        } else if write(to: &output, capacity: 32, { $0.shortestDecimal(value) }) {
            return
        } else {
            append(jsonNumber(value), to: &output)
        }
    }

    /// The decimal digits of `value`, as `String(value)` has them.
    static func appendInteger(_ value: Int64, to output: inout [UInt8]) {
        if value < 0 { output.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var count = 0
            repeat {
                digits[19 - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            output.append(contentsOf: digits[(20 - count)...])
        }
    }

    static func append(_ text: String, to output: inout [UInt8]) {
        var text = text
        text.withUTF8 { output.append(contentsOf: $0) }
    }

    static func appendJSONString(_ text: String, to output: inout [UInt8]) {
        JSONWriter.appendString(text, to: &output)
    }

    /// A CSV text cell, quoted when it holds a comma, quote or line break. A cell a spreadsheet
    /// would run as a formula (it starts with `=`, `+`, `-`, `@`, a tab or a carriage return)
    /// is neutralized with a leading `'`, unless it is a plain decimal number such as `-5.2`.
    static func csv(_ text: String) -> String {
        let text = neutralized(text)
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// `text` with a `'` before it when a spreadsheet would read it as a formula.
    static func neutralized(_ text: String) -> String {
        guard let first = text.utf8.first,
            first == UInt8(ascii: "=") || first == UInt8(ascii: "+") || first == UInt8(ascii: "-")
                || first == UInt8(ascii: "@") || first == UInt8(ascii: "\t") || first == UInt8(ascii: "\r"),
            !isDecimalNumber(text)
        else { return text }
        return "'" + text
    }

    /// Whether `text` is a decimal number: an optional sign, digits with an optional fraction,
    /// an optional exponent (`-5.2`, `+12`, `-1.5e3`), and nothing else.
    static func isDecimalNumber(_ text: String) -> Bool {
        var bytes = text.utf8[...]
        func digits() -> Int {
            let count = bytes.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }.count
            bytes = bytes.dropFirst(count)
            return count
        }
        if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
        var mantissa = digits()
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            mantissa += digits()
        }
        guard mantissa > 0 else { return false }
        if let e = bytes.first, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
                bytes = bytes.dropFirst()
            }
            guard digits() > 0 else { return false }
        }
        return bytes.isEmpty
    }
}
