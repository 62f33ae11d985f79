import CivilCalendar
import Synchronization

/// What a maintenance pass (or ``TimeSeriesStore/compact()``) did.
public struct MaintenanceReport: Sendable, Hashable {
    /// Partitions (UTC days) dropped by retention.
    public var droppedPartitions = 0
    /// Segments merged into others.
    public var mergedSegments = 0
    /// Segments written by merging.
    public var writtenSegments = 0
    /// Rows read by merging.
    public var mergedRows = 0
    /// Days rewritten as parts of the whole day for a range of series each (see
    /// ``TimeSeriesStore/settleCandidates(now:)``).
    public var settledDays = 0

    public init() {}
}

/// Compaction and retention: run on the caller's thread (a maintenance pass's, or a test's),
/// one at a time, beside the writer and the flusher. Queries reading an older snapshot keep
/// reading the files it saw (see ``SegmentFiles``).
extension TimeSeriesStore {
    /// Merges, in each day that has at least `compactionThreshold` segments, all of them into
    /// one. Blocks the calling thread for as long as that takes (for tests and benchmarks; the
    /// server's passes merge a bounded amount each, see ``maintain(now:shouldStop:)``).
    @discardableResult
    public func compact() throws -> MaintenanceReport {
        var report = MaintenanceReport()
        try maintenance.withLock { _ throws in
            // The caller waits for it: full speed.
            try compactSmallSegments(targetRows: .max, rowBudget: .max, cpuShare: 1, report: &report) { false }
        }
        updateGauges()
        return report
    }

    /// Drops the partitions (UTC days) that ended more than `retentionDays` before `now`.
    /// - Parameter now: Milliseconds since 1970.
    public func applyRetention(now: Int64) throws {
        var report = MaintenanceReport()
        try maintenance.withLock { _ throws in try dropExpiredPartitions(now: now, report: &report) }
        updateGauges()
    }

    /// One maintenance pass: freezes a memtable that is due (retrying a freeze that failed),
    /// drops expired partitions, merges runs of small segments into large ones, then settles
    /// the days that ended (see ``settleCandidates(now:)``), at most `compactionRowsPerPass`
    /// rows in all (a first merge or day may be larger), and sets the gauges.
    /// - Parameters:
    ///   - now: Milliseconds since 1970, for retention.
    ///   - shouldStop: Asked between merges (and between the segments a merge reads): true
    ///     ends the pass early.
    /// - Throws: What failed; what was done before stays done, and the next pass goes on.
    public func maintain(now: Int64, shouldStop: () -> Bool = { false }) throws -> MaintenanceReport {
        var report = MaintenanceReport()
        defer { updateGauges() }
        try runOnWriter(PendingAppend(operation: .flushIfDue))
        try maintenance.withLock { _ throws in
            try dropExpiredPartitions(now: now, report: &report)
            try compactSmallSegments(
                targetRows: options.compactionTargetRows,
                rowBudget: options.compactionRowsPerPass,
                cpuShare: backgroundCPUShare,
                report: &report,
                shouldStop: shouldStop
            )
            try settleDays(now: now, rowBudget: options.compactionRowsPerPass, report: &report, shouldStop: shouldStop)
        }
        return report
    }

    /// Runs of segments to merge, oldest day first: within a day, in sequence order, segments
    /// below `targetRows` that follow each other (a large one ends a run), at most
    /// `targetRows` rows together. A run is merged when it holds at least
    /// `compactionThreshold` (and two) segments, or at least two when it is full (the next
    /// segment would not fit: flushes of full memtables, a quarter of the target or more each,
    /// would otherwise never gather enough) or is the end of a day before the newest. A segment
    /// of an older format version (without summaries) is rewritten even alone, large or not.
    ///
    /// A merged segment takes the name and sequence of the newest segment of its run, so it
    /// stays older than every later segment of its day and newer than every earlier one:
    /// duplicate rows resolve as they did before the merge.
    func compactionRuns(targetRows: Int) -> [[Segment]] {
        // Taken while the flusher writes nothing: a segment it numbered already is in the
        // state, and one it numbers later is newer than every merged one.
        let segments = partitionDirectories.withLock { _ in state.withLock { $0.segments } }
        let byDay = Dictionary(grouping: segments) { FileIO.parent(of: $0.path) }
        let smallest = max(2, options.compactionThreshold)
        var runs: [[Segment]] = []
        let newestDay = byDay.keys.max()
        for dayPath in byDay.keys.sorted() {
            var run: [Segment] = []
            var rows = 0
            func due(_ run: [Segment], closed: Bool) -> Bool {
                run.count >= smallest || (closed && run.count >= 2)
                    || run.contains { $0.version < Segment.summaryVersion }
            }
            for segment in byDay[dayPath]!.sorted(by: { $0.sequence < $1.sequence }) {
                let large = segment.rowCount >= targetRows && segment.version >= Segment.summaryVersion
                if large || segment.rowCount > targetRows - rows {
                    // Full when the segment does not fit; a large one just ends the run.
                    if due(run, closed: !large) { runs.append(run) }
                    run = []
                    rows = 0
                }
                if !large {
                    run.append(segment)
                    rows += segment.rowCount
                }
            }
            if due(run, closed: dayPath != newestDay) { runs.append(run) }
        }
        return runs
    }

