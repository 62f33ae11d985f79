/// Decoded blocks of one read: a block that several windows of a page overlap is decoded once.
struct BlockCache {
    struct Key: Hashable {
        var segment: UInt64
        var block: Int
    }

    let selection: BlockCodec.Selection
    private var decoded: [Key: BlockCodec.Columns] = [:]

    init(selection: BlockCodec.Selection) {
        self.selection = selection
    }

    /// The block's columns, and whether this call decoded them.
    mutating func columns(_ candidate: TimeSeriesStore.CandidateBlock) throws -> (BlockCodec.Columns, Bool) {
        let key = Key(segment: candidate.segment.identity, block: candidate.index)
        if let columns = decoded[key] { return (columns, false) }
        let columns = try candidate.segment.readBlock(candidate.index, selection: selection)
        decoded[key] = columns
        return (columns, true)
    }
}

extension TimeSeriesStore {
    /// Reads the rows `query` selects from a consistent snapshot: one page in (timestamp,
    /// series) order, with a cursor for the next page.
    ///
    /// The read starts at the cursor (or at `from`) and covers a time window just wide
    /// enough for the page: the window is first sized from the footer index (rows of the
    /// selected series per millisecond), and widened fourfold while it holds no more than
    /// `limit` rows and the range goes on. So a page costs what its rows and their blocks
    /// cost, wherever in a long range it lies.
    /// - Throws: ``TimeSeriesError`` when a file cannot be read. A corrupt segment is
    ///   reported in ``statistics`` and left out; the rest is answered.
    public func query(_ query: EventQuery) throws -> EventPage {
        let snapshot = snapshot()
        let limit = max(1, query.limit)
        let (wanted, wantedIDs) = wantedSeries(query, snapshot)
        guard !wantedIDs.isEmpty else { return EventPage(rows: [], nextCursor: nil) }
        var lower = query.from ?? Int64.min
        var upper = query.to ?? Int64.max
        if let cursor = query.cursor {
            if query.descending {
                upper = min(upper, cursor.timestamp == Int64.max ? cursor.timestamp : cursor.timestamp + 1)
            } else {
                lower = max(lower, cursor.timestamp)
            }
        }
        guard lower < upper else { return EventPage(rows: [], nextCursor: nil) }
        let candidates = candidateBlocks(wanted, from: lower, to: upper, snapshot)
        let memory = memoryRows(wanted, from: lower, to: upper, snapshot)
        // Close open ends on the data that can match, so that windows have a finite size.
        var dataLower = Int64.max
        var dataUpper = Int64.min
        for candidate in candidates {
            dataLower = min(dataLower, candidate.info.minTimestamp)
            dataUpper = max(dataUpper, candidate.info.maxTimestamp)
        }
        for rows in memory.values {
            if let first = rows.timestamps.first, let last = rows.timestamps.last {
                dataLower = min(dataLower, first)
                dataUpper = max(dataUpper, last)
            }
        }
        guard dataLower <= dataUpper else { return EventPage(rows: [], nextCursor: nil) }
        lower = max(lower, dataLower)
        upper = min(upper, dataUpper == Int64.max ? dataUpper : dataUpper + 1)
        guard lower < upper else { return EventPage(rows: [], nextCursor: nil) }

        let span = upper.subtractingReportingOverflow(lower)
        let fullSpan = span.overflow ? Int64.max : span.partialValue
        var window = Self.initialWindow(
            limit: limit,
            span: fullSpan,
            candidates: candidates,
            wanted: wanted,
            memoryRows: memory.values.reduce(0) { $0 + $1.timestamps.count }
        )
        var cache = BlockCache(selection: .all)
        while true {
            let from = query.descending ? Self.saturating(upper, minus: window, floor: lower) : lower
            let to = query.descending ? upper : Self.saturating(lower, plus: window, ceiling: upper)
            let merged = try windowRows(
                query,
                candidates: candidates,
                memory: memory,
                wanted: wanted,
                from: from,
                to: to,
                cache: &cache
            )
            let complete = from == lower && to == upper
            if merged.count > limit || complete {
                let end = min(merged.count, limit)
                let page = merged[0..<end].map { row in
                    EventRow(series: snapshot.keys[Int(row.series)], timestamp: row.timestamp, value: row.value)
                }
                let next = end < merged.count ? merged[end - 1] : nil
                return EventPage(
                    rows: page,
                    nextCursor: next.map { EventCursor(timestamp: $0.timestamp, seriesID: $0.series) }
                )
            }
            window = window > fullSpan / 4 ? fullSpan : window * 4
        }
    }

