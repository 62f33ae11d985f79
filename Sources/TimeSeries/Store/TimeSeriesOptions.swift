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
    /// At least this many small segments in a row of one day are merged: all of the day's by
    /// ``TimeSeriesStore/compact()``, into large ones by a maintenance pass.
    public var compactionThreshold: Int
    /// A segment of at least this many rows is large: maintenance passes leave it alone, and
    /// merge small ones into segments of at most this many rows.
    public var compactionTargetRows: Int
    /// Rows a maintenance pass merges at most (the bound on its I/O and memory).
    public var compactionRowsPerPass: Int
    /// A UTC day this long past its end is *settled* by a maintenance pass: its segments, each
    /// a few hours of every series, are rewritten as segments of the whole day for a range of
    /// series each (see ``TimeSeriesStore/settle(now:rowBudget:report:shouldStop:)``). `nil`:
    /// days are never settled.
    public var settleDelayMilliseconds: Int64?
    /// Time between two passes of ``TimeSeriesMaintenance``.
    public var maintenanceInterval: Duration
    /// Segment files kept open at most; others are opened again when read.
    public var maximumOpenFiles: Int
    /// Series identities (a series key without its transaction) one charge point may have at
    /// most; a batch that would give it more is refused whole (``SeriesLimitExceeded``).
    /// `nil`: no limit.
    public var maximumSeriesPerChargePoint: Int?
    /// The days rows are filed under (see ``TimestampWindow``); `nil`: every row under its own
    /// UTC day.
    public var timestampWindow: TimestampWindow?
    /// Rows a live subscriber may fall behind before it is dropped (``LiveEvent/overflowed``).
    public var liveBufferRows: Int
    /// Live subscriptions open at once at most.
    public var maximumLiveSubscribers: Int
    /// The share of one core, in percent (1-100), that flushing a memtable and merging
    /// segments use while nothing waits behind them (see ``BackgroundPacer``): they take
    /// longer, and the event loops keep the cores they need. 100: full speed.
    public var backgroundCPUPercent: Int

    public init(
        syncPolicy: SyncPolicy = .always,
        memtableRows: Int = 1_000_000,
        memtableAgeMilliseconds: Int64 = 10 * 60 * 1000,
        blockRows: Int = 4096,
        retentionDays: Int? = nil,
        compactionThreshold: Int = 4,
        compactionTargetRows: Int = 4_000_000,
        compactionRowsPerPass: Int = 8_000_000,
        settleDelayMilliseconds: Int64? = 3_600_000,
        maintenanceInterval: Duration = .seconds(60),
        maximumOpenFiles: Int = 256,
        maximumSeriesPerChargePoint: Int? = nil,
        timestampWindow: TimestampWindow? = nil,
        liveBufferRows: Int = 10_000,
        maximumLiveSubscribers: Int = 10_000,
        backgroundCPUPercent: Int = 15
    ) {
        self.syncPolicy = syncPolicy
        self.memtableRows = memtableRows
        self.memtableAgeMilliseconds = memtableAgeMilliseconds
        self.blockRows = blockRows
        self.retentionDays = retentionDays
        self.compactionThreshold = compactionThreshold
        self.compactionTargetRows = compactionTargetRows
        self.compactionRowsPerPass = compactionRowsPerPass
        self.settleDelayMilliseconds = settleDelayMilliseconds
        self.maintenanceInterval = maintenanceInterval
        self.maximumOpenFiles = maximumOpenFiles
        self.maximumSeriesPerChargePoint = maximumSeriesPerChargePoint
        self.timestampWindow = timestampWindow
        self.liveBufferRows = liveBufferRows
        self.maximumLiveSubscribers = maximumLiveSubscribers
        self.backgroundCPUPercent = backgroundCPUPercent
    }
}

/// What opening the store found and repaired.
public struct RecoveryReport: Sendable {
    /// Rows replayed from the write-ahead log.
    public var replayedRows: Int = 0
    /// Torn tails that were cut (of the newest WAL file or the series dictionary), with the
    /// file, offset, reason and bytes cut.
    public var truncatedTails: [String] = []
    /// Segments that failed their checks and are kept out of queries.
    public var corruptSegments: [String] = []
    /// When the directory was of format version 1 (series keys with their transaction) and
    /// was converted on open: its series before (one per key and transaction) and after.
    public var convertedSeries: (before: Int, after: Int)?
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
    /// UTC days that hold segments.
    public var partitions: Int = 0
    /// Segment files open now (at most ``TimeSeriesOptions/maximumOpenFiles``, plus those
    /// that queries of older snapshots still read after compaction or retention took them out).
    public var openFiles: Int = 0
    /// Times a segment file was opened again after its descriptor had been closed.
    public var reopenedFiles: Int = 0
}