    /// The share of a core that flushes and maintenance passes keep to (``BackgroundPacer``,
    /// which clamps it to 1-100 %).
    var backgroundCPUShare: Double { Double(options.backgroundCPUPercent) / 100 }

    private func compactSmallSegments(
        targetRows: Int,
        rowBudget: Int,
        cpuShare: Double,
        report: inout MaintenanceReport,
        shouldStop: () -> Bool
    ) throws {
        var runs = compactionRuns(targetRows: targetRows)
        while !runs.isEmpty {
            // Taken out, so that the run's array is the only one holding its segments here.
            var run = runs.removeFirst()
            let rows = run.reduce(0) { $0 + $1.rowCount }
            if shouldStop() || (report.mergedRows > 0 && rows > rowBudget - report.mergedRows) { return }
            guard try merge(&run, cpuShare: cpuShare, shouldStop: shouldStop) else { return }
            report.mergedRows += rows
            report.mergedSegments += run.count
            report.writtenSegments += 1
        }
    }

    /// Writes the rows of `run` (segments of one day, oldest first) as one segment under the
    /// newest one's name, then removes the others. False when `shouldStop` ended it first.
    private func merge(_ run: inout [Segment], cpuShare: Double, shouldStop: () -> Bool) throws -> Bool {
        let newest = run[run.count - 1]
        var chunks: [[StoredRow]] = []
        for segment in run {
            if shouldStop() { return false }
            do {
                chunks.append(try segment.allRows())
            } catch let error as Segment.Corrupt {
                noteCorrupt(segment, error)
                throw error
            }
        }
        // Oldest first: of duplicate rows, partitioned keeps the newest. The rows stay in the
        // day they were filed under (misdated rows are in their window's edge day).
        let dayName = FileIO.parent(of: newest.path).split(separator: "/").last.map(String.init) ?? ""
        let filedUnder = CalendarDay(name: dayName)?.day
        let days = Self.partitioned(chunks, inSortedRuns: true, window: filedUnder.map { $0...$0 }).partitions
        guard days.count == 1, var rows = days.first?.rows else {
            throw TimeSeriesError(message: "the segments merged into \(newest.path) do not hold the rows of one day")
        }
        // A pass keeps to its share of a core unless stopping (nothing waits for it).
        var pacer = BackgroundPacer(share: cpuShare)
        let bytes = Segment.build(estimatedRows: rows.estimatedCount, blockRows: options.blockRows) { block, limit in
            pacer.pace(hurry: shouldStop)
            return rows.nextBlock(&block, limit: limit)
        }
        let temporary = try FileIO.writeTemporary(bytes, for: newest.path)
        // A backup sees the run or the merged segment, never both nor neither (StoreFileLock).
        let publishing: StoreFileLock.Held
        do {
            publishing = try StoreFileLock.acquire(directory: directory, exclusive: false)
        } catch {
            try? FileIO.remove(temporary)
            throw error
        }
        defer { publishing.release() }
        do {
            try newest.retire()
        } catch {
            try? FileIO.remove(temporary)
            throw error
        }
        try FileIO.rename(temporary, over: newest.path)
        let merged = try Segment(path: newest.path, sequence: newest.sequence, files: files)
        let replaced = Set(run.map(\.identity))
        state.withLock { state in
            state.segments.removeAll { replaced.contains($0.identity) }
            state.segments.append(merged)
            state.segments.sort { $0.sequence < $1.sequence }
        }
        // Out of the state: no new query can take them now, and one that holds one reads it
        // through a descriptor of its own.
        for index in run.indices.dropLast() {
            if !isKnownUniquelyReferenced(&run[index]) { try run[index].retire() }
            try FileIO.remove(run[index].path)
        }
        try FileIO.syncDirectory(FileIO.parent(of: newest.path))
        return true
    }

    private func dropExpiredPartitions(now: Int64, report: inout MaintenanceReport) throws {
        guard let retentionDays = options.retentionDays else { return }
        let oldestKept = floorDivide(now, Self.millisecondsPerDay) - Int64(retentionDays)
        var dropped = 0
        defer { report.droppedPartitions += dropped }
        for name in FileIO.listDirectory(directory + "/segments") {
            guard let day = CalendarDay(name: name)?.day, day < oldestKept else { continue }
            let path = directory + "/segments/" + name
            // A backup sees the day whole or not at all (StoreFileLock).
            let publishing = try StoreFileLock.acquire(directory: directory, exclusive: false)
            defer { publishing.release() }
            try partitionDirectories.withLock { _ throws in
                var removed = state.withLock { state in
                    let removed = state.segments.filter { FileIO.parent(of: $0.path) == path }
                    state.segments.removeAll { FileIO.parent(of: $0.path) == path }
                    return removed
                }
                // A segment a query still holds keeps a descriptor of its own to read from.
                for index in removed.indices {
                    if !isKnownUniquelyReferenced(&removed[index]) { try removed[index].retire() }
                }
                try FileIO.removeDirectory(path)
            }
            dropped += 1
        }
        if dropped > 0 { try FileIO.syncDirectory(directory + "/segments") }
    }
}
