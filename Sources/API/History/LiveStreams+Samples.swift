import Protocol
import TimeSeries

/// A stream's sample rows travel in `samples` events: the rows gathered for one write (or one
/// page of a catch-up), grouped by series, each series' fields once and then its rows as
/// arrays. A busy charger's rows arrive by the hundred each second; one event per row repeated
/// every field of its series (about 300 bytes a row, against about 35 here), and the client
/// paid for parsing them as much as the server for writing them.
///
/// ```
/// id: CURSOR@EPOCH-NEXT
/// event: samples
/// data: {"series":[{"charge_point_id":"CP-1","connector_id":1,"measurand":"Energy.Active.Import.Register",
///   "phase":null,"unit":"Wh","location":null,"context":null,"format":null,
///   "rows":[["2026-03-01T10:00:00.000Z",1500,42],["2026-03-01T10:01:00.000Z",1510,42]]}]}
/// ```
///
/// A row is `[timestamp, value, transaction_id]`, and a fourth element, the exact text, when
/// the value is not a number or its text is not the number's canonical form (as `raw` in the
/// meter history). Status changes stay events of their own, in commit order with the
/// `samples` events around them, so an event's id still says exactly how far the client has
/// read.
extension LiveStreams {
    /// The most rows one `samples` event carries.
    static let maximumBatchRows = 2000

    /// The rows of the `samples` event being gathered.
    struct SampleBatch {
        enum Group: Hashable {
            case id(UInt32)
            case key(SeriesKey)
        }

        var index: [Group: Int] = [:]
        var groups: [(seriesID: UInt32?, key: SeriesKey, rows: [UInt8])] = []
        var count = 0

        mutating func add(_ row: EventRow, seriesID: UInt32?) {
            let group = seriesID.map(Group.id) ?? .key(row.series)
            let slot: Int
            if let known = index[group] {
                slot = known
                groups[slot].rows.append(UInt8(ascii: ","))
            } else {
                slot = groups.count
                index[group] = slot
                groups.append((seriesID, row.series, []))
            }
            Self.appendRow(row, to: &groups[slot].rows)
            count += 1
        }

        /// `[timestamp, value, transaction_id(, raw)]`.
        static func appendRow(_ row: EventRow, to output: inout [UInt8]) {
            output.append(contentsOf: #"[""#.utf8)
            OCPPTimestamp(millisecondsSince1970: row.timestamp).appendISO8601(to: &output)
            output.append(contentsOf: #"","#.utf8)
            var raw: String?
            switch row.value {
            case .number(let number):
                HistoryFormat.appendJSONNumber(number, to: &output)
            case .numberWithText(let number, let text):
                HistoryFormat.appendJSONNumber(number, to: &output)
                raw = text
            case .text(let text), .payload(let text):
                HistoryFormat.append("null", to: &output)
                raw = text
            case .status(let status):
                HistoryFormat.appendJSONString(status.status, to: &output)
            }
            output.append(UInt8(ascii: ","))
            if let transaction = row.transactionID {
                HistoryFormat.appendInteger(Int64(transaction), to: &output)
            } else {
                HistoryFormat.append("null", to: &output)
            }
            if let raw {
                output.append(UInt8(ascii: ","))
                HistoryFormat.appendJSONString(raw, to: &output)
            }
            output.append(UInt8(ascii: "]"))
        }

        mutating func reset() {
            index.removeAll(keepingCapacity: true)
            groups.removeAll(keepingCapacity: true)
            count = 0
        }
    }
}

extension LiveStreams.EventStream {
    /// Sends `row`: a sample joins the `samples` event being gathered, a status change ends
    /// that event and goes out as its own.
    mutating func add(
        _ row: EventRow,
        cursor rowCursor: EventCursor?,
        position: UInt64?,
        seriesID: UInt32?,
        to output: inout [UInt8]
    ) {
        if case .status = row.value {
            closeBatch(to: &output)
            advance(past: row, cursor: rowCursor, position: position)
            statusEvent(row, seriesID: seriesID, to: &output)
            return
        }
        advance(past: row, cursor: rowCursor, position: position)
        batch.add(row, seriesID: seriesID ?? rowCursor?.seriesID)
        if batch.count >= LiveStreams.maximumBatchRows { closeBatch(to: &output) }
    }

    /// Writes the gathered sample rows as one `samples` event, whose id is past them all.
    mutating func closeBatch(to output: inout [UInt8]) {
        guard batch.count > 0 else { return }
        appendID(to: &output)
        HistoryFormat.append(#"event: samples"# + "\n" + #"data: {"series":["#, to: &output)
        for (index, group) in batch.groups.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            output.append(contentsOf: groupHead(group.key, seriesID: group.seriesID))
            output.append(contentsOf: group.rows)
            output.append(contentsOf: "]}".utf8)
        }
        output.append(contentsOf: "]}\n\n".utf8)
        batch.reset()
    }

    /// `{"charge_point_id":...,` the series' fields `,"rows":[`.
    private mutating func groupHead(_ key: SeriesKey, seriesID: UInt32?) -> [UInt8] {
        if let seriesID, let known = groupHeads[seriesID] { return known }
        var head: [UInt8] = []
        HistoryFormat.append(#"{"charge_point_id":"#, to: &head)
        HistoryFormat.appendJSONString(key.chargePointID, to: &head)
        HistoryFormat.append(#","connector_id":"#, to: &head)
        HistoryFormat.appendInteger(Int64(key.connectorID), to: &head)
        for (name, value) in [
            ("measurand", key.measurand), ("phase", key.phase), ("unit", key.unit), ("location", key.location),
            ("context", key.context), ("format", key.format),
        ] {
            HistoryFormat.append(#",""# + name + #"":"#, to: &head)
            if let value {
                HistoryFormat.appendJSONString(value, to: &head)
            } else {
                HistoryFormat.append("null", to: &head)
            }
        }
        HistoryFormat.append(#","rows":["#, to: &head)
        if let seriesID {
            if groupHeads.count >= 10_000 { groupHeads.removeAll() }
            groupHeads[seriesID] = head
        }
        return head
    }
}
