public import CoreMetrics
public import Logging
import NIOConcurrencyHelpers
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The EventsData store: a write-ahead log, an in-memory table, and immutable columnar
/// LZ4-compressed segment files partitioned by UTC day.
///
/// One writer thread appends (group commit), one flusher thread turns frozen memtables into
/// segments, and compaction and retention run on their caller's thread (``TimeSeriesMaintenance``'s);
/// any number of readers query consistent snapshots concurrently.
/// Rows are unique by (series, timestamp, transaction): a later row with the same three
/// replaces the earlier one, which makes replays and retried messages idempotent (see
/// ``StoredRow``).
///
/// The store is a `Service`: run in a service group, it closes on graceful shutdown.
/// ``close()`` closes it directly.
public final class TimeSeriesStore: @unchecked Sendable {
    // @unchecked: shared state is in `state` (a mutex); the queue's fields are guarded by
    // `queue`, the flusher's by `flusherWake`; the rest is owned by one thread, as noted.

    public let directory: String
    public let options: TimeSeriesOptions
    /// The time of day the flusher files rows by (``TimeSeriesOptions/timestampWindow``).
    let clock: TimeSeriesClock
    /// Told how long each `fdatasync` of the write-ahead log took, in nanoseconds (on the
    /// writer thread: it must return quickly).
    let walSyncObserver: (@Sendable (_ nanoseconds: UInt64) -> Void)?
    /// What opening found.
    public internal(set) var recovery = RecoveryReport()
    /// Told of failed flushes and maintenance passes.
    let logger: Logger
    let metrics: TimeSeriesMetrics
    /// The segment files' descriptors (a bounded number open).
    let files: SegmentFiles
    /// Committed rows for live subscriptions (``subscribe(_:)``).
    let feed: LiveFeed
    /// Tells positions of this store's opening from those of another (a restart).
    public let epoch = UInt64.random(in: 1...UInt64.max)
    /// Held by compaction and retention throughout: one of them runs at a time.
    let maintenance = Mutex(())
    /// Held while a day's directory is written to or removed: the flusher's new segment and
    /// retention's removal of its day never interleave.
    let partitionDirectories = Mutex(())
    /// Fault injection and observation of the flusher's attempts, for tests.
    let flushHooks = Mutex(FlushHooks())

    struct FlushHooks: Sendable {
        /// Called before the flusher writes a table; what it throws fails the attempt.
        var beforeWrite: (@Sendable () throws -> Void)?
        /// Told the outcome of each attempt (`nil`: the table is in segments).
        var afterAttempt: (@Sendable ((any Error)?) -> Void)?
    }

    /// What readers, the writer and the flusher share.
    struct State: Sendable {
        var seriesIDs: [SeriesKey: UInt32] = [:]
        var recentSeries = SeriesIdentityCache()
        var seriesKeys: [SeriesKey] = []
        /// Each charge point's series (their count is what the limit on series per charge
        /// point checks, a look-up per new series only).
        var seriesByChargePoint: [String: [UInt32]] = [:]
        var memtable: [[StoredRow]] = []
        var memtableCount = 0
        /// Rows committed since the store opened, recovered ones first: the position in commit
        /// order of the next row (``LiveRow/position``). The memtable holds the last
        /// `memtableCount` of them, and the frozen tables those before, in commit order.
        var committedRows: UInt64 = 0
        /// Memtables handed to the flusher, oldest first; readable until their segments are in.
        /// Changed only through ``TimeSeriesStore/updateFlushState(_:)``.
        var frozen: [FrozenTable] = []
        /// Why the flusher's last attempt failed; `nil` once one succeeds.
        /// Changed only through ``TimeSeriesStore/updateFlushState(_:)``.
        var lastFlushError: (any Error)?
        var segments: [Segment] = []
        var corruptSegments: [String] = []
        var blocksDecoded = 0
        var blocksSkipped = 0
        /// The next new segment's number (a merged segment takes the number of the newest it replaces).
        var nextSegmentSequence: UInt64 = 1

        /// Appends committed rows to the memtable.
        mutating func appendToMemtable(_ rows: [StoredRow]) {
            memtable.append(rows)
            memtableCount += rows.count
            committedRows += UInt64(rows.count)
        }

        /// The position of the first row still in memory (frozen tables, then the memtable).
        var firstPositionInMemory: UInt64 {
            committedRows - UInt64(memtableCount + frozen.reduce(0) { $0 + $1.rowCount })
        }

        mutating func define(_ key: SeriesKey, id: UInt32) {
            guard Int(id) == seriesKeys.count else { return }
            seriesKeys.append(key)
            seriesIDs[key] = id
            seriesByChargePoint[key.chargePointID, default: []].append(id)
        }
    }

    let state = Mutex(State())

