/// Aggregates from the blocks' summaries: a slot that lies whole inside the range and inside
/// one bucket is added as its summary; only the slots cut by the range's ends or by a bucket
/// edge are read from their rows. A series whose sources overlap in time (a row that a newer
/// source may replace), or that has rows in a block without summaries, is read from its rows.
extension TimeSeriesStore {
    /// One source of one series' rows for an aggregate: a block's run of slots or the
    /// memtables' rows. Plain values (no references), sorted and grouped without a retain.
    private struct SummaryPiece {
        var series: UInt32
        /// The piece's times inside the range, for telling overlapping sources.
        var first: Int64
        var last: Int64
        /// The segment's identity; the memtables are one source.
        var source: UInt64
        /// The candidate block's place among the candidates (after them: the memtables).
        var order: Int
        /// The run's index in the decoded runs, or the series' in the memtables' rows.
        var run: Int
    }

    /// Candidate blocks read in one go at most: adjacent blocks of one segment (a charger's
    /// series side by side) cost one read, not one each, up to this bound on the buffer.
    private static let blocksPerRead = 64

    func aggregateFromSummaries(
        _ selected: SeriesSelection,
        _ snapshot: Snapshot,
        bucket: @escaping (Int64) -> (start: Int64, end: Int64),
        _ body: (AggregateBucket) throws -> Void
    ) throws {
        guard selected.wanted.contains(true) else { return }
        let (from, to) = (selected.from, selected.to)
        var fromRows = SeriesSelection(selected.wanted.map { _ in false }, from: from, to: to)
        let candidates = candidateBlocks(selected.wanted, from: from, to: to, transaction: nil, snapshot)
        var slots: [SlotSummary] = []
        var runs: [SummaryRun] = []
        var pieces: [SummaryPiece] = []
        var corrupt: Set<UInt64> = []
        var next = 0
        while next < candidates.count {
            let segment = candidates[next].segment
            let firstOrder = next
            let firstIndex = candidates[next].index
            next += 1
            while next < candidates.count, next - firstOrder < Self.blocksPerRead,
                candidates[next].segment === segment, candidates[next].index == candidates[next - 1].index + 1,
                segment.adjacent(candidates[next - 1].index)
            {
                next += 1
            }
            guard !corrupt.contains(segment.identity) else { continue }
            let indices = firstIndex..<(firstIndex + next - firstOrder)
            let firstRun = runs.count
            do {
                guard try segment.readSummaries(indices, wants: selected.wants, slots: &slots, runs: &runs) else {
                    for index in indices {
                        for series in segment.blocks[index].seriesIDs where selected.wants(series) {
                            fromRows.wanted[Int(series)] = true
                        }
                    }
                    continue
                }
            } catch let error as Segment.Corrupt {
                corrupt.insert(segment.identity)
                noteCorrupt(segment, error)
                continue
            }
            for index in firstRun..<runs.count
            where runs[index].lastTimestamp >= from && runs[index].firstTimestamp < to {
                pieces.append(
                    SummaryPiece(
                        series: runs[index].seriesID,
                        first: max(runs[index].firstTimestamp, from),
                        last: min(runs[index].lastTimestamp, to),
                        source: segment.identity,
                        order: firstOrder + runs[index].block - firstIndex,
                        run: index
                    )
                )
            }
        }
        let memory = Array(memoryRows(selected.wanted, from: from, to: to, transaction: nil, snapshot))
        for (index, (series, rows)) in memory.enumerated() {
            pieces.append(
                SummaryPiece(
                    series: series,
                    first: rows.timestamps.first!,
                    last: rows.timestamps.last!,
                    source: UInt64.max,
                    order: candidates.count,
                    run: index
                )
            )
        }
        let groups = Self.groupBySeries(&pieces)
        for group in groups where Self.overlap(pieces[group]) {
            fromRows.wanted[Int(pieces[group.lowerBound].series)] = true
        }
        let chunks = try collectNumeric(fromRows, snapshot)

        var seriesOrder: [(series: UInt32, pieces: Range<Int>)] = []
        for group in groups where !fromRows.wants(pieces[group.lowerBound].series) {
            seriesOrder.append((pieces[group.lowerBound].series, group))
        }
        for series in chunks.keys { seriesOrder.append((series, 0..<0)) }
        seriesOrder.sort { $0.series < $1.series }

        var buckets: [AggregateBucket] = []
        var cache = BlockCache(selection: [.kinds, .numbers], wanted: selected.wanted)
        var decoded = 0
        for (series, group) in seriesOrder {
            var accumulator = BucketAccumulator(series: snapshot.keys[Int(series)], bucket: bucket)
            if let seriesChunks = chunks[series] {
                Self.fold(seriesChunks, into: &accumulator, &buckets)
            }
            for piece in pieces[group] {
                if piece.order == candidates.count {
                    let rows = memory[piece.run].value
                    for (timestamp, value) in zip(rows.timestamps, rows.values) {
                        if let number = value.number { accumulator.add(timestamp, number, into: &buckets) }
                    }
                    continue
                }
                for slotIndex in runs[piece.run].slots {
                    let slot = slots[slotIndex]
                    guard slot.lastTimestamp >= from && slot.firstTimestamp < to else { continue }
                    if slot.firstTimestamp >= from, slot.lastTimestamp < to,
                        slot.lastTimestamp < bucket(slot.firstTimestamp).end
                    {
                        accumulator.add(slot, into: &buckets)
                        continue
                    }
                    // A slot cut by the range or a bucket: its rows.
                    let candidate = candidates[piece.order]
                    let columns: BlockCodec.Columns
                    do {
                        let (decodedColumns, fresh) = try cache.columns(candidate)
                        if fresh { decoded += 1 }
                        columns = decodedColumns
                    } catch let error as Segment.Corrupt {
                        // Reported and left out, as a read of rows leaves it.
                        noteCorrupt(candidate.segment, error)
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
            accumulator.finish(into: &buckets)
            // Borrowed from the buffer: no copy (and retain of its series) per bucket.
            try buckets.withUnsafeBufferPointer { finished in
                for index in finished.indices { try body(finished[index]) }
            }
            buckets.removeAll(keepingCapacity: true)
        }
        noteBlocks(decoded: decoded, skipped: 0)
    }

    /// Orders `pieces` by series, and each series' by (first time, candidate order), in place
    /// (a series' pieces mostly arrive in time order: only an unordered group is sorted); the
    /// ranges of each series' pieces.
    private static func groupBySeries(_ pieces: inout [SummaryPiece]) -> [Range<Int>] {
        var places: [UInt32: Int] = [:]
        var counts: [Int] = []
        for piece in pieces {
            if let place = places[piece.series] {
                counts[place] += 1
            } else {
                places[piece.series] = counts.count
                counts.append(1)
            }
        }
        let ordered = places.keys.sorted()
        var starts = [Int](repeating: 0, count: counts.count)
        var groups: [Range<Int>] = []
        var total = 0
        for series in ordered {
            let place = places[series]!
            starts[place] = total
            groups.append(total..<(total + counts[place]))
            total += counts[place]
        }
        var sorted = pieces
        for piece in pieces {
            let place = places[piece.series]!
            sorted[starts[place]] = piece
            starts[place] += 1
        }
        for group in groups {
            let inOrder = zip(sorted[group].dropFirst(), sorted[group]).allSatisfy {
                ($1.first, $1.order) <= ($0.first, $0.order)
            }
            if !inOrder { sorted[group].sort { ($0.first, $0.order) < ($1.first, $1.order) } }
        }
        pieces = sorted
        return groups
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
    private static func overlap(_ pieces: ArraySlice<SummaryPiece>) -> Bool {
        guard var reach = pieces.first else { return false }
        for piece in pieces.dropFirst() {
            if piece.first <= reach.last && piece.source != reach.source { return true }
            if piece.last >= reach.last { reach = piece }
        }
        return false
    }
}
