import CivilCalendar
import Synchronization

/// Compaction and retention: run on the writer thread, between appends.
extension TimeSeriesStore {
    /// Merges the segments of each day that has at least `compactionThreshold` of them.
    public func compact() throws {
        try runOnWriter(PendingAppend(operation: .compact))
    }

    /// Drops the partitions (UTC days) that ended more than `retentionDays` before `now`.
    /// - Parameter now: Milliseconds since 1970.
    public func applyRetention(now: Int64) throws {
        try runOnWriter(PendingAppend(operation: .retention(now)))
    }

    func compactPartitions() throws {
        let current = state.withLock { $0.segments }
        let byDay = Dictionary(grouping: current) { FileIO.parent(of: $0.path) }
        for (dayPath, daySegments) in byDay where daySegments.count >= options.compactionThreshold {
            var rows: [StoredRow] = []
            // Oldest first, so that partitionedByDay keeps the newest of duplicate rows.
            for segment in daySegments.sorted(by: { $0.sequence < $1.sequence }) {
                rows.append(contentsOf: try segment.allRows())
            }
            var merged: [Segment] = []
            for (day, dayRows) in Self.partitionedByDay([rows], inSortedRuns: true) {
                merged.append(try writeSegment(dayRows, day: day))
            }
            let replaced = Set(daySegments.map(\.path))
            state.withLock { state in
                state.segments.removeAll { replaced.contains($0.path) }
                state.segments.append(contentsOf: merged)
                state.segments.sort { $0.sequence < $1.sequence }
            }
            for path in replaced { try FileIO.remove(path) }
            try FileIO.syncDirectory(dayPath)
        }
    }

    func dropExpiredPartitions(now: Int64) throws {
        guard let retentionDays = options.retentionDays else { return }
        let oldestKept = floorDivide(now, Self.millisecondsPerDay) - Int64(retentionDays)
        for name in FileIO.listDirectory(directory + "/segments") {
            guard let day = CalendarDay(name: name)?.day, day < oldestKept else { continue }
            let path = directory + "/segments/" + name
            state.withLock { state in state.segments.removeAll { FileIO.parent(of: $0.path) == path } }
            try FileIO.removeDirectory(path)
        }
        try FileIO.syncDirectory(directory + "/segments")
    }
}
