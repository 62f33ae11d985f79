import Synchronization

/// What readers see: consistent snapshots of the store's state, and its counters.
extension TimeSeriesStore {
    struct Snapshot: Sendable {
        var keys: [SeriesKey]
        var byChargePoint: [String: [UInt32]]
        var segments: [Segment]
        var memory: [[StoredRow]]
        /// The rows committed before the snapshot: it holds exactly the rows at positions
        /// below this (``LiveRow/position``).
        var position: UInt64 = 0
        /// The position of `memory`'s first row (`memory` is in commit order).
        var memoryPosition: UInt64 = 0
    }

    func snapshot() -> Snapshot {
        state.withLock { state in
            Snapshot(
                keys: state.seriesKeys,
                byChargePoint: state.seriesByChargePoint,
                segments: state.segments,
                memory: state.frozen.flatMap(\.chunks) + state.memtable,
                position: state.committedRows,
                memoryPosition: state.firstPositionInMemory
            )
        }
    }

    func noteBlocks(decoded: Int, skipped: Int) {
        state.withLock { state in
            state.blocksDecoded += decoded
            state.blocksSkipped += skipped
        }
    }

    func noteCorrupt(_ segment: Segment, _ error: any Error) {
        state.withLock { state in
            state.corruptSegments.append("\(error)")
            state.segments.removeAll { $0.identity == segment.identity }
        }
    }

    /// Where the segments' bytes go: each column's stored bytes summed over every block of
    /// every segment, then the rest (block headers, footers and indexes), for benchmarks
    /// that study the format. Reads every block: as costly as a scan of the store.
    public func segmentBytesByColumn() throws -> [(column: String, bytes: Int)] {
        let segments = state.withLock { $0.segments }
        var sums = [Int](repeating: 0, count: BlockCodec.columnNames.count)
        var total = 0
        for segment in segments {
            total += segment.byteCount
            for (column, bytes) in try segment.columnBytes().enumerated() { sums[column] += bytes }
        }
        var result = zip(BlockCodec.columnNames, sums).map { (column: $0, bytes: $1) }
        result.append((column: "headers, footers and indexes", bytes: total - sums.reduce(0, +)))
        return result
    }

    /// Counters for tests and benchmarks.
    public var statistics: TimeSeriesStatistics {
        var statistics = state.withLock { state in
            TimeSeriesStatistics(
                segments: state.segments.count,
                segmentBytes: state.segments.reduce(0) { $0 + $1.byteCount },
                segmentRows: state.segments.reduce(0) { $0 + $1.rowCount },
                memtableRows: state.memtableCount + state.frozen.reduce(0) { $0 + $1.rowCount },
                seriesCount: state.seriesKeys.count,
                blocksDecoded: state.blocksDecoded,
                blocksSkipped: state.blocksSkipped,
                corruptSegments: state.corruptSegments,
                partitions: Set(state.segments.map { FileIO.parent(of: $0.path) }).count
            )
        }
        statistics.openFiles = files.openCount
        statistics.reopenedFiles = files.reopenCount
        return statistics
    }
}
