import Synchronization

/// A row of a page before it becomes an ``EventRow``: the series by id.
typealias PageRow = (timestamp: Int64, series: UInt32, transaction: Int?, value: EventValue)

/// Reads the pages of one query in turn, from one snapshot: the footer pass that finds the
/// candidate blocks and the memtables' rows are gathered once, each page reads from where the
/// previous one ended, and decoded blocks behind it are let go. Reading a whole range page by
/// page so costs what its rows and their blocks cost, once.
public final class EventPager: Sendable {
    private let store: TimeSeriesStore
    private let state: Mutex<State>

    struct State {
        var query: EventQuery
        var snapshot: TimeSeriesStore.Snapshot
        var wanted: [Bool]
        var candidates: [TimeSeriesStore.CandidateBlock]
        var memory: [UInt32: SeriesRows]
        /// The range still to read: `from` inclusive, `to` exclusive; empty when done.
        var lower: Int64
        var upper: Int64
        var cache = BlockCache(selection: .all)
        var finished = false
    }

    init(store: TimeSeriesStore, state: State) {
        self.store = store
        self.state = Mutex(state)
    }

    /// The next page, or `nil` after the last one (the first call always answers a page).
    /// - Throws: ``TimeSeriesError`` when a file cannot be read. A corrupt segment is
    ///   reported in the store's statistics and left out; the rest is answered.
    public func next() throws -> EventPage? {
        try state.withLock { state in
            guard !state.finished else { return nil }
            let page = try store.page(&state)
            if let cursor = page.nextCursor {
                state.query.cursor = cursor
                if state.query.descending {
                    state.upper = min(
                        state.upper,
                        cursor.timestamp == Int64.max ? cursor.timestamp : cursor.timestamp + 1
                    )
                    let upper = state.upper
                    state.candidates.removeAll { $0.info.minTimestamp >= upper }
                    state.cache.forget { $0.minTimestamp >= upper }
                } else {
                    state.lower = max(state.lower, cursor.timestamp)
                    let lower = state.lower
                    state.candidates.removeAll { $0.info.maxTimestamp < lower }
                    state.cache.forget { $0.maxTimestamp < lower }
                }
            } else {
                state.finished = true
            }
            return page
        }
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
        try pages(query).next() ?? EventPage(rows: [], nextCursor: nil)
    }

    /// The pages of `query` (of `limit` rows each, from its cursor on), read in turn from one
    /// snapshot taken now.
    public func pages(_ query: EventQuery) -> EventPager {
        pages(query, in: snapshot())
    }

    /// The pages of `query` as `snapshot` holds its rows.
    func pages(_ query: EventQuery, in snapshot: Snapshot) -> EventPager {
        let (wanted, wantedIDs) = wantedSeries(query, snapshot)
        var lower = query.from ?? Int64.min
        var upper = query.to ?? Int64.max
        if let cursor = query.cursor {
            if query.descending {
                upper = min(upper, cursor.timestamp == Int64.max ? cursor.timestamp : cursor.timestamp + 1)
            } else {
                lower = max(lower, cursor.timestamp)
            }
        }
        var candidates: [CandidateBlock] = []
        var memory: [UInt32: SeriesRows] = [:]
        if !wantedIDs.isEmpty && lower < upper {
            candidates = candidateBlocks(wanted, from: lower, to: upper, transaction: query.transactionID, snapshot)
            memory = memoryRows(wanted, from: lower, to: upper, transaction: query.transactionID, snapshot)
        }
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
        if dataLower <= dataUpper {
            lower = max(lower, dataLower)
            upper = min(upper, dataUpper == Int64.max ? dataUpper : dataUpper + 1)
        } else {
            upper = lower
        }
        return EventPager(
            store: self,
            state: EventPager.State(
                query: query,
                snapshot: snapshot,
                wanted: wanted,
                candidates: candidates,
                memory: memory,
                lower: lower,
                upper: upper
            )
        )
    }

    /// One page from the pager's state: the first window that holds more than a page, or
    /// the whole range left.
    func page(_ state: inout EventPager.State) throws -> EventPage {
        let query = state.query
        let limit = max(1, query.limit)
        let (lower, upper) = (state.lower, state.upper)
        guard lower < upper else { return EventPage(rows: [], nextCursor: nil) }
        let span = upper.subtractingReportingOverflow(lower)
        let fullSpan = span.overflow ? Int64.max : span.partialValue
        var window = Self.initialWindow(
            limit: limit,
            span: fullSpan,
            candidates: state.candidates,
            wanted: state.wanted,
            memoryRows: state.memory.values.reduce(0) { $0 + $1.timestamps.count }
        )
        while true {
            let from = query.descending ? Self.saturating(upper, minus: window, floor: lower) : lower
            let to = query.descending ? upper : Self.saturating(lower, plus: window, ceiling: upper)
            let merged = try windowRows(
                query,
                candidates: state.candidates,
                memory: state.memory,
                wanted: state.wanted,
                from: from,
                to: to,
                cache: &state.cache
            )
            let complete = from == lower && to == upper
            if merged.count > limit || complete {
                let end = min(merged.count, limit)
                return Self.page(merged[0..<end], more: end < merged.count, keys: state.snapshot.keys)
            }
            window = window > fullSpan / 4 ? fullSpan : window * 4
        }
    }

