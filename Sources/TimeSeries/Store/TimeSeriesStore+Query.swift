/// The rows of one series gathered by a read, in timestamp order without duplicates.
struct SeriesRows {
    var timestamps: [Int64] = []
    var values: [EventValue] = []
    var ranks: [UInt64] = []
    private var ordered = true

    mutating func append(_ timestamp: Int64, _ value: EventValue, rank: UInt64) {
        if let last = timestamps.last, timestamp <= last { ordered = false }
        timestamps.append(timestamp)
        values.append(value)
        ranks.append(rank)
    }

    /// Sorts by timestamp and keeps, of rows with the same timestamp, the newest (highest
    /// rank, then latest appended).
    mutating func normalize() {
        guard !ordered else { return }
        let order = timestamps.indices.sorted { (timestamps[$0], ranks[$0], $0) < (timestamps[$1], ranks[$1], $1) }
        var newTimestamps: [Int64] = []
        var newValues: [EventValue] = []
        var newRanks: [UInt64] = []
        for index in order {
            if let last = newTimestamps.last, last == timestamps[index] {
                newValues[newValues.count - 1] = values[index]
                newRanks[newRanks.count - 1] = ranks[index]
            } else {
                newTimestamps.append(timestamps[index])
                newValues.append(values[index])
                newRanks.append(ranks[index])
            }
        }
        timestamps = newTimestamps
        values = newValues
        ranks = newRanks
        ordered = true
    }
}

extension TimeSeriesStore {
    /// Reads the rows `query` selects from a consistent snapshot: one page in (timestamp,
    /// series) order, with a cursor for the next page.
    /// - Throws: ``TimeSeriesError`` when a file cannot be read. A corrupt segment is
    ///   reported in ``statistics`` and left out; the rest is answered.
    public func query(_ query: EventQuery) throws -> EventPage {
        let snapshot = snapshot()
        var collected = try collect(query, snapshot, selection: .all)
        var merged: [(timestamp: Int64, series: UInt32, value: EventValue)] = []
        for (series, rows) in collected {
            _ = rows
            var rows = collected[series]!
            rows.normalize()
            collected[series] = rows
            for index in rows.timestamps.indices {
                merged.append((rows.timestamps[index], series, rows.values[index]))
            }
        }
        if query.descending {
            merged.sort { ($0.timestamp, $0.series) > ($1.timestamp, $1.series) }
        } else {
            merged.sort { ($0.timestamp, $0.series) < ($1.timestamp, $1.series) }
        }
        var start = 0
        if let cursor = query.cursor {
            start =
                merged.firstIndex { row in
                    query.descending
                        ? (row.timestamp, row.series) < (cursor.timestamp, cursor.seriesID)
                        : (row.timestamp, row.series) > (cursor.timestamp, cursor.seriesID)
                } ?? merged.count
        }
        let limit = max(1, query.limit)
        let end = min(merged.count, start + limit)
        let page = merged[start..<end].map { row in
            EventRow(series: snapshot.keys[Int(row.series)], timestamp: row.timestamp, value: row.value)
        }
        let next = end < merged.count ? merged[end - 1] : nil
        return EventPage(rows: page, nextCursor: next.map { EventCursor(timestamp: $0.timestamp, seriesID: $0.series) })
    }

    /// Bucketed aggregates (count, sum, min, max, first, last; average from them) of the
    /// numeric rows `query` selects, per series, ordered by series then bucket.
    /// - Parameter bucketMilliseconds: The bucket width, e.g. 60_000 for one minute.
    public func aggregate(_ query: EventQuery, bucketMilliseconds: Int64) throws -> [AggregateBucket] {
        precondition(bucketMilliseconds > 0, "bucket width must be positive")
        let snapshot = snapshot()
        let collected = try collect(query, snapshot, selection: [.kinds, .numbers])
        var buckets: [AggregateBucket] = []
        for series in collected.keys.sorted(by: { snapshot.keys[Int($0)] < snapshot.keys[Int($1)] }) {
            var rows = collected[series]!
            rows.normalize()
            var current: AggregateBucket?
            for index in rows.timestamps.indices {
                guard let number = rows.values[index].number else { continue }
                let start = floorDivide(rows.timestamps[index], bucketMilliseconds) * bucketMilliseconds
                if current?.start != start {
                    if let current { buckets.append(current) }
                    current = AggregateBucket(
                        series: snapshot.keys[Int(series)],
                        start: start,
                        count: 0,
                        sum: 0,
                        minimum: number,
                        maximum: number,
                        first: number,
                        last: number
                    )
                }
                current!.count += 1
                current!.sum += number
                current!.minimum = min(current!.minimum, number)
                current!.maximum = max(current!.maximum, number)
                current!.last = number
            }
            if let current { buckets.append(current) }
        }
        return buckets
    }

