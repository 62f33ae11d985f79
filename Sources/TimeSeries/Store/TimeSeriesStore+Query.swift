/// The rows of one series gathered by a read, in (timestamp, transaction) order without
/// duplicates.
struct SeriesRows {
    var timestamps: [Int64] = []
    var values: [EventValue] = []
    var transactions: [Int?] = []
    var ranks: [UInt64] = []
    private var ordered = true

    mutating func append(_ timestamp: Int64, _ value: EventValue, transaction: Int?, rank: UInt64) {
        if let last = timestamps.last,
            timestamp < last || (timestamp == last && !TransactionCode.precedes(transactions.last!, transaction))
        {
            ordered = false
        }
        timestamps.append(timestamp)
        values.append(value)
        transactions.append(transaction)
        ranks.append(rank)
    }

    /// Sorts by (timestamp, transaction) and keeps, of rows with the same timestamp and
    /// transaction, the newest (highest rank, then latest appended).
    mutating func normalize() {
        guard !ordered else { return }
        let order = timestamps.indices.sorted { lhs, rhs in
            if timestamps[lhs] != timestamps[rhs] { return timestamps[lhs] < timestamps[rhs] }
            if transactions[lhs] != transactions[rhs] {
                return TransactionCode.precedes(transactions[lhs], transactions[rhs])
            }
            return (ranks[lhs], lhs) < (ranks[rhs], rhs)
        }
        var result = SeriesRows()
        for index in order {
            if let last = result.timestamps.last, last == timestamps[index],
                result.transactions.last! == transactions[index]
            {
                result.values[result.values.count - 1] = values[index]
                result.ranks[result.ranks.count - 1] = ranks[index]
            } else {
                result.append(timestamps[index], values[index], transaction: transactions[index], rank: ranks[index])
            }
        }
        self = result
    }

    /// Appends the rows at `range` of `other`, with their transactions and ranks.
    mutating func append(_ other: SeriesRows, _ range: Range<Int>) {
        for index in range {
            append(
                other.timestamps[index],
                other.values[index],
                transaction: other.transactions[index],
                rank: other.ranks[index]
            )
        }
    }
}

/// Whether row `lhs` comes before `rhs` in a page's ascending order: by timestamp, series,
/// then transaction.
@inline(__always)
func pageOrderPrecedes(
    _ lhs: (timestamp: Int64, series: UInt32, transaction: Int?),
    _ rhs: (timestamp: Int64, series: UInt32, transaction: Int?)
) -> Bool {
    if (lhs.timestamp, lhs.series) != (rhs.timestamp, rhs.series) {
        return (lhs.timestamp, lhs.series) < (rhs.timestamp, rhs.series)
    }
    return TransactionCode.precedes(lhs.transaction, rhs.transaction)
}

extension TimeSeriesStore {
    /// Bucketed aggregates (count, sum, min, max, first, last; average from them) of the
    /// numeric rows `query` selects, per series (in the order the store first saw them), then by bucket.
    ///
    /// Runs straight over the decoded columns of each block; rows are copied and
    /// de-duplicated only for a series whose sources overlap in time.
    /// - Parameter bucketMilliseconds: The bucket width, e.g. 60_000 for one minute.
    public func aggregate(_ query: EventQuery, bucketMilliseconds: Int64) throws -> [AggregateBucket] {
        var buckets: [AggregateBucket] = []
        try aggregate(query, bucketMilliseconds: bucketMilliseconds) { buckets.append($0) }
        return buckets
    }

    /// The same buckets, handed to `body` one by one as each series is done: a caller that
    /// folds them (sums over series) never holds them all.
    public func aggregate(
        _ query: EventQuery,
        bucketMilliseconds: Int64,
        _ body: (AggregateBucket) throws -> Void
    ) throws {
        for part in aggregateParts(query, bucketMilliseconds: bucketMilliseconds, parts: 1) {
            try aggregate(part, body)
        }
    }

