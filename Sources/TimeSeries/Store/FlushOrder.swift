/// The order in which a memtable's rows become segments: by UTC day (the day a row is filed
/// under, see ``TimestampWindow``), then series, then time, then transaction, the newest of
/// equal rows kept.
extension TimeSeriesStore {
    static let millisecondsPerDay: Int64 = 86_400_000

    /// A row's place in the flush order: the sort key packed into three words (day and
    /// series; time; arrival), so that ordering a million of them moves 24 bytes each, not
    /// the rows.
    struct FlushEntry {
        var daySeries: UInt64
        var timestamp: Int64
        var arrival: UInt64

        var day: Int64 { Int64(daySeries >> 32) - TimeSeriesStore.dayBias }
        var chunk: Int { Int(arrival >> 32) }
        var index: Int { Int(arrival & 0xFFFF_FFFF) }
    }

    /// The rows of `chunks` (oldest first) split by UTC day, each day's rows sorted by
    /// (series, timestamp) and of rows with equal keys only the last kept. A day's rows are
    /// gathered from the chunks a block at a time (``DayRows``), not copied into one array:
    /// a memtable's million rows would be 48 MB of fresh pages at every flush.
    /// - Parameter inSortedRuns: The rows are a few runs already in that order (segments being
    ///   compacted): a merging comparison sort, which finds the runs, is faster there than
    ///   the radix sort a memtable gets.
    static func partitionedByDay(
        _ chunks: [[StoredRow]],
        inSortedRuns: Bool = false
    ) -> [(day: Int64, rows: DayRows)] {
        partitioned(chunks, inSortedRuns: inSortedRuns, window: nil).partitions
    }

    /// The rows of `chunks` as ``partitionedByDay(_:inSortedRuns:)`` splits them, except that a
    /// row whose day is outside `window` is filed under the window's nearest day (its timestamp
    /// unchanged); `outsideWindow` counts those rows.
    static func partitioned(
        _ chunks: [[StoredRow]],
        inSortedRuns: Bool = false,
        window: ClosedRange<Int64>?
    ) -> (partitions: [(day: Int64, rows: DayRows)], outsideWindow: Int) {
        var entries: [FlushEntry] = []
        entries.reserveCapacity(chunks.reduce(0) { $0 + $1.count })
        let window = window ?? Int64.min...Int64.max
        var outsideWindow = 0
        // The partition of the previous row's day, reused while rows stay in that day: no
        // 64-bit division per row.
        var day: Int64 = 0
        var dayOutside = false
        var dayStart = Int64.max
        var dayEnd = Int64.min
        for (chunkIndex, chunk) in chunks.enumerated() {
            for (index, row) in chunk.enumerated() {
                if row.timestamp < dayStart || row.timestamp >= dayEnd {
                    let trueDay = floorDivide(row.timestamp, millisecondsPerDay)
                    dayStart = trueDay * millisecondsPerDay
                    dayEnd = dayStart + millisecondsPerDay
                    day = min(max(trueDay, window.lowerBound), window.upperBound)
                    dayOutside = day != trueDay
                }
                if dayOutside { outsideWindow += 1 }
                entries.append(
                    FlushEntry(
                        daySeries: UInt64(day + dayBias) << 32 | UInt64(row.seriesID),
                        timestamp: row.timestamp,
                        arrival: UInt64(chunkIndex) << 32 | UInt64(index)
                    )
                )
            }
        }
        if inSortedRuns {
            entries.sort { ($0.daySeries, $0.timestamp, $0.arrival) < ($1.daySeries, $1.timestamp, $1.arrival) }
        } else {
            sortForFlush(&entries)
        }
        var result: [(day: Int64, rows: DayRows)] = []
        var position = 0
        while position < entries.count {
            let day = entries[position].day
            var dayEnd = position
            while dayEnd < entries.count && entries[dayEnd].day == day { dayEnd += 1 }
            result.append((day, DayRows(chunks: chunks, entries: entries, range: position..<dayEnd)))
            position = dayEnd
        }
        return (result, outsideWindow)
    }

    /// One day's rows of a memtable in (series, timestamp, transaction) order, read from its
    /// chunks through the sorted entries; of rows with the same series, timestamp and
    /// transaction only the last is kept.
    struct DayRows {
        let chunks: [[StoredRow]]
        let entries: [FlushEntry]
        let range: Range<Int>
        private var position: Int

        init(chunks: [[StoredRow]], entries: [FlushEntry], range: Range<Int>) {
            self.chunks = chunks
            self.entries = entries
            self.range = range
            position = range.lowerBound
        }

