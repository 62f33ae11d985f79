import CivilCalendar
import Synchronization

/// Settling a day. While a UTC day is written, its segments are time windows: each flush, and
/// each merge of flushes, holds a few hours of every series. A query of one charger's month
/// then reads a block or two of every window of every day (eight windows a day at a thousand
/// chargers). Once the day has ended (by ``TimeSeriesOptions/settleDelayMilliseconds``), a
/// maintenance pass rewrites it, in one streaming merge of its segments (``SegmentMerger``: a
/// block of each at a time), as *parts*: segments of the whole day for a range of series each,
/// of about ``TimeSeriesOptions/compactionTargetRows`` rows, cut between two series. A
/// charger's day is then a few adjacent blocks of one file.
///
/// The parts are named `<sequence>-<n>.seg` with the sequence of the day's newest segment: they
/// hold no row in common, and each is newer than every segment it replaces and older than every
/// later one (late rows of the day). They are written in full and synced before they appear
/// under their names, and the merged segments are removed after: a crash between the two
/// leaves both, whose equal rows are the same rows (a part holds the newest segment's version
/// of each), and the next pass settles the day again.
extension TimeSeriesStore {
    /// The days due to settle at `now` (milliseconds since 1970), oldest first, each day's
    /// segments oldest first: days that ended `settleDelayMilliseconds` before `now` or more,
    /// with at least half of their rows in segments whose series overlap another's. A settled
    /// day with a few late rows beside its parts is left as it is.
    func settleCandidates(now: Int64) -> [[Segment]] {
        guard let delay = options.settleDelayMilliseconds else { return [] }
        let segments = partitionDirectories.withLock { _ in state.withLock { $0.segments } }
        var due: [(day: Int64, segments: [Segment])] = []
        for (dayPath, daySegments) in Dictionary(grouping: segments, by: { FileIO.parent(of: $0.path) })
        where daySegments.count >= 2 {
            let name = dayPath.split(separator: "/").last.map(String.init) ?? ""
            guard let day = CalendarDay(name: name)?.day else { continue }
            let (end, overflow) = (day + 1).multipliedReportingOverflow(by: Self.millisecondsPerDay)
            guard !overflow, end <= now - delay else { continue }
            let rows = daySegments.reduce(0) { $0 + $1.rowCount }
            if Self.overlappingRows(daySegments) * 2 >= rows { due.append((day, daySegments)) }
        }
        return due.sorted { $0.day < $1.day }.map { $0.segments.sorted { $0.sequence < $1.sequence } }
    }

    /// The rows of the segments whose series ranges (least to greatest id) overlap another's.
    static func overlappingRows(_ segments: [Segment]) -> Int {
        let ranges = segments.compactMap { segment -> (low: UInt32, high: UInt32, rows: Int)? in
            segment.seriesRange.map { ($0.lowerBound, $0.upperBound, segment.rowCount) }
        }.sorted { $0.low < $1.low }
        var overlapping = 0
        var start = 0
        while start < ranges.count {
            var reach = ranges[start].high
            var rows = ranges[start].rows
            var end = start + 1
            while end < ranges.count, ranges[end].low <= reach {
                reach = max(reach, ranges[end].high)
                rows += ranges[end].rows
                end += 1
            }
            if end - start >= 2 { overlapping += rows }
            start = end
        }
        return overlapping
    }

    /// Settles the days due at `now`, oldest first, while the pass's merged rows stay within
    /// `rowBudget` (a day at least, when the pass merged nothing before).
    func settleDays(
        now: Int64,
        rowBudget: Int,
        report: inout MaintenanceReport,
        shouldStop: () -> Bool
    ) throws {
        var days = settleCandidates(now: now)
        while !days.isEmpty {
            // Taken out, so that the day's array is the only one holding its segments here.
            var day = days.removeFirst()
            let rows = day.reduce(0) { $0 + $1.rowCount }
            if shouldStop() || (report.mergedRows > 0 && rows > rowBudget - report.mergedRows) { return }
            guard let parts = try settle(&day, shouldStop: shouldStop) else { return }
            report.mergedRows += rows
            report.mergedSegments += day.count
            report.writtenSegments += parts
            report.settledDays += 1
        }
    }