    // Writer thread only (and init).
    var walDescriptor: Int32 = -1
    var walSequence: UInt64 = 0
    var walPath = ""
    var memtableStarted: Int64 = 0
    var lastSync: Int64 = 0
    var unsyncedBytes = 0
    /// Commits applied but not yet handed to live subscribers: they are handed over after
    /// their appends are answered, so that the hand-over is not on the acknowledgements' path.
    var unpublished: [(rows: [StoredRow], firstPosition: UInt64, newSeries: [(id: UInt32, key: SeriesKey)])] = []
    // Flusher thread only (and init).
    var persistedSeriesCount = 0

    /// The writer's queue; its value tells whether the writer has something to do (work is
    /// pending or the store is closing).
    let queue = ConditionLock(value: false)
    // Guarded by `queue`.
    var pending: [PendingAppend] = []
    var stopping = false
    var writerThread: StoreThread?

    /// Wakes the flusher; its value tells whether the flusher has something to do (a frozen
    /// table, or closing).
    let flusherWake = ConditionLock(value: false)
    // Guarded by `flusherWake`.
    var flusherStopping = false
    var flusherThread: StoreThread?
    /// Callers of ``flush()`` waiting, plus one once the store closes: a paced flush goes at
    /// full speed while anyone waits for it.
    let flushWaiters = Atomic<Int>(0)

    /// True while no frozen table waits for the flusher, or the flusher is failing.
    let flushedAll = ConditionLock(value: true)
    /// True while at most ``maximumFrozenTables`` wait for the flusher, or it is failing.
    let belowFrozenLimit = ConditionLock(value: true)
    /// Frozen tables beyond this make the writer wait (backpressure, bounded memory).
    static let maximumFrozenTables = 2

    /// Held by ``close()`` throughout; its value tells whether the store is closed.
    let closed = Mutex(false)

    struct FrozenTable: Sendable {
        var chunks: [[StoredRow]]
        /// The last WAL file holding its rows: deleted once the table is in segments.
        var walSequence: UInt64
        /// The series the dictionary file must hold before segments may refer to them.
        var seriesCount: Int
        var rowCount: Int
    }

    /// An append or an operation queued for the writer.
    final class PendingAppend: @unchecked Sendable {
        // @unchecked: set up before it is queued; `result` is then written once by the
        // writer under `finished`, and read by the waiting caller under it.
        let batches: [AppendBatch]
        let operation: Operation?
        let completion: (@Sendable (Result<Void, any Error>) -> Void)?
        /// For a caller that blocks: true once `result` is set.
        let finished: ConditionLock<Bool>?
        var result: Result<Void, any Error>?
        /// Whether the caller is told of batches refused for a series limit through
        /// ``refusals`` (otherwise a refusal fails the append).
        let returnsRefusals: Bool
        /// Its batches (by index) refused for a series limit; set before `result`.
        var refusals: [Int: SeriesLimitExceeded] = [:]

        enum Operation {
            /// Freeze the memtable.
            case flush
            /// Freeze the memtable if it is full or old enough (or a freeze failed before).
            case flushIfDue
        }

        /// An append whose caller is told through `completion`.
        init(batches: [AppendBatch], completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
            self.batches = batches
            self.operation = nil
            self.completion = completion
            self.finished = nil
            self.returnsRefusals = false
        }

        /// An append or an operation whose caller blocks until it is done.
        init(batches: [AppendBatch] = [], operation: Operation? = nil, returnsRefusals: Bool = false) {
            self.batches = batches
            self.operation = operation
            self.completion = nil
            self.finished = ConditionLock(value: false)
            self.returnsRefusals = returnsRefusals
        }
    }

    // MARK: - Opening and closing

    /// Opens (or creates) the store in `directory`: loads the series dictionary and the
    /// segments, replays the write-ahead log (cutting a torn tail), and starts the writer.
    /// - Throws: ``TimeSeriesError`` when the directory cannot be used, ``TimeSeriesDamageError``
    ///   when a file holds damage other than a crash's torn tail (see ``TimeSeriesRepair``).
    /// - Parameters:
    ///   - walSyncObserver: told the duration of every sync of the write-ahead log (for a
    ///     latency metric); called on the writer thread.
    ///   - logger: Told of flushes that failed (and are retried).
    ///   - metricsFactory: Where the store's gauges and counters go (`ocpp_ts_*`); the process's
    ///     metrics system when `nil`.
    ///   - clock: The time of day rows are filed by, when the options set a timestamp window.
    public init(
        directory: String,
        options: TimeSeriesOptions = TimeSeriesOptions(),
        clock: TimeSeriesClock = .system,
        walSyncObserver: (@Sendable (_ nanoseconds: UInt64) -> Void)? = nil,
        logger: Logger = Logger(label: "ocpp.time-series"),
        metricsFactory: (any MetricsFactory)? = nil
    ) throws {
        self.directory = directory
        self.options = options
        self.clock = clock
        self.walSyncObserver = walSyncObserver
        self.logger = logger
        self.metrics = TimeSeriesMetrics(factory: metricsFactory ?? MetricsSystem.factory)
        self.files = SegmentFiles(capacity: max(1, options.maximumOpenFiles))
        self.feed = LiveFeed(
            bufferLimit: max(1, options.liveBufferRows),
            maximumSubscribers: max(0, options.maximumLiveSubscribers),
            metrics: metrics
        )
        try recover()
        feed.seed(state.withLock { $0.seriesKeys })
        updateGauges()
        memtableStarted = monotonicMilliseconds()
        lastSync = memtableStarted
        writerThread = StoreThread(name: "ocpp-ts-writer") { self.writerLoop() }
        flusherThread = StoreThread(name: "ocpp-ts-flusher", priority: .background) { self.flusherLoop() }
    }