    /// One aggregate per series over everything `query` selects (its bucket's start is the
    /// query's `from`, or the earliest representable time): count, sum, extremes, and the
    /// first and last values with their times.
    public func summarize(_ query: EventQuery) throws -> [AggregateBucket] {
        let start = query.from ?? Int64.min
        var buckets: [AggregateBucket] = []
        let snapshot = snapshot()
        let selected = SeriesSelection(query, wantedSeries(query, snapshot).0)
        try aggregate(selected, snapshot, summaries: true, bucket: { _ in (start, Int64.max) }) { buckets.append($0) }
        return buckets
    }

    /// Aggregates in the buckets `bucket` gives a timestamp (its start and exclusive end),
    /// series by series.
    /// - Parameter summaries: Whether to read the blocks' summaries where a slot lies whole in
    ///   one bucket (a query by session always reads rows: a slot mixes sessions).
    func aggregate(
        _ selected: SeriesSelection,
        _ snapshot: Snapshot,
        summaries: Bool,
        bucket: @escaping (Int64) -> (start: Int64, end: Int64),
        _ body: (AggregateBucket) throws -> Void
    ) throws {
        guard summaries, selected.transaction == nil else {
            try aggregateRows(try collectNumeric(selected, snapshot), snapshot, bucket: bucket, body)
            return
        }
        try aggregateFromSummaries(selected, snapshot, bucket: bucket, body)
    }

    /// Aggregates each series' chunks of rows, series by series in ascending id.
    func aggregateRows(
        _ chunks: [UInt32: [NumericChunk]],
        _ snapshot: Snapshot,
        bucket: @escaping (Int64) -> (start: Int64, end: Int64),
        _ body: (AggregateBucket) throws -> Void
    ) throws {
        var buckets: [AggregateBucket] = []
        for series in chunks.keys.sorted() {
            var accumulator = BucketAccumulator(series: snapshot.keys[Int(series)], bucket: bucket)
            Self.fold(chunks[series]!, into: &accumulator, &buckets)
            accumulator.finish(into: &buckets)
            // Borrowed from the buffer: no copy (and retain of its series) per bucket.
            try buckets.withUnsafeBufferPointer { finished in
                for index in finished.indices { try body(finished[index]) }
            }
            buckets.removeAll(keepingCapacity: true)
        }
    }

    /// Adds one series' chunks of rows to its accumulator in time order.
    static func fold(
        _ chunks: [NumericChunk],
        into accumulator: inout BucketAccumulator,
        _ buckets: inout [AggregateBucket]
    ) {
        for chunk in disjoint(chunks) {
            chunk.timestamps.withUnsafeBufferPointer { timestamps in
                chunk.numbers.withUnsafeBufferPointer { numbers in
                    chunk.kinds.withUnsafeBufferPointer { kinds in
                        for index in chunk.range where ValueCodec.isNumeric(kinds[index]) {
                            accumulator.add(timestamps[index], numbers[index], into: &buckets)
                        }
                    }
                }
            }
        }
    }

    /// A stretch of one series' numeric rows inside decoded column arrays (shared, not copied).
    struct NumericChunk {
        var timestamps: [Int64]
        var numbers: [Double]
        var kinds: [UInt8]
        /// Empty when the rows have no transaction column (all `nil`).
        var transactions: [Int?]
        var range: Range<Int>
        var rank: UInt64
        var first: Int64 { timestamps[range.lowerBound] }
        var last: Int64 { timestamps[range.upperBound - 1] }
    }

