/// When appended rows are made durable.
public enum SyncPolicy: Sendable, Hashable {
    /// Each append returns after one `fdatasync` that covers it; concurrent appends share one
    /// (group commit). The default.
    case always
    /// Appends return after the write; the log is synced at most this often. A crash may lose
    /// the last interval's rows.
    case interval(milliseconds: Int)
    /// Never synced by the store (benchmarks and tests of the write path only).
    case never
}

/// Settings of a ``TimeSeriesStore``.
public struct TimeSeriesOptions: Sendable, Hashable {
    public var syncPolicy: SyncPolicy
    /// A memtable with this many rows becomes segments.
    public var memtableRows: Int
    /// A memtable older than this (milliseconds) becomes segments at the next append.
    public var memtableAgeMilliseconds: Int64
    /// Rows per segment block.
    public var blockRows: Int
    /// Partitions (UTC days) older than this many days are dropped by ``TimeSeriesStore/applyRetention(now:)``.
    public var retentionDays: Int?
    /// A day with at least this many segments is merged into one by ``TimeSeriesStore/compact()``.
    public var compactionThreshold: Int

    public init(
        syncPolicy: SyncPolicy = .always,
        memtableRows: Int = 1_000_000,
        memtableAgeMilliseconds: Int64 = 10 * 60 * 1000,
        blockRows: Int = 4096,
        retentionDays: Int? = nil,
        compactionThreshold: Int = 4
    ) {
        self.syncPolicy = syncPolicy
        self.memtableRows = memtableRows
        self.memtableAgeMilliseconds = memtableAgeMilliseconds
        self.blockRows = blockRows
        self.retentionDays = retentionDays
        self.compactionThreshold = compactionThreshold
    }
}

/// What opening the store found and repaired.
public struct RecoveryReport: Sendable {
    /// Rows replayed from the write-ahead log.
    public var replayedRows: Int = 0
    /// Torn or corrupt WAL tails that were cut, with the file and reason.
    public var truncatedTails: [String] = []
    /// Segments that failed their checks and are kept out of queries.
    public var corruptSegments: [String] = []
}

/// Counters for tests and benchmarks.
public struct TimeSeriesStatistics: Sendable {
    public var segments: Int
    public var segmentBytes: Int
    public var segmentRows: Int
    public var memtableRows: Int
    public var seriesCount: Int
    /// Blocks read and decompressed by queries since opening.
    public var blocksDecoded: Int
    /// Blocks that queries skipped from the footer index alone.
    public var blocksSkipped: Int
    /// Segments found corrupt (on open or while reading), kept out of queries.
    public var corruptSegments: [String]
}