    /// Stops the writer after what is queued, syncs the log and closes it. Blocks until the
    /// store's threads have finished (never call it on an event loop or in a task; a service
    /// group closes the store without blocking). Closing again does nothing.
    public func close() {
        closed.withLock { closed in
            guard !closed else { return }
            closed = true
            feed.close()
            queue.lock()
            stopping = true
            let writer = writerThread
            writerThread = nil
            queue.unlock(withValue: true)
            writer?.join()
            // The flusher finishes the table it is writing, at full speed; frozen tables left
            // are in the WAL.
            flushWaiters.add(1, ordering: .relaxed)
            flusherWake.lock()
            flusherStopping = true
            let flusher = flusherThread
            flusherThread = nil
            flusherWake.unlock(withValue: true)
            flusher?.join()
            if walDescriptor >= 0 {
                if unsyncedBytes > 0 { try? syncWAL() }
                Glibc.close(walDescriptor)
                walDescriptor = -1
            }
        }
    }

    deinit {
        close()
    }

    // MARK: - Appending

    /// Appends rows. Returns once they are durable as the sync policy says (with `always`:
    /// after the fdatasync that covers them).
    /// - Throws: ``TimeSeriesError`` when the write or the sync failed (disk full, I/O
    ///   error); nothing of the batch is kept and the caller may retry.
    ///   ``SeriesLimitExceeded`` when the rows would give a charge point more series than the
    ///   options allow; nothing of them is kept.
    public func append(_ rows: [EventRow]) async throws {
        guard !rows.isEmpty else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            enqueue(PendingAppend(batches: [.keyed(rows)]) { continuation.resume(with: $0) })
        }
    }

    /// Appends rows, blocking the calling thread until they are durable (never call it on an
    /// event loop).
    /// - Throws: ``TimeSeriesError`` as ``append(_:)`` does.
    public func appendBlocking(_ rows: [EventRow]) throws {
        guard !rows.isEmpty else { return }
        try runOnWriter(PendingAppend(batches: [.keyed(rows)]))
    }

    /// Appends several batches as one (one sync, and one log record unless they are larger
    /// than a record may be), blocking the calling thread until they are durable; the batches
    /// are not copied into one array first.
    /// - Returns: The batches (by index) refused whole for a charge point's series limit; the
    ///   others are stored.
    /// - Throws: ``TimeSeriesError`` as ``append(_:)`` does.
    @discardableResult
    public func appendBlocking(batches: [[EventRow]]) throws -> [Int: SeriesLimitExceeded] {
        try appendBlocking(batches.map(AppendBatch.keyed))
    }

    /// Appends several batches, keyed or resolved, as one (one sync, and one log record unless
    /// they are larger than a record may be), blocking the calling thread until they are durable.
    /// - Returns: The batches (by index) refused whole because they would give a charge point
    ///   more series than ``TimeSeriesOptions/maximumSeriesPerChargePoint``; the others are stored.
    /// - Throws: ``TimeSeriesError`` as ``append(_:)`` does, and when a resolved row names an
    ///   id this store never gave out (nothing of the batches is kept then).
    @discardableResult
    public func appendBlocking(_ batches: [AppendBatch]) throws -> [Int: SeriesLimitExceeded] {
        guard batches.contains(where: { !$0.isEmpty }) else { return [:] }
        let item = PendingAppend(batches: batches, returnsRefusals: true)
        try runOnWriter(item)
        return item.refusals
    }

    /// Appends rows and calls `completion` on the writer thread once they are durable (or the
    /// append failed). For callers that hop back to an event loop themselves.
    public func append(_ rows: [EventRow], completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        enqueue(PendingAppend(batches: [.keyed(rows)], completion: completion))
    }

    /// The id of a series the store holds, for ``AppendBatch/resolved(_:)`` rows; `nil` when
    /// it holds no such series yet (its first rows are still being written) or when the
    /// writer holds the store's state just now. Never waits: callable on an event loop.
    public func seriesID(of key: SeriesKey) -> UInt32? {
        state.withLockIfAvailable { $0.seriesIDs[key] } ?? nil
    }

    /// Turns the memtable into segments now, and returns when they are written.
    public func flush() throws {
        flushWaiters.add(1, ordering: .relaxed)
        defer { flushWaiters.subtract(1, ordering: .relaxed) }
        try runOnWriter(PendingAppend(operation: .flush))
        try waitForFlushes()
    }
}