    /// Rewrites `day` (one day's segments, oldest first) as parts; their count, or nil when
    /// `shouldStop` ended it first (nothing changed then).
    private func settle(_ day: inout [Segment], shouldStop: () -> Bool) throws -> Int? {
        let newest = day[day.count - 1]
        let dayPath = FileIO.parent(of: newest.path)
        guard let written = try writeParts(of: day, in: dayPath, sequence: newest.sequence, shouldStop: shouldStop)
        else { return nil }
        // A backup sees the day's segments or its parts, never both nor neither (StoreFileLock).
        let publishing: StoreFileLock.Held
        do {
            publishing = try StoreFileLock.acquire(directory: directory, exclusive: false)
        } catch {
            for (temporary, _) in written { try? FileIO.remove(temporary) }
            throw error
        }
        defer { publishing.release() }
        var parts: [Segment] = []
        for (index, (temporary, path)) in written.enumerated() {
            do {
                try FileIO.rename(temporary, over: path)
            } catch {
                for (later, _) in written[(index + 1)...] { try? FileIO.remove(later) }
                throw error
            }
            parts.append(try Segment(path: path, sequence: newest.sequence, files: files))
        }
        // The parts are durable under their names before the segments they replace go.
        try FileIO.syncDirectory(dayPath)
        let replaced = Set(day.map(\.identity))
        state.withLock { state in
            state.segments.removeAll { replaced.contains($0.identity) }
            state.segments.append(contentsOf: parts)
            state.segments.sort { $0.sequence < $1.sequence }
        }
        // Out of the state: no new query can take them now, and one that holds one reads it
        // through a descriptor of its own.
        for index in day.indices {
            if !isKnownUniquelyReferenced(&day[index]) { try day[index].retire() }
            try FileIO.remove(day[index].path)
        }
        try FileIO.syncDirectory(dayPath)
        return parts.count
    }

    /// Merges `day` into parts written as synced temporary files: each temporary's path and
    /// the part's, or nil (and no file left) when `shouldStop` ended it first.
    private func writeParts(
        of day: [Segment],
        in dayPath: String,
        sequence: UInt64,
        shouldStop: () -> Bool
    ) throws -> [(temporary: String, path: String)]? {
        let taken = Set(FileIO.listDirectory(dayPath))
        var part = 0
        var written: [(temporary: String, path: String)] = []
        do {
            var merger = try SegmentMerger(day)
            let targetRows = max(1, options.compactionTargetRows)
            let estimate = min(targetRows, day.reduce(0) { $0 + $1.rowCount })
            // A pass keeps to its share of a core unless stopping (nothing waits for it).
            var pacer = BackgroundPacer(share: backgroundCPUShare)
            while merger.nextGroup != nil {
                if shouldStop() {
                    for (temporary, _) in written { try? FileIO.remove(temporary) }
                    return nil
                }
                var partRows = 0
                var last: (series: UInt32, timestamp: Int64)?
                var failure: (any Error)?
                let bytes = Segment.build(estimatedRows: estimate, blockRows: options.blockRows) { block, limit in
                    pacer.pace(hurry: shouldStop)
                    block.removeAll(keepingCapacity: true)
                    do {
                        while failure == nil, let next = merger.nextGroup {
                            if let last {
                                // A part ends between two series once it holds the target; a block
                                // at its limit, between two groups of one series and timestamp.
                                if partRows >= targetRows && next.series != last.series { break }
                                if block.count >= limit
                                    && (next.series != last.series || next.timestamp != last.timestamp)
                                {
                                    break
                                }
                            }
                            guard let row = try merger.next() else { break }
                            block.append(row)
                            partRows += 1
                            last = (row.seriesID, row.timestamp)
                        }
                    } catch {
                        failure = error
                    }
                    return failure == nil && !block.isEmpty
                }
                if let failure { throw failure }
                repeat { part += 1 } while taken.contains(Segment.fileName(sequence: sequence, part: part))
                let path = dayPath + "/" + Segment.fileName(sequence: sequence, part: part)
                written.append((try FileIO.writeTemporary(bytes, for: path), path))
            }
        } catch {
            for (temporary, _) in written { try? FileIO.remove(temporary) }
            if let corrupt = error as? Segment.Corrupt, let segment = day.first(where: { $0.path == corrupt.path }) {
                noteCorrupt(segment, corrupt)
            }
            throw error
        }
        return written
    }
}