    /// Chunks in time order without two rows of the same timestamp and transaction: as they are
    /// when they do not overlap (the usual case), otherwise merged, keeping the newest of equal
    /// rows.
    static func disjoint(_ chunks: [NumericChunk]) -> [NumericChunk] {
        let ordered = chunks.sorted { ($0.first, $0.rank) < ($1.first, $1.rank) }
        var overlapping = false
        for index in ordered.indices.dropFirst() where ordered[index].first <= ordered[index - 1].last {
            overlapping = true
        }
        guard overlapping else { return ordered }
        var rows = SeriesRows()
        for chunk in ordered {
            for index in chunk.range {
                // A newer non-numeric row must still replace an older numeric one.
                let value: EventValue =
                    ValueCodec.isNumeric(chunk.kinds[index]) ? .number(chunk.numbers[index]) : .text("")
                let transaction = chunk.transactions.isEmpty ? nil : chunk.transactions[index]
                rows.append(chunk.timestamps[index], value, transaction: transaction, rank: chunk.rank)
            }
        }
        rows.normalize()
        return [Self.chunk(of: rows, rank: 0)]
    }

    /// The latest row of each series `query` selects (the current meter reading), in the order the store first saw the series.
    public func latest(_ query: EventQuery) throws -> [EventRow] {
        let snapshot = snapshot()
        var collected = try collect(query, snapshot, selection: .all)
        return collected.keys.sorted().compactMap { series in
            collected[series]!.normalize()
            let rows = collected[series]!
            guard let last = rows.timestamps.indices.last else { return nil }
            return EventRow(
                series: snapshot.keys[Int(series)],
                timestamp: rows.timestamps[last],
                value: rows.values[last],
                transactionID: rows.transactions[last]
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

    /// A chunk over normalized rows; rows without a number keep a non-numeric kind.
    static func chunk(of rows: SeriesRows, rank: UInt64) -> NumericChunk {
        NumericChunk(
            timestamps: rows.timestamps,
            numbers: rows.values.map { $0.number ?? 0 },
            kinds: rows.values.map { $0.number == nil ? ValueCodec.kindText : ValueCodec.kindNumber },
            transactions: rows.transactions,
            range: 0..<rows.timestamps.count,
            rank: rank
        )
    }

    /// Per matching series, the numeric rows in the query's time range, as chunks.
    func collectNumeric(_ query: EventQuery, _ snapshot: Snapshot) throws -> [UInt32: [NumericChunk]] {
        try collectNumeric(SeriesSelection(query, wantedSeries(query, snapshot).0), snapshot)
    }

    /// Per selected series, the numeric rows in the selection's time range, as chunks.
    func collectNumeric(_ selected: SeriesSelection, _ snapshot: Snapshot) throws -> [UInt32: [NumericChunk]] {
        var chunks: [UInt32: [NumericChunk]] = [:]
        // The transaction column only to find a session's rows, or to tell rows of one
        // timestamp apart where sources overlap (merged by ``disjoint(_:)``).
        let selection: BlockCodec.Selection = [.kinds, .numbers, .transactions]
        let memory = try forEachSeriesRun(selected, snapshot, selection: selection) { segment, columns, run in
            chunks[columns.seriesIDs[run.lowerBound], default: []].append(
                NumericChunk(
                    timestamps: columns.timestamps,
                    numbers: columns.numbers,
                    kinds: columns.kinds,
                    transactions: columns.transactions,
                    range: run,
                    rank: segment.sequence
                )
            )
        }
        let memoryRank = Self.memoryRank(snapshot.memory.count)
        for (series, rows) in memory {
            chunks[series, default: []].append(Self.chunk(of: rows, rank: memoryRank))
        }
        return chunks
    }

    /// Gathers, per matching series, the rows in the query's time range from every source.
    func collect(
        _ query: EventQuery,
        _ snapshot: Snapshot,
        selection: BlockCodec.Selection
    ) throws -> [UInt32: SeriesRows] {
        var collected: [UInt32: SeriesRows] = [:]
        let selected = SeriesSelection(query, wantedSeries(query, snapshot).0)
        let memory = try forEachSeriesRun(selected, snapshot, selection: selection) { segment, columns, run in
            let series = columns.seriesIDs[run.lowerBound]
            var rows = collected.removeValue(forKey: series) ?? SeriesRows()
            for row in run {
                let transaction = columns.transaction(row)
                if selection.contains(.texts) {
                    rows.append(
                        columns.timestamps[row],
                        try Segment.value(columns, row),
                        transaction: transaction,
                        rank: segment.sequence
                    )
                } else if ValueCodec.isNumeric(columns.kinds[row]) {
                    rows.append(
                        columns.timestamps[row],
                        .number(columns.numbers[row]),
                        transaction: transaction,
                        rank: segment.sequence
                    )
                }
            }
            collected[series] = rows
        }
        for (series, rows) in memory {
            var merged = collected.removeValue(forKey: series) ?? SeriesRows()
            merged.append(rows, rows.timestamps.indices)
            collected[series] = merged
        }
        return collected
    }

    /// Calls `body` with each run of rows of a selected series, inside the time range (and of
    /// the query's transaction, if it names one), of every block that can hold some (others
    /// are skipped from the footer index alone: its series, times and transactions); returns
    /// the memtables' rows of the selected series, normalized.
    private func forEachSeriesRun(
        _ selected: SeriesSelection,
        _ snapshot: Snapshot,
        selection: BlockCodec.Selection,
        _ body: (Segment, BlockCodec.Columns, Range<Int>) throws -> Void
    ) throws -> [UInt32: SeriesRows] {
        guard selected.wanted.contains(true) else { return [:] }
        let (wanted, from, to, transaction) = (selected.wanted, selected.from, selected.to, selected.transaction)
        let selection = transaction == nil ? selection : selection.union(.transactions)
        let candidates = candidateBlocks(wanted, from: from, to: to, transaction: transaction, snapshot)
        var cache = BlockCache(selection: selection, wanted: wanted)
        try forEachSeriesRun(in: candidates, wanted, from: from, to: to, transaction: transaction, cache: &cache, body)
        return memoryRows(wanted, from: from, to: to, transaction: transaction, snapshot)
    }

    /// A block that may hold rows of the wanted series in a time range, by its footer entry.
    struct CandidateBlock {
        var segment: Segment
        var index: Int
        var info: BlockInfo { segment.blocks[index] }
    }

    /// The blocks that can hold rows of `wanted` in `from..<to` (of `transaction`, if given),
    /// in segment order; every other block is skipped from the footer index alone (and
    /// counted as skipped).
    ///
    /// A segment's rows are sorted by series, so its blocks' series ranges ascend: for a few
    /// wanted series, each one's blocks are found by binary search, and the cost follows the
    /// series asked for rather than the blocks stored.
    func candidateBlocks(
        _ wanted: [Bool],
        from: Int64,
        to: Int64,
        transaction: Int?,
        _ snapshot: Snapshot
    ) -> [CandidateBlock] {
        var candidates: [CandidateBlock] = []
        var skipped = 0
        var wantedIDs: [UInt32] = []
        for (id, isWanted) in wanted.enumerated() where isWanted { wantedIDs.append(UInt32(id)) }
        for segment in snapshot.segments {
            guard segment.maxTimestamp >= from, segment.minTimestamp < to,
                transaction.map({ segment.transactionRange?.contains($0) ?? false }) ?? true,
                Self.holdsAny(wantedIDs, in: segment.seriesRange)
            else {
                skipped += segment.blocks.count
                continue
            }
            let blocks = segment.blocks
            func matches(_ block: BlockInfo) -> Bool {
                block.maxTimestamp >= from && block.minTimestamp < to
                    && (transaction.map(block.holds(transaction:)) ?? true)
            }
            guard segment.seriesAscending, wantedIDs.count * 8 < blocks.count else {
                for (index, block) in blocks.enumerated() {
                    if matches(block) && Self.holdsAny(block.seriesIDs, of: wanted) {
                        candidates.append(CandidateBlock(segment: segment, index: index))
                    } else {
                        skipped += 1
                    }
                }
                continue
            }
            let before = candidates.count
            var indices: [Int] = []
            let (firstSeries, lastSeries) = (segment.firstSeries, segment.lastSeries)
            // Ids ascend: each one's first block is at or after the previous one's, and often
            // the same (a charger's series were numbered together).
            var low = 0
            for id in wantedIDs {
                // The first block whose greatest series is not below `id`.
                if low < blocks.count, lastSeries[low] < id {
                    var high = blocks.count
                    while low < high {
                        let middle = (low + high) / 2
                        if lastSeries[middle] < id { low = middle + 1 } else { high = middle }
                    }
                }
                var index = low
                while index < blocks.count, firstSeries[index] <= id {
                    if indices.last != index, matches(blocks[index]), blocks[index].holds(series: id) {
                        indices.append(index)
                    }
                    index += 1
                }
            }
            indices.sort()
            var previous = -1
            for index in indices where index != previous {
                candidates.append(CandidateBlock(segment: segment, index: index))
                previous = index
            }
            skipped += blocks.count - (candidates.count - before)
        }
        noteBlocks(decoded: 0, skipped: skipped)
        return candidates
    }

    /// Whether an id of ascending `ids` lies in `range`.
    static func holdsAny(_ ids: [UInt32], in range: ClosedRange<UInt32>?) -> Bool {
        guard let range else { return false }
        var low = 0
        var high = ids.count
        while low < high {
            let middle = (low + high) / 2
            if ids[middle] < range.lowerBound { low = middle + 1 } else { high = middle }
        }
        return low < ids.count && ids[low] <= range.upperBound
    }

    /// Calls `body` with each run of rows of a wanted series inside `from..<to` (and of
    /// `transaction`, if given) of the candidate blocks that overlap that range, decoding each
    /// block once per `cache`. A corrupt segment is reported and left out.
    func forEachSeriesRun(
        in candidates: [CandidateBlock],
        _ wanted: [Bool],
        from: Int64,
        to: Int64,
        transaction: Int?,
        cache: inout BlockCache,
        _ body: (Segment, BlockCodec.Columns, Range<Int>) throws -> Void
    ) throws {
        var decoded = 0
        var corrupt: Set<UInt64> = []
        for candidate in candidates {
            let block = candidate.info
            guard block.maxTimestamp >= from, block.minTimestamp < to, !corrupt.contains(candidate.segment.identity)
            else { continue }
            do {
                let (columns, fresh) = try cache.columns(candidate)
                if fresh { decoded += 1 }
                for run in BlockCodec.seriesRuns(columns.seriesIDs) {
                    let series = columns.seriesIDs[run.lowerBound]
                    guard Int(series) < wanted.count, wanted[Int(series)] else { continue }
                    // Timestamps ascend within a series run: trim to the range.
                    let lower = Self.firstIndex(in: columns.timestamps, run, notBefore: from)
                    let upper = Self.firstIndex(in: columns.timestamps, lower..<run.upperBound, notBefore: to)
                    guard lower < upper else { continue }
                    guard let transaction else {
                        try body(candidate.segment, columns, lower..<upper)
                        continue
                    }
                    // The stretches of the session's rows (a series spans sessions).
                    var begin = lower
                    while begin < upper {
                        guard columns.transaction(begin) == transaction else {
                            begin += 1
                            continue
                        }
                        var end = begin + 1
                        while end < upper && columns.transaction(end) == transaction { end += 1 }
                        try body(candidate.segment, columns, begin..<end)
                        begin = end
                    }
                }
            } catch let error as Segment.Corrupt {
                corrupt.insert(candidate.segment.identity)
                noteCorrupt(candidate.segment, error)
            }
        }
        noteBlocks(decoded: decoded, skipped: 0)
    }

    /// The first index of `range` whose timestamp is at least `time` (ascending timestamps).
    static func firstIndex(in timestamps: [Int64], _ range: Range<Int>, notBefore time: Int64) -> Int {
        var low = range.lowerBound
        var high = range.upperBound
        while low < high {
            let middle = (low + high) / 2
            if timestamps[middle] < time { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
