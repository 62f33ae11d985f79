/// Aggregates from the blocks' summaries: a slot that lies whole inside the range and inside
/// one bucket is added as its summary; only the slots cut by the range's ends or by a bucket
/// edge are read from their rows. A series whose sources overlap in time (a row that a newer
/// source may replace), or that has rows in a block without summaries, is read from its rows.
extension TimeSeriesStore {
    /// One source of one series' rows for an aggregate: a block's run (its summary) or the
    /// memtables' rows.
    private struct SummaryPiece {
        var candidate: CandidateBlock?
        var summary: SeriesSummary?
        var memory: SeriesRows?
        /// The piece's times inside the range, for telling overlapping sources.
        var first: Int64
        var last: Int64
        /// The segment's identity; the memtables are one source.
        var source: UInt64
        /// The candidate block's place among the candidates (after them: the memtables).
        var order: Int
    }

    func aggregateFromSummaries(
        _ selected: SeriesSelection,
        _ snapshot: Snapshot,
        bucket: @escaping (Int64) -> (start: Int64, end: Int64),
        _ body: (AggregateBucket) throws -> Void
    ) throws {
        guard selected.wanted.contains(true) else { return }
        let (from, to) = (selected.from, selected.to)
        var pieces: [UInt32: [SummaryPiece]] = [:]
        var fromRows = SeriesSelection(selected.wanted.map { _ in false }, from: from, to: to)
        var corrupt: Set<UInt64> = []
        let candidates = candidateBlocks(selected.wanted, from: from, to: to, transaction: nil, snapshot)
        for (order, candidate) in candidates.enumerated() where !corrupt.contains(candidate.segment.identity) {
            let summaries: [SeriesSummary]?
            do {
                summaries = try candidate.segment.readSummaries(candidate.index, wants: selected.wants)
            } catch let error as Segment.Corrupt {
                corrupt.insert(candidate.segment.identity)
                noteCorrupt(candidate.segment, error)
                continue
            }
            guard let summaries else {
                for series in candidate.info.seriesIDs where selected.wants(series) {
                    fromRows.wanted[Int(series)] = true
                }
                continue
            }
            for summary in summaries where selected.wants(summary.seriesID) {
                guard summary.lastTimestamp >= from, summary.firstTimestamp < to else { continue }
                pieces[summary.seriesID, default: []].append(
                    SummaryPiece(
                        candidate: candidate,
                        summary: summary,
                        first: max(summary.firstTimestamp, from),
                        last: min(summary.lastTimestamp, to),
                        source: candidate.segment.identity,
                        order: order
                    )
                )
            }
        }
        for (series, rows) in memoryRows(selected.wanted, from: from, to: to, transaction: nil, snapshot) {
            pieces[series, default: []].append(
                SummaryPiece(
                    memory: rows,
                    first: rows.timestamps.first!,
                    last: rows.timestamps.last!,
                    source: UInt64.max,
                    order: candidates.count
                )
            )
        }
        for (series, seriesPieces) in pieces {
            pieces[series] = seriesPieces.sorted { ($0.first, $0.order) < ($1.first, $1.order) }
            if Self.overlap(pieces[series]!) { fromRows.wanted[Int(series)] = true }
        }
        for series in pieces.keys where fromRows.wants(series) { pieces[series] = nil }
        let chunks = try collectNumeric(fromRows, snapshot)

        var buckets: [AggregateBucket] = []
        var cache = BlockCache(selection: [.kinds, .numbers], wanted: selected.wanted)
        var decoded = 0
        for series in Set(pieces.keys).union(chunks.keys).sorted() {
            var accumulator = BucketAccumulator(series: snapshot.keys[Int(series)], bucket: bucket)
            if let seriesChunks = chunks[series] {
                Self.fold(seriesChunks, into: &accumulator, &buckets)
            } else {
                for piece in pieces[series]! {
                    if let rows = piece.memory {
                        for (timestamp, value) in zip(rows.timestamps, rows.values) {
                            if let number = value.number { accumulator.add(timestamp, number, into: &buckets) }
                        }
                        continue
                    }
                    for slot in piece.summary!.slots where slot.lastTimestamp >= from && slot.firstTimestamp < to {
                        if slot.firstTimestamp >= from, slot.lastTimestamp < to,
                            slot.lastTimestamp < bucket(slot.firstTimestamp).end
                        {
                            accumulator.add(slot, into: &buckets)
                            continue
                        }
                        // A slot cut by the range or a bucket: its rows.
                        let columns: BlockCodec.Columns
                        do {
                            let (decodedColumns, fresh) = try cache.columns(piece.candidate!)
                            if fresh { decoded += 1 }
                            columns = decodedColumns
                        } catch let error as Segment.Corrupt {
                            // Reported and left out, as a read of rows leaves it.
                            noteCorrupt(piece.candidate!.segment, error)
                            continue
                        }
                        let run = Self.run(of: series, in: columns.seriesIDs)
                        guard !run.isEmpty else { continue }
                        let lower = Self.firstIndex(
                            in: columns.timestamps,
                            run,
                            notBefore: max(from, slot.firstTimestamp)
                        )
                        let end = slot.lastTimestamp < Int64.max ? min(to, slot.lastTimestamp + 1) : to
                        let upper = Self.firstIndex(in: columns.timestamps, lower..<run.upperBound, notBefore: end)
                        for row in lower..<upper where ValueCodec.isNumeric(columns.kinds[row]) {
                            accumulator.add(columns.timestamps[row], columns.numbers[row], into: &buckets)
                        }
                    }
                }
            }
            accumulator.finish(into: &buckets)
            for finished in buckets { try body(finished) }
            buckets.removeAll(keepingCapacity: true)
        }
        noteBlocks(decoded: decoded, skipped: 0)
    }

    /// The rows of `series` in a block's series column (ascending: rows are sorted by series),
    /// by binary search: a block cut at many slots is not walked again for each.
    private static func run(of series: UInt32, in seriesIDs: [UInt32]) -> Range<Int> {
        func firstIndex(where isAfter: (UInt32) -> Bool) -> Int {
            var low = 0
            var high = seriesIDs.count
            while low < high {
                let middle = (low + high) / 2
                if isAfter(seriesIDs[middle]) { high = middle } else { low = middle + 1 }
            }
            return low
        }
        return firstIndex { $0 >= series }..<firstIndex { $0 > series }
    }

    /// Whether two of one series' pieces (in order of their first times) from different
    /// sources share a moment: then a newer row may replace an older one, which summaries
    /// cannot tell.
    private static func overlap(_ pieces: [SummaryPiece]) -> Bool {
        guard var reach = pieces.first else { return false }
        for piece in pieces.dropFirst() {
            if piece.first <= reach.last && piece.source != reach.source { return true }
            if piece.last >= reach.last { reach = piece }
        }
        return false
    }
}