    /// The latest row of each series `query` selects (the current meter reading), ordered by series.
    public func latest(_ query: EventQuery) throws -> [EventRow] {
        let snapshot = snapshot()
        var collected = try collect(query, snapshot, selection: .all)
        return collected.keys.sorted(by: { snapshot.keys[Int($0)] < snapshot.keys[Int($1)] }).compactMap { series in
            collected[series]!.normalize()
            let rows = collected[series]!
            guard let last = rows.timestamps.indices.last else { return nil }
            return EventRow(
                series: snapshot.keys[Int(series)],
                timestamp: rows.timestamps[last],
                value: rows.values[last]
            )
        }
    }

    /// The first and the last sample of a transaction for one measurand (by default the
    /// energy register): the energy of a session is their difference.
    public func transactionBounds(
        chargePointID: String,
        transactionID: Int,
        measurand: String = "Energy.Active.Import.Register"
    ) throws -> (first: EventRow, last: EventRow)? {
        let rows = try query(
            EventQuery(
                chargePointIDs: [chargePointID],
                transactionID: transactionID,
                kinds: [.sample],
                measurands: [measurand],
                limit: Int.max
            )
        ).rows
        guard let first = rows.first, let last = rows.last else { return nil }
        return (first, last)
    }

    /// Gathers, per matching series, the rows in the query's time range from every source.
    func collect(
        _ query: EventQuery,
        _ snapshot: Snapshot,
        selection: BlockCodec.Selection
    ) throws -> [UInt32: SeriesRows] {
        var wanted = [Bool](repeating: false, count: snapshot.keys.count)
        var wantedIDs: [UInt32] = []
        if let chargePointIDs = query.chargePointIDs {
            for chargePointID in chargePointIDs {
                for id in snapshot.byChargePoint[chargePointID] ?? [] where query.matches(snapshot.keys[Int(id)]) {
                    wanted[Int(id)] = true
                    wantedIDs.append(id)
                }
            }
        } else {
            for (id, key) in snapshot.keys.enumerated() where query.matches(key) {
                wanted[id] = true
                wantedIDs.append(UInt32(id))
            }
        }
        wantedIDs.sort()
        var collected: [UInt32: SeriesRows] = [:]
        guard !wantedIDs.isEmpty else { return collected }
        let from = query.from ?? Int64.min
        let to = query.to ?? Int64.max

        var decoded = 0
        var skipped = 0
        for segment in snapshot.segments {
            guard segment.maxTimestamp >= from, segment.minTimestamp < to else {
                skipped += segment.blocks.count
                continue
            }
            do {
                for (index, block) in segment.blocks.enumerated() {
                    guard block.maxTimestamp >= from, block.minTimestamp < to,
                        Self.intersects(block.seriesIDs, wantedIDs)
                    else {
                        skipped += 1
                        continue
                    }
                    decoded += 1
                    let columns = try segment.readBlock(index, selection: selection)
                    // Rows are grouped by series: one dictionary access per run, not per row.
                    let count = columns.timestamps.count
                    var runStart = 0
                    while runStart < count {
                        let series = columns.seriesIDs[runStart]
                        var runEnd = runStart + 1
                        while runEnd < count && columns.seriesIDs[runEnd] == series { runEnd += 1 }
                        defer { runStart = runEnd }
                        guard Int(series) < wanted.count, wanted[Int(series)] else { continue }
                        var rows = collected.removeValue(forKey: series) ?? SeriesRows()
                        for row in runStart..<runEnd {
                            let timestamp = columns.timestamps[row]
                            guard timestamp >= from, timestamp < to else { continue }
                            if selection.contains(.texts) {
                                rows.append(timestamp, try Segment.value(columns, row), rank: segment.sequence)
                            } else if columns.kinds[row] <= ValueCodec.kindNumberWithText {
                                rows.append(timestamp, .number(columns.numbers[row]), rank: segment.sequence)
                            }
                        }
                        collected[series] = rows
                    }
                }
            } catch let error as Segment.Corrupt {
                noteCorrupt(segment, error)
            }
        }
        noteBlocks(decoded: decoded, skipped: skipped)

        // The memtable is newer than every segment; later chunks are newer than earlier ones.
        for (chunkIndex, chunk) in snapshot.memory.enumerated() {
            let rank = UInt64(1) << 63 + UInt64(chunkIndex)
            for row in chunk
            where Int(row.seriesID) < wanted.count && wanted[Int(row.seriesID)] && row.timestamp >= from
                && row.timestamp < to
            {
                collected[row.seriesID, default: SeriesRows()].append(row.timestamp, row.value, rank: rank)
            }
        }
        return collected
    }

    /// Whether two ascending id lists share an element.
    static func intersects(_ lhs: [UInt32], _ rhs: [UInt32]) -> Bool {
        var left = 0
        var right = 0
        while left < lhs.count && right < rhs.count {
            if lhs[left] == rhs[right] { return true }
            if lhs[left] < rhs[right] { left += 1 } else { right += 1 }
        }
        return false
    }
}
