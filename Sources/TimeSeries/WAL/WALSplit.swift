/// A group commit too large for one log record, as several records.
extension WALFormat {
    /// The records of `batch`: one when its payload fits ``maximumRecordLength``, otherwise
    /// consecutive runs of its rows, each record defining the new series its rows are the
    /// first to use, so that each replays on its own after the ones before it.
    /// - Returns: `nil` when a single row (with its series' definition) is too large for a record.
    static func frames(_ batch: WALBatch, limit: Int = maximumRecordLength) -> [[UInt8]]? {
        let whole = frame(batch)
        if whole.count - 8 <= limit { return [whole] }
        return split(batch, limit: limit)?.map(frame)
    }

    /// Splits `batch` into batches whose payloads each fit `limit`.
    static func split(_ batch: WALBatch, limit: Int) -> [WALBatch]? {
        // The type byte and two counts (varints of at most ten bytes each), with room to spare.
        let overhead = 32
        var parts: [WALBatch] = []
        var current = WALBatch(newSeries: [], rows: [])
        var size = overhead
        var previousTimestamp: Int64 = 0
        var nextDefinition = 0
        for row in batch.rows {
            var definitions = nextDefinition
            var definitionBytes = 0
            while definitions < batch.newSeries.count, batch.newSeries[definitions].id <= row.seriesID {
                definitionBytes += definitionSize(batch.newSeries[definitions])
                definitions += 1
            }
            var rowBytes = rowSize(row, previousTimestamp: previousTimestamp)
            if size + definitionBytes + rowBytes > limit, !current.rows.isEmpty || !current.newSeries.isEmpty {
                parts.append(current)
                current = WALBatch(newSeries: [], rows: [])
                size = overhead
                rowBytes = rowSize(row, previousTimestamp: 0)
            }
            guard size + definitionBytes + rowBytes <= limit else { return nil }
            current.newSeries.append(contentsOf: batch.newSeries[nextDefinition..<definitions])
            current.rows.append(row)
            size += definitionBytes + rowBytes
            nextDefinition = definitions
            previousTimestamp = row.timestamp
        }
        // Definitions no row uses (none today) go with the last part.
        let unused = batch.newSeries[nextDefinition...]
        guard overhead + unused.reduce(0, { $0 + definitionSize($1) }) <= limit else { return nil }
        current.newSeries.append(contentsOf: unused)
        if !current.rows.isEmpty || !current.newSeries.isEmpty { parts.append(current) }
        return parts
    }

    private static func definitionSize(_ definition: (id: UInt32, key: SeriesKey)) -> Int {
        var writer = ByteWriter(capacity: 64)
        writer.writeVarint(UInt64(definition.id))
        definition.key.write(to: &writer)
        return writer.bytes.count
    }

    private static func rowSize(_ row: StoredRow, previousTimestamp: Int64) -> Int {
        var writer = ByteWriter(capacity: 32)
        writer.writeVarint(UInt64(row.seriesID))
        writer.writeSignedVarint(row.timestamp &- previousTimestamp)
        TransactionCode.write(row.transactionID, to: &writer)
        let (kind, _, text) = ValueCodec.parts(of: row.value)
        writer.write(kind)
        var size = writer.bytes.count + (ValueCodec.isNumeric(kind) ? 8 : 0)
        if let text {
            writer = ByteWriter(capacity: 10)
            writer.writeVarint(UInt64(text.count))
            size += writer.bytes.count + text.count
        }
        return size
    }

    /// True when one of the rows is too large for a log record on its own (with its series'
    /// definition, for a row that names its series by key).
    static func holdsOversizedRow(_ batches: [AppendBatch], limit: Int = maximumRecordLength) -> Bool {
        batches.contains { batch in
            switch batch {
            case .keyed(let rows):
                rows.contains { row in
                    let stored = StoredRow(
                        seriesID: 0,
                        timestamp: row.timestamp,
                        value: row.value,
                        transactionID: row.transactionID
                    )
                    return frame(WALBatch(newSeries: [(0, row.series)], rows: [stored])).count - 8 > limit
                }
            case .resolved(let rows):
                rows.contains { frame(WALBatch(newSeries: [], rows: [$0])).count - 8 > limit }
            }
        }
    }
}