    /// The rows of one window, de-duplicated per series, in the page's order and after the cursor.
    func windowRows(
        _ query: EventQuery,
        candidates: [CandidateBlock],
        memory: [UInt32: SeriesRows],
        wanted: [Bool],
        from: Int64,
        to: Int64,
        cache: inout BlockCache
    ) throws -> [PageRow] {
        var collected: [UInt32: SeriesRows] = [:]
        let transaction = query.transactionID
        try forEachSeriesRun(in: candidates, wanted, from: from, to: to, transaction: transaction, cache: &cache) {
            segment,
            columns,
            run in
            let series = columns.seriesIDs[run.lowerBound]
            var rows = collected.removeValue(forKey: series) ?? SeriesRows()
            for row in run {
                rows.append(
                    columns.timestamps[row],
                    try Segment.value(columns, row),
                    transaction: columns.transaction(row),
                    rank: segment.sequence
                )
            }
            collected[series] = rows
        }
        for (series, rows) in memory {
            let lower = Self.firstIndex(in: rows.timestamps, rows.timestamps.indices, notBefore: from)
            let upper = Self.firstIndex(in: rows.timestamps, lower..<rows.timestamps.count, notBefore: to)
            guard lower < upper else { continue }
            var merged = collected.removeValue(forKey: series) ?? SeriesRows()
            merged.append(rows, lower..<upper)
            collected[series] = merged
        }
        var merged = Self.pageOrdered(collected, descending: query.descending)
        if let cursor = query.cursor {
            merged.removeAll { row in
                query.descending
                    ? !cursor.follows(row.timestamp, row.series, row.transaction)
                    : !cursor.precedes(row.timestamp, row.series, row.transaction)
            }
        }
        return merged
    }

    /// The rows of `collected` (of the series `including` keeps), normalized per series, in
    /// a page's order.
    static func pageOrdered(
        _ collected: [UInt32: SeriesRows],
        descending: Bool,
        including: (UInt32) -> Bool = { _ in true }
    ) -> [PageRow] {
        var merged: [PageRow] = []
        for (series, var rows) in collected where including(series) {
            rows.normalize()
            for index in rows.timestamps.indices {
                merged.append((rows.timestamps[index], series, rows.transactions[index], rows.values[index]))
            }
        }
        if descending {
            merged.sort { pageOrderPrecedes(($1.0, $1.1, $1.2), ($0.0, $0.1, $0.2)) }
        } else {
            merged.sort { pageOrderPrecedes(($0.0, $0.1, $0.2), ($1.0, $1.1, $1.2)) }
        }
        return merged
    }

    /// A page of `rows`; when more rows follow, its cursor is after its last row.
    static func page(_ rows: ArraySlice<PageRow>, more: Bool, keys: [SeriesKey]) -> EventPage {
        let page = rows.map { row in
            EventRow(
                series: keys[Int(row.series)],
                timestamp: row.timestamp,
                value: row.value,
                transactionID: row.transaction
            )
        }
        let next = more ? rows.last : nil
        return EventPage(
            rows: page,
            nextCursor: next.map {
                EventCursor(timestamp: $0.timestamp, seriesID: $0.series, transactionID: $0.transaction)
            }
        )
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
        let (total, overflow) = Int64(bucketsPerSeries(width: width)).multipliedReportingOverflow(by: Int64(series))
        return overflow ? Int.max : Int(total)
    }

    /// How many buckets of `width` milliseconds lie from the first to the last timestamp.
    public func bucketsPerSeries(width: Int64) -> Int {
        Int(floorDivide(to, width) - floorDivide(from, width) + 1)
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
        for candidate in candidateBlocks(wanted, from: from, to: to, transaction: query.transactionID, snapshot) {
            let block = candidate.info
            lower = min(lower, max(from, block.minTimestamp))
            upper = max(upper, min(to == Int64.min ? to : to - 1, block.maxTimestamp))
            for id in block.seriesIDs where Int(id) < wanted.count && wanted[Int(id)] { series.insert(id) }
        }
        for chunk in snapshot.memory {
            for row in chunk
            where Int(row.seriesID) < wanted.count && wanted[Int(row.seriesID)] && row.timestamp >= from
                && row.timestamp < to && (query.transactionID == nil || row.transactionID == query.transactionID)
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