    /// The rows of one window, de-duplicated per series, in the page's order and after the cursor.
    private func windowRows(
        _ query: EventQuery,
        candidates: [CandidateBlock],
        memory: [UInt32: SeriesRows],
        wanted: [Bool],
        from: Int64,
        to: Int64,
        cache: inout BlockCache
    ) throws -> [(timestamp: Int64, series: UInt32, value: EventValue)] {
        var collected: [UInt32: SeriesRows] = [:]
        try forEachSeriesRun(in: candidates, wanted, from: from, to: to, cache: &cache) { segment, columns, run in
            let series = columns.seriesIDs[run.lowerBound]
            var rows = collected.removeValue(forKey: series) ?? SeriesRows()
            for row in run {
                rows.append(columns.timestamps[row], try Segment.value(columns, row), rank: segment.sequence)
            }
            collected[series] = rows
        }
        for (series, rows) in memory {
            let lower = Self.firstIndex(in: rows.timestamps, rows.timestamps.indices, notBefore: from)
            let upper = Self.firstIndex(in: rows.timestamps, lower..<rows.timestamps.count, notBefore: to)
            guard lower < upper else { continue }
            var merged = collected.removeValue(forKey: series) ?? SeriesRows()
            for index in lower..<upper {
                merged.append(rows.timestamps[index], rows.values[index], rank: rows.ranks[index])
            }
            collected[series] = merged
        }
        var merged: [(timestamp: Int64, series: UInt32, value: EventValue)] = []
        for (series, var rows) in collected {
            rows.normalize()
            for index in rows.timestamps.indices {
                merged.append((rows.timestamps[index], series, rows.values[index]))
            }
        }
        if let cursor = query.cursor {
            merged.removeAll { row in
                query.descending
                    ? (row.timestamp, row.series) >= (cursor.timestamp, cursor.seriesID)
                    : (row.timestamp, row.series) <= (cursor.timestamp, cursor.seriesID)
            }
        }
        if query.descending {
            merged.sort { ($0.timestamp, $0.series) > ($1.timestamp, $1.series) }
        } else {
            merged.sort { ($0.timestamp, $0.series) < ($1.timestamp, $1.series) }
        }
        return merged
    }

    /// A first window expected to hold a page and a half: the page's rows over the rows per
    /// millisecond the footer index gives for the selected series (each block's rows shared
    /// equally among its series), plus the memtables' rows.
    static func initialWindow(
        limit: Int,
        span: Int64,
        candidates: [CandidateBlock],
        wanted: [Bool],
        memoryRows: Int
    ) -> Int64 {
        var estimate = Double(memoryRows)
        for candidate in candidates {
            let block = candidate.info
            let held = block.seriesIDs.reduce(0) { $0 + (Int($1) < wanted.count && wanted[Int($1)] ? 1 : 0) }
            estimate += Double(block.rowCount) * Double(held) / Double(max(1, block.seriesIDs.count))
        }
        let wantedRows = (Double(limit) + 1) * 1.5
        guard estimate > wantedRows else { return span }
        let window = Double(span) * wantedRows / estimate
        return window >= Double(span) ? span : max(1, Int64(window))
    }

    static func saturating(_ base: Int64, plus width: Int64, ceiling: Int64) -> Int64 {
        let (sum, overflow) = base.addingReportingOverflow(width)
        return overflow || sum > ceiling ? ceiling : sum
    }

    static func saturating(_ base: Int64, minus width: Int64, floor: Int64) -> Int64 {
        let (difference, overflow) = base.subtractingReportingOverflow(width)
        return overflow || difference < floor ? floor : difference
    }
}

/// Where the rows a query selects can lie, by the footer index and the memtables.
public struct QueryExtent: Sendable, Hashable {
    /// The earliest timestamp a selected row can have (inclusive).
    public var from: Int64
    /// The latest (inclusive).
    public var to: Int64
    /// How many selected series have rows there.
    public var series: Int

    /// How many buckets of `width` milliseconds an aggregate over the extent can hold at
    /// most: those from its first to its last timestamp, for each series.
    public func buckets(width: Int64) -> Int {
        let perSeries = floorDivide(to, width) - floorDivide(from, width) + 1
        let (total, overflow) = perSeries.multipliedReportingOverflow(by: Int64(series))
        return overflow ? Int.max : Int(total)
    }
}

extension TimeSeriesStore {
    /// The time range and the number of series the rows `query` selects can span, from the
    /// footer index (block time ranges, a bound rather than exact) and the memtables,
    /// without decoding a block: what a bucketed read may answer, before it reads.
    public func extent(_ query: EventQuery) -> QueryExtent? {
        let snapshot = snapshot()
        let (wanted, wantedIDs) = wantedSeries(query, snapshot)
        guard !wantedIDs.isEmpty else { return nil }
        let from = query.from ?? Int64.min
        let to = query.to ?? Int64.max
        var lower = Int64.max
        var upper = Int64.min
        var series = Set<UInt32>()
        for candidate in candidateBlocks(wanted, from: from, to: to, snapshot) {
            let block = candidate.info
            lower = min(lower, max(from, block.minTimestamp))
            upper = max(upper, min(to == Int64.min ? to : to - 1, block.maxTimestamp))
            for id in block.seriesIDs where Int(id) < wanted.count && wanted[Int(id)] { series.insert(id) }
        }
        for chunk in snapshot.memory {
            for row in chunk
            where Int(row.seriesID) < wanted.count && wanted[Int(row.seriesID)] && row.timestamp >= from
                && row.timestamp < to
            {
                lower = min(lower, row.timestamp)
                upper = max(upper, row.timestamp)
                series.insert(row.seriesID)
            }
        }
        guard lower <= upper else { return nil }
        return QueryExtent(from: lower, to: upper, series: series.count)
    }
}
