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
        /// A group's series: by id for a live row, by key for a history row (which comes
        /// without its id).
        var groups: [(seriesID: UInt32?, key: SeriesKey?, rows: [UInt8])] = []
        var byID: [UInt32: Int] = [:]
        var byKey: [SeriesKey: Int] = [:]
        var count = 0
        var timestamps = HistoryFormat.TimestampText()

        /// The group of the series `id`: a stream's few series are found by a scan, a site's
        /// many by the index.
        mutating func slot(id: UInt32) -> Int {
            if groups.count <= 16 {
                for slot in groups.indices where groups[slot].seriesID == id { return slot }
            } else if let known = byID[id] {
                return known
            }
            byID[id] = groups.count
            groups.append((id, nil, []))
            return groups.count - 1
        }

        mutating func slot(key: SeriesKey) -> Int {
            if let known = byKey[key] { return known }
            byKey[key] = groups.count
            groups.append((nil, key, []))
            return groups.count - 1
        }

        /// Adds a sample row to group `slot`.
        mutating func add(_ slot: Int, timestamp: Int64, value: EventValue, transactionID: Int?) {
            count += 1
            if case .number(let number) = value {
                // The common row, written into room reserved once: `,["TIMESTAMP",NUMBER,TX]`.
                // The group's bytes are taken out while the writer uses the timestamp text.
                var rows: [UInt8] = []
                swap(&rows, &groups[slot].rows)
                defer { swap(&rows, &groups[slot].rows) }
                let separator = !rows.isEmpty
                let written = HistoryFormat.write(to: &rows, capacity: 96) { writer in
                    if separator { writer.byte(UInt8(ascii: ",")) }
                    writer.byte(UInt8(ascii: "["))
                    writer.byte(UInt8(ascii: "\""))
                    timestamps.write(timestamp, to: &writer)
                    writer.byte(UInt8(ascii: "\""))
                    writer.byte(UInt8(ascii: ","))
                    guard writer.shortNumber(number) else { return false }
                    writer.byte(UInt8(ascii: ","))
                    if let transactionID {
                        writer.integer(Int64(transactionID))
                    } else {
                        for byte in "null".utf8 { writer.byte(byte) }
                    }
                    writer.byte(UInt8(ascii: "]"))
                    return true
                }
                if written { return }
            }
            if !groups[slot].rows.isEmpty { groups[slot].rows.append(UInt8(ascii: ",")) }
            Self.appendRow(
                timestamp: timestamp,
                value: value,
                transactionID: transactionID,
                timestamps: &timestamps,
                to: &groups[slot].rows
            )
        }

        /// `[timestamp, value, transaction_id(, raw)]`.
        static func appendRow(
            timestamp: Int64,
            value: EventValue,
            transactionID: Int?,
            timestamps: inout HistoryFormat.TimestampText,
            to output: inout [UInt8]
        ) {
            output.append(UInt8(ascii: "["))
            output.append(UInt8(ascii: "\""))
            timestamps.append(timestamp, to: &output)
            output.append(UInt8(ascii: "\""))
            output.append(UInt8(ascii: ","))
            var raw: String?
            switch value {
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
            if let transactionID {
                HistoryFormat.appendInteger(Int64(transactionID), to: &output)
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
            byID.removeAll(keepingCapacity: true)
            byKey.removeAll(keepingCapacity: true)
            groups.removeAll(keepingCapacity: true)
            count = 0
        }
    }
}

extension LiveStreams.EventStream {
    /// Sends a history row: a sample joins the `samples` event being gathered, a status
    /// change ends that event and goes out as its own.
    mutating func add(_ row: EventRow, to output: inout [UInt8]) {
        if case .status = row.value {
            closeBatch(to: &output)
            advance(past: row, cursor: nil, position: nil)
            statusEvent(row, seriesID: nil, to: &output)
            return
        }
        advance(past: row, cursor: nil, position: nil)
        let slot = batch.slot(key: row.series)
        batch.add(slot, timestamp: row.timestamp, value: row.value, transactionID: row.transactionID)
        if batch.count >= LiveStreams.maximumBatchRows { closeBatch(to: &output) }
    }

    /// Sends a live row, as ``add(_:to:)`` a history row. Its series' key is looked up only
    /// for a status change or a series the stream has not written yet.
    mutating func add(_ live: LiveRow, to output: inout [UInt8]) {
        let row = live.row
        if case .status = row.value {
            closeBatch(to: &output)
            let eventRow = EventRow(
                series: key(of: row.seriesID),
                timestamp: row.timestamp,
                value: row.value,
                transactionID: row.transactionID
            )
            advance(past: eventRow, cursor: live.cursor, position: live.position)
            statusEvent(eventRow, seriesID: row.seriesID, to: &output)
            return
        }
        advance(cursor: live.cursor, position: live.position)
        let slot = batch.slot(id: row.seriesID)
        batch.add(slot, timestamp: row.timestamp, value: row.value, transactionID: row.transactionID)
        if batch.count >= LiveStreams.maximumBatchRows { closeBatch(to: &output) }
    }

    /// The key of the series `id` (a live row carries only the id), remembered.
    mutating func key(of id: UInt32) -> SeriesKey {
        if let known = keys[id] { return known }
        // The store defines a series before it publishes a row of it: a miss is not expected.
        let key = subscription.key(of: id) ?? SeriesKey(chargePointID: "", connectorID: 0, kind: .sample)
        if keys.count >= 10_000 { keys.removeAll() }
        keys[id] = key
        return key
    }

    /// Writes the gathered sample rows as one `samples` event, whose id is past them all.
    mutating func closeBatch(to output: inout [UInt8]) {
        guard batch.count > 0 else { return }
        appendID(to: &output)
        HistoryFormat.append(#"event: samples"# + "\n" + #"data: {"series":["#, to: &output)
        for (index, group) in batch.groups.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            if let seriesID = group.seriesID, let known = groupHeads[seriesID] {
                output.append(contentsOf: known)
            } else {
                let key = group.key ?? key(of: group.seriesID ?? 0)
                output.append(contentsOf: groupHead(key, seriesID: group.seriesID))
            }
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