        /// At most this many rows are left.
        var estimatedCount: Int { range.upperBound - position }

        /// Replaces `block`'s contents with the next rows, at most `limit` of them (more only
        /// to finish a group of rows of one series and timestamp, which never spans two
        /// blocks); false when none are left.
        mutating func nextBlock(_ block: inout [StoredRow], limit: Int) -> Bool {
            block.removeAll(keepingCapacity: true)
            while position < range.upperBound, block.count < limit {
                let entry = entries[position]
                var groupEnd = position + 1
                while groupEnd < range.upperBound, entries[groupEnd].daySeries == entry.daySeries,
                    entries[groupEnd].timestamp == entry.timestamp
                {
                    groupEnd += 1
                }
                if groupEnd == position + 1 {
                    block.append(chunks[entry.chunk][entry.index])
                } else {
                    appendGroup(position..<groupEnd, to: &block)
                }
                position = groupEnd
            }
            return !block.isEmpty
        }

        /// Rows of one series and timestamp (in arrival order): the last of each transaction,
        /// ordered by transaction.
        private func appendGroup(_ group: Range<Int>, to block: inout [StoredRow]) {
            var rows = group.map { chunks[entries[$0].chunk][entries[$0].index] }
            // Stable by arrival within a transaction: the last of equal ones is the newest.
            rows = rows.enumerated().sorted { lhs, rhs in
                if lhs.element.transactionID != rhs.element.transactionID {
                    return TransactionCode.precedes(lhs.element.transactionID, rhs.element.transactionID)
                }
                return lhs.offset < rhs.offset
            }.map(\.element)
            for row in rows {
                if let last = block.last, last.seriesID == row.seriesID, last.timestamp == row.timestamp,
                    last.transactionID == row.transactionID
                {
                    block[block.count - 1] = row
                } else {
                    block.append(row)
                }
            }
        }
    }

    /// Sorts entries made in arrival order by (day and series, time, arrival).
    ///
    /// A stable radix sort on the bytes of `daySeries` that differ between entries (a
    /// memtable spans a day or two and its series ids need two or three bytes: two or three
    /// passes, each a sequential read and 256 sequential write streams) leaves each series'
    /// entries in arrival order, which is time order for a meter that only moves forward; a
    /// series whose times do not rise with arrival is then sorted on its own.
    static func sortForFlush(_ entries: inout [FlushEntry]) {
        guard entries.count > 1 else { return }
        var union: UInt64 = 0
        var intersection: UInt64 = ~0
        for entry in entries {
            union |= entry.daySeries
            intersection &= entry.daySeries
        }
        let varying = union ^ intersection
        var spare = [FlushEntry](repeating: FlushEntry(daySeries: 0, timestamp: 0, arrival: 0), count: entries.count)
        for shift in stride(from: UInt64(0), to: 64, by: 8) where (varying >> shift) & 0xFF != 0 {
            entries.withUnsafeBufferPointer { source in
                spare.withUnsafeMutableBufferPointer { target in
                    var offsets = [Int](repeating: 0, count: 256)
                    offsets.withUnsafeMutableBufferPointer { offsets in
                        for entry in source { offsets[Int((entry.daySeries >> shift) & 0xFF)] += 1 }
                        var next = 0
                        for bucket in 0..<256 {
                            let count = offsets[bucket]
                            offsets[bucket] = next
                            next += count
                        }
                        for entry in source {
                            let bucket = Int((entry.daySeries >> shift) & 0xFF)
                            target[offsets[bucket]] = entry
                            offsets[bucket] += 1
                        }
                    }
                }
            }
            swap(&entries, &spare)
        }
        // Runs of one day and series are in arrival order: sort those whose times fall back.
        var start = 0
        while start < entries.count {
            var end = start + 1
            var ordered = true
            while end < entries.count && entries[end].daySeries == entries[start].daySeries {
                if entries[end].timestamp < entries[end - 1].timestamp { ordered = false }
                end += 1
            }
            if !ordered {
                entries[start..<end].sort { ($0.timestamp, $0.arrival) < ($1.timestamp, $1.arrival) }
            }
            start = end
        }
    }

    /// Added to a day number so that it packs as an unsigned 32-bit value (days from about
    /// 5.8 million years before 1970 on).
    static let dayBias: Int64 = 1 << 31
}

/// Floor division: days before 1970 round down, not towards zero.
func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
    let quotient = value / divisor
    return value % divisor < 0 ? quotient - 1 : quotient
}
