#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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

/// The EventsData store: a write-ahead log, an in-memory table, and immutable columnar
/// LZ4-compressed segment files partitioned by UTC day.
///
/// One writer thread appends (group commit), flushes and compacts; any number of readers
/// query consistent snapshots concurrently. Rows are unique by (series, timestamp): a later
/// row with the same series and timestamp replaces the earlier one, which makes replays
/// and retried messages idempotent.
public final class TimeSeriesStore: @unchecked Sendable {
    // @unchecked: every mutable field below is guarded by `stateLock` or owned by the
    // writer thread (documented at each), and the queue by `queueLock`.

    public let directory: String
    public let options: TimeSeriesOptions
    /// Told how long each `fdatasync` of the write-ahead log took, in nanoseconds (on the
    /// writer thread: it must return quickly).
    private let walSyncObserver: (@Sendable (_ nanoseconds: UInt64) -> Void)?
    /// What opening found.
    public private(set) var recovery = RecoveryReport()

    // Guarded by stateLock.
    private let stateLock = ConditionLock()
    private var seriesIDs: [SeriesKey: UInt32] = [:]
    /// The writer's recently appended keys by identity (a key object's address and its id per
    /// slot): callers reuse one key object per series, so most rows skip the dictionary probe.
    /// 65,536 slots (1.25 MiB): a server's active series (a thousand chargers with two
    /// connectors and ten measurands are 20,000) mostly keep a slot of their own.
    private var recentSeries = RecentSeries(slots: 65_536)
    private var seriesKeys: [SeriesKey] = []
    private var seriesByChargePoint: [String: [UInt32]] = [:]
    private var memtable: [[StoredRow]] = []
    private var memtableCount = 0
    /// Memtables handed to the flusher, oldest first; readable until their segments are in.
    private var frozen: [FrozenTable] = []
    private var lastFlushError: (any Error)?
    private var segments: [Segment] = []
    private var corruptSegments: [String] = []
    private var blocksDecoded = 0
    private var blocksSkipped = 0

    // Writer thread only.
    private var walDescriptor: Int32 = -1
    private var walSequence: UInt64 = 0
    private var walPath = ""
    // Guarded by stateLock (the writer's compaction and the flusher both write segments).
    private var nextSegmentSequence: UInt64 = 1
    // Flusher thread only (and init).
    private var persistedSeriesCount = 0
    private var memtableStarted: Int64 = 0
    private var lastSync: Int64 = 0
    private var unsyncedBytes = 0

    // Guarded by queueLock.
    private let queueLock = ConditionLock()
    private var pending: [PendingAppend] = []
    private var stopping = false
    private var writerThread: pthread_t?

    // The flusher: turns frozen memtables into segments on its own thread, so that appends
    // go on meanwhile. flushLock wakes it and tells waiters that a table is done.
    private let flushLock = ConditionLock()
    private var flusherStopping = false
    private var flusherThread: pthread_t?
    /// Frozen tables beyond this make the writer wait (backpressure, bounded memory).
    private static let maximumFrozenTables = 2

    struct FrozenTable {
        var chunks: [[StoredRow]]
        /// The last WAL file holding its rows: deleted once the table is in segments.
        var walSequence: UInt64
        /// The series the dictionary file must hold before segments may refer to them.
        var seriesCount: Int
        var rowCount: Int
    }

    private final class PendingAppend: @unchecked Sendable {
        let batches: [AppendBatch]
        var operation: Operation?
        var result: Result<Void, any Error>?
        var completion: (@Sendable (Result<Void, any Error>) -> Void)?

        enum Operation { case flush, compact, retention(Int64) }

        init(rows: [EventRow]) { self.batches = [.keyed(rows)] }
        init(batches: [AppendBatch]) { self.batches = batches }
    }

    // MARK: - Opening

    /// Opens (or creates) the store in `directory`: loads the series dictionary and the
    /// segments, replays the write-ahead log (cutting a torn tail), and starts the writer.
    /// - Throws: ``TimeSeriesError`` when the directory cannot be used.
    /// - Parameter walSyncObserver: told the duration of every sync of the write-ahead log
    ///   (for a latency metric); called on the writer thread.
    public init(
        directory: String,
        options: TimeSeriesOptions = TimeSeriesOptions(),
        walSyncObserver: (@Sendable (_ nanoseconds: UInt64) -> Void)? = nil
    ) throws {
        self.directory = directory
        self.options = options
        self.walSyncObserver = walSyncObserver
        try FileIO.makeDirectory(directory + "/wal")
        try FileIO.makeDirectory(directory + "/segments")
        try loadSeriesDictionary()
        try loadSegments()
        try replayWAL()
        memtableStarted = monotonicMilliseconds()
        lastSync = memtableStarted
        startThread { $0.writerLoop() }.map { writerThread = $0 }
        startThread { $0.flusherLoop() }.map { flusherThread = $0 }
    }

    private var dictionaryPath: String { directory + "/series.dict" }

    private func loadSeriesDictionary() throws {
        guard FileIO.exists(dictionaryPath) else { return }
        let bytes = try FileIO.readAll(dictionaryPath)
        let contents = bytes.withUnsafeBytes { WALFormat.parse($0) }
        for batch in contents.batches {
            for (id, key) in batch.newSeries { define(key, id: id) }
        }
        persistedSeriesCount = seriesKeys.count
        if let problem = contents.tailProblem {
            recovery.truncatedTails.append("\(dictionaryPath) at byte \(contents.validLength): \(problem)")
            let descriptor = try FileIO.openForAppend(dictionaryPath)
            defer { Glibc.close(descriptor) }
            try FileIO.truncate(descriptor, to: contents.validLength, path: dictionaryPath)
        }
    }

    private func define(_ key: SeriesKey, id: UInt32) {
        guard Int(id) == seriesKeys.count else { return }
        seriesKeys.append(key)
        seriesIDs[key] = id
        seriesByChargePoint[key.chargePointID, default: []].append(id)
    }

    private func loadSegments() throws {
        for day in FileIO.listDirectory(directory + "/segments") {
            let dayPath = directory + "/segments/" + day
            for name in FileIO.listDirectory(dayPath) {
                let path = dayPath + "/" + name
                if name.hasSuffix(".tmp") {
                    try FileIO.remove(path)
                    continue
                }
                guard name.hasSuffix("." + Segment.fileExtension),
                    let sequence = UInt64(name.dropLast(Segment.fileExtension.count + 1), radix: 16)
                else { continue }
                nextSegmentSequence = max(nextSegmentSequence, sequence + 1)
                do {
                    segments.append(try Segment(path: path, sequence: sequence))
                } catch let error as Segment.Corrupt {
                    corruptSegments.append(error.description)
                    recovery.corruptSegments.append(error.description)
                }
            }
        }
        segments.sort { $0.sequence < $1.sequence }
    }

    private func replayWAL() throws {
        let names = FileIO.listDirectory(directory + "/wal").filter { $0.hasSuffix(".wal") }
        var sequences = names.compactMap { UInt64($0.dropLast(4), radix: 16) }.sorted()
        for sequence in sequences {
            let path = walFilePath(sequence)
            let bytes = try FileIO.readAll(path)
            let contents = bytes.withUnsafeBytes { WALFormat.parse($0) }
            for batch in contents.batches {
                for (id, key) in batch.newSeries { define(key, id: id) }
                memtable.append(batch.rows)
                memtableCount += batch.rows.count
                recovery.replayedRows += batch.rows.count
            }
            if let problem = contents.tailProblem {
                recovery.truncatedTails.append("\(path) at byte \(contents.validLength): \(problem)")
                let descriptor = try FileIO.openForAppend(path)
                defer { Glibc.close(descriptor) }
                try FileIO.truncate(descriptor, to: contents.validLength, path: path)
                try FileIO.syncData(descriptor, path: path)
            }
        }
        if sequences.isEmpty { sequences = [1] }
        walSequence = sequences.last!
        walPath = walFilePath(walSequence)
        walDescriptor = try FileIO.openForAppend(walPath)
        try FileIO.syncDirectory(directory + "/wal")
    }

    private func walFilePath(_ sequence: UInt64) -> String {
        directory + "/wal/" + hex(sequence) + ".wal"
    }

    private func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
    }

    // MARK: - Writer thread

    private func startThread(_ body: @escaping (TimeSeriesStore) -> Void) -> pthread_t? {
        let start = Unmanaged.passRetained(ThreadStart(store: self, body: body))
        var thread = pthread_t()
        let created = pthread_create(
            &thread,
            nil,
            { argument in
                let start = Unmanaged<ThreadStart>.fromOpaque(argument!).takeRetainedValue()
                start.body(start.store)
                return nil
            },
            start.toOpaque()
        )
        precondition(created == 0, "cannot start a time-series thread")
        return thread
    }

    private func writerLoop() {
        while true {
            queueLock.lock()
            while pending.isEmpty && !stopping {
                if case .interval(let milliseconds) = options.syncPolicy, unsyncedBytes > 0 {
                    queueLock.wait(milliseconds: milliseconds)
                    break
                }
                queueLock.wait()
            }
            let work = pending
            pending.removeAll()
            let stop = stopping && work.isEmpty
            queueLock.unlock()

            if work.isEmpty {
                syncIfDue(force: stop)
                if stop { return }
                continue
            }
            process(work)
        }
    }

    private func process(_ work: [PendingAppend]) {
        let appends = work.filter { $0.operation == nil }
        if !appends.isEmpty {
            // While the flusher cannot write segments (disk full, I/O error) and is behind,
            // appends fail with its error: the caller may retry; nothing acknowledged is harmed.
            let flushFailure: (any Error)? = stateLock.withLock {
                frozen.count > Self.maximumFrozenTables ? lastFlushError : nil
            }
            let result: Result<Void, any Error> =
                flushFailure.map { .failure($0) } ?? Result { try commit(appends.flatMap(\.batches)) }
            for item in appends { complete(item, result) }
        }
        for item in work {
            guard let operation = item.operation else { continue }
            let result = Result {
                switch operation {
                case .flush: try freezeMemtable()
                case .compact: try compactPartitions()
                case .retention(let now): try dropExpiredPartitions(now: now)
                }
            }
            complete(item, result)
        }
        if memtableCount >= options.memtableRows
            || (memtableCount > 0 && monotonicMilliseconds() - memtableStarted >= options.memtableAgeMilliseconds)
        {
            // A failed freeze leaves the rows in the memtable and the WAL: nothing is lost,
            // and the next append tries again.
            try? freezeMemtable()
            // Backpressure: while the flusher is behind, appends wait rather than let
            // memory grow without bound (unless it is failing: then appends fail, above).
            flushLock.withLock {
                while stateLock.withLock({ frozen.count > Self.maximumFrozenTables && lastFlushError == nil })
                    && !flusherStopping
                {
                    flushLock.wait(milliseconds: 100)
                }
            }
        }
    }

    private func complete(_ item: PendingAppend, _ result: Result<Void, any Error>) {
        if let completion = item.completion {
            completion(result)
        } else {
            queueLock.withLock {
                item.result = result
                queueLock.broadcast()
            }
        }
    }

    /// Writes the batches as one WAL record, syncs per policy, then applies them to the memtable.
    private func commit(_ batches: [AppendBatch]) throws {
        var newSeries: [(id: UInt32, key: SeriesKey)] = []
        var rows: [StoredRow] = []
        rows.reserveCapacity(batches.reduce(0) { $0 + $1.count })
        // Ids for new series are assigned here, on the writer thread, and published to
        // readers only with the rows, after the write succeeded.
        var assigned: [SeriesKey: UInt32] = [:]
        var unknownID: UInt32?
        // Looked up under the lock rather than on a copy: a copy of the dictionary would be
        // duplicated (copy-on-write) by the next new series, once per batch.
        stateLock.lock()
        let knownSeries = UInt32(seriesKeys.count)
        var nextID = knownSeries
        let recent = recentSeries
        let slotMask = recent.identities.count - 1
        recent.identities.withUnsafeMutableBufferPointer { identities in
            recent.ids.withUnsafeMutableBufferPointer { ids in
                for entry in batches {
                    let batch: [EventRow]
                    switch entry {
                    case .keyed(let keyed):
                        batch = keyed
                    case .resolved(let resolved):
                        // Ids the store gave out: only those of series it already holds.
                        if let unknown = resolved.first(where: { $0.seriesID >= knownSeries }) {
                            unknownID = unknown.seriesID
                        } else {
                            rows.append(contentsOf: resolved)
                        }
                        continue
                    }
                    batch.withUnsafeBufferPointer { batch in
                        for index in batch.indices {
                            // A hit compares addresses only: the key object's reference count
                            // is not touched, so its cache line stays with the event loop
                            // that made the row.
                            let identity = batch[index].series.identity
                            // Two slots per key (a pair): two keys whose addresses hash alike
                            // do not evict each other.
                            let first = SeriesKey.identitySlot(identity) & slotMask
                            let second = first ^ 1
                            let id: UInt32
                            if identities[first] == identity {
                                id = ids[first]
                            } else if identities[second] == identity {
                                id = ids[second]
                            } else {
                                let series = batch[index].series
                                if let existing = seriesIDs[series] ?? assigned[series] {
                                    id = existing
                                    // The newer key takes the first slot, the older moves on.
                                    identities[second] = identities[first]
                                    ids[second] = ids[first]
                                    recent.keys[second] = recent.keys[first]
                                    identities[first] = identity
                                    ids[first] = existing
                                    // Holds the object, so that its address names it while cached.
                                    recent.keys[first] = series
                                } else {
                                    id = nextID
                                    nextID += 1
                                    assigned[series] = id
                                    newSeries.append((id, series))
                                }
                            }
                            rows.append(
                                StoredRow(seriesID: id, timestamp: batch[index].timestamp, value: batch[index].value)
                            )
                        }
                    }
                }
            }
        }
        stateLock.unlock()
        // The cache may now hold ids of series this batch defines: they are the series' only
        // once the WAL record is written. If it is not, forget them all.
        var committed = false
        defer {
            if !committed, !newSeries.isEmpty {
                stateLock.withLock {
                    recentSeries = RecentSeries(slots: recentSeries.identities.count)
                }
            }
        }
        if let unknownID {
            throw TimeSeriesError(message: "a row names series id \(unknownID), which this store never gave out")
        }
        let record = WALFormat.frame(WALBatch(newSeries: newSeries, rows: rows))
        guard record.count - 8 <= WALFormat.maximumRecordLength else {
            throw TimeSeriesError(
                message: "a batch of \(record.count) bytes exceeds the largest log record "
                    + "(\(WALFormat.maximumRecordLength) bytes); append it in parts"
            )
        }
        let sizeBefore = try FileIO.size(walDescriptor, path: walPath)
        do {
            try record.withUnsafeBytes { buffer throws in
                try FileIO.writeAll(walDescriptor, buffer, path: walPath)
            }
            unsyncedBytes += record.count
            switch options.syncPolicy {
            case .always:
                try syncWAL()
                unsyncedBytes = 0
                lastSync = monotonicMilliseconds()
            case .interval:
                syncIfDue(force: false)
            case .never:
                break
            }
        } catch {
            // Cut a partial record so that later records do not follow garbage.
            try? FileIO.truncate(walDescriptor, to: sizeBefore, path: walPath)
            throw error
        }
        stateLock.withLock {
            for (id, key) in newSeries { define(key, id: id) }
            if memtableCount == 0 { memtableStarted = monotonicMilliseconds() }
            memtable.append(rows)
            memtableCount += rows.count
        }
        committed = true
    }

    /// Syncs the current WAL file's data, telling the observer how long it took.
    private func syncWAL() throws {
        let started = monotonicNanoseconds()
        try FileIO.syncData(walDescriptor, path: walPath)
        walSyncObserver?(monotonicNanoseconds() - started)
    }

    private func syncIfDue(force: Bool) {
        guard unsyncedBytes > 0 else { return }
        var due = force
        if case .interval(let milliseconds) = options.syncPolicy {
            due = due || monotonicMilliseconds() - lastSync >= Int64(milliseconds)
        }
        guard due, (try? syncWAL()) != nil else { return }
        unsyncedBytes = 0
        lastSync = monotonicMilliseconds()
    }

    private func enqueue(_ item: PendingAppend) {
        let closed: Bool = queueLock.withLock {
            if stopping { return true }
            pending.append(item)
            queueLock.broadcast()
            return false
        }
        // The writer is gone: answer now rather than leave the caller waiting forever.
        if closed {
            complete(item, .failure(TimeSeriesError(message: "the time-series store in \(directory) is closed")))
        }
    }

    private func runOnWriter(_ item: PendingAppend) throws {
        enqueue(item)
        let result: Result<Void, any Error> = queueLock.withLock {
            while item.result == nil { queueLock.wait() }
            return item.result!
        }
        try result.get()
    }

    // MARK: - Appending

    /// Appends rows. Returns once they are durable as the sync policy says (with `always`:
    /// after the fdatasync that covers them).
    /// - Throws: ``TimeSeriesError`` when the write or the sync failed (disk full, I/O
    ///   error); nothing of the batch is kept and the caller may retry.
    public func append(_ rows: [EventRow]) async throws {
        guard !rows.isEmpty else { return }
        let item = PendingAppend(rows: rows)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            item.completion = { continuation.resume(with: $0) }
            enqueue(item)
        }
    }

    /// Appends rows, blocking the calling thread until they are durable (never call it on an
    /// event loop).
    /// - Throws: ``TimeSeriesError`` as ``append(_:)`` does.
    public func appendBlocking(_ rows: [EventRow]) throws {
        guard !rows.isEmpty else { return }
        try runOnWriter(PendingAppend(rows: rows))
    }

    /// Appends several batches as one (one log record, one sync), blocking the calling thread
    /// until they are durable; the batches are not copied into one array first.
    /// - Throws: ``TimeSeriesError`` as ``append(_:)`` does.
    public func appendBlocking(batches: [[EventRow]]) throws {
        try appendBlocking(batches.map(AppendBatch.keyed))
    }

    /// Appends several batches, keyed or resolved, as one (one log record, one sync), blocking
    /// the calling thread until they are durable.
    /// - Throws: ``TimeSeriesError`` as ``append(_:)`` does, and when a resolved row names an
    ///   id this store never gave out (nothing of the batches is kept then).
    public func appendBlocking(_ batches: [AppendBatch]) throws {
        guard batches.contains(where: { !$0.isEmpty }) else { return }
        try runOnWriter(PendingAppend(batches: batches))
    }

    /// The id of a series the store holds, for ``AppendBatch/resolved(_:)`` rows; `nil` when
    /// it holds no such series yet (its first rows are still being written) or when the
    /// writer holds the store's state just now. Never waits: callable on an event loop.
    public func seriesID(of key: SeriesKey) -> UInt32? {
        guard stateLock.tryLock() else { return nil }
        defer { stateLock.unlock() }
        return seriesIDs[key]
    }

    /// Appends rows and calls `completion` on the writer thread once they are durable (or the
    /// append failed). For callers that hop back to an event loop themselves.
    public func append(_ rows: [EventRow], completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        let item = PendingAppend(rows: rows)
        item.completion = completion
        enqueue(item)
    }

    /// Turns the memtable into segments now, and returns when they are written.
    public func flush() throws {
        let item = PendingAppend(rows: [])
        item.operation = .flush
        try runOnWriter(item)
        try waitForFlushes()
    }

    /// Merges the segments of each day that has at least `compactionThreshold` of them.
    public func compact() throws {
        let item = PendingAppend(rows: [])
        item.operation = .compact
        try runOnWriter(item)
    }

    /// Drops the partitions (UTC days) that ended more than `retentionDays` before `now`.
    /// - Parameter now: Milliseconds since 1970.
    public func applyRetention(now: Int64) throws {
        let item = PendingAppend(rows: [])
        item.operation = .retention(now)
        try runOnWriter(item)
    }

    /// Stops the writer after what is queued, syncs the log and closes it.
    public func close() {
        let thread: pthread_t? = queueLock.withLock {
            stopping = true
            queueLock.broadcast()
            defer { writerThread = nil }
            return writerThread
        }
        if let thread { pthread_join(thread, nil) }
        // The flusher finishes the table it is writing; frozen tables left are in the WAL.
        let flusher: pthread_t? = flushLock.withLock {
            flusherStopping = true
            flushLock.broadcast()
            defer { flusherThread = nil }
            return flusherThread
        }
        if let flusher { pthread_join(flusher, nil) }
        if walDescriptor >= 0 {
            if unsyncedBytes > 0 { try? syncWAL() }
            Glibc.close(walDescriptor)
            walDescriptor = -1
        }
    }

    // MARK: - Flushing, compaction, retention (writer thread)

    private static let millisecondsPerDay: Int64 = 86_400_000

    /// Hands the memtable to the flusher (writer thread): a new WAL file is started first,
    /// so the old files hold exactly the frozen rows and can go once they are in segments.
    private func freezeMemtable() throws {
        guard memtableCount > 0 else { return }
        let oldSequence = walSequence
        if unsyncedBytes > 0 { try syncWAL() }
        unsyncedBytes = 0
        let newPath = walFilePath(walSequence + 1)
        let newDescriptor = try FileIO.openForAppend(newPath)
        try FileIO.syncDirectory(directory + "/wal")
        Glibc.close(walDescriptor)
        walSequence += 1
        walPath = newPath
        walDescriptor = newDescriptor
        stateLock.withLock {
            frozen.append(
                FrozenTable(
                    chunks: memtable,
                    walSequence: oldSequence,
                    seriesCount: seriesKeys.count,
                    rowCount: memtableCount
                )
            )
            memtable = []
            memtableCount = 0
        }
        memtableStarted = monotonicMilliseconds()
        flushLock.withLock { flushLock.broadcast() }
    }

    private func flusherLoop() {
        while true {
            flushLock.lock()
            while stateLock.withLock({ frozen.isEmpty }) && !flusherStopping {
                flushLock.wait()
            }
            let stop = flusherStopping
            flushLock.unlock()
            if stop { return }
            guard let (table, keys) = stateLock.withLock({ frozen.first.map { ($0, seriesKeys) } }) else { continue }
            do {
                try persistSeries(Array(keys[..<table.seriesCount]))
                var written: [Segment] = []
                for (day, dayRows) in Self.partitionedByDay(table.chunks) {
                    written.append(try writeSegment(dayRows, day: day))
                }
                stateLock.withLock {
                    segments.append(contentsOf: written)
                    frozen.removeFirst()
                    lastFlushError = nil
                }
                for name in FileIO.listDirectory(directory + "/wal") {
                    if let sequence = UInt64(name.dropLast(4), radix: 16), sequence <= table.walSequence {
                        try FileIO.remove(directory + "/wal/" + name)
                    }
                }
                flushLock.withLock { flushLock.broadcast() }
            } catch {
                // The table stays frozen, readable and in its WAL files; try again shortly.
                stateLock.withLock { lastFlushError = error }
                flushLock.withLock {
                    flushLock.broadcast()
                    flushLock.wait(milliseconds: 200)
                }
            }
        }
    }

    /// Waits until every frozen table is in segments.
    /// - Throws: The flusher's error while it cannot write segments.
    private func waitForFlushes() throws {
        try flushLock.withLock {
            while true {
                let (pending, error) = stateLock.withLock { (frozen.count, lastFlushError) }
                if pending == 0 { return }
                if let error { throw error }
                flushLock.wait(milliseconds: 100)
            }
        }
    }

    /// Appends the series defined since the last flush to the dictionary file, synced.
    private func persistSeries(_ keys: [SeriesKey]) throws {
        guard keys.count > persistedSeriesCount else { return }
        let newSeries = (persistedSeriesCount..<keys.count).map { (UInt32($0), keys[$0]) }
        let record = WALFormat.frame(WALBatch(newSeries: newSeries, rows: []))
        let descriptor = try FileIO.openForAppend(dictionaryPath)
        defer { Glibc.close(descriptor) }
        try record.withUnsafeBytes { buffer throws in
            try FileIO.writeAll(descriptor, buffer, path: dictionaryPath)
        }
        try FileIO.syncData(descriptor, path: dictionaryPath)
        try FileIO.syncDirectory(directory)
        persistedSeriesCount = keys.count
    }

    /// A row's place in the flush order: the sort key packed into three words (day and
    /// series; time; arrival), so that ordering a million of them moves 24 bytes each, not
    /// the rows.
    struct FlushEntry {
        var daySeries: UInt64
        var timestamp: Int64
        var arrival: UInt64

        var day: Int64 { Int64(daySeries >> 32) - TimeSeriesStore.dayBias }
        var chunk: Int { Int(arrival >> 32) }
        var index: Int { Int(arrival & 0xFFFF_FFFF) }
    }

    /// The rows of `chunks` (oldest first) split by UTC day, each day's rows sorted by
    /// (series, timestamp) and of rows with equal keys only the last kept. A day's rows are
    /// gathered from the chunks a block at a time (``DayRows``), not copied into one array:
    /// a memtable's million rows would be 48 MB of fresh pages at every flush.
    /// - Parameter inSortedRuns: The rows are a few runs already in that order (segments being
    ///   compacted): a merging comparison sort, which finds the runs, is faster there than
    ///   the radix sort a memtable gets.
    static func partitionedByDay(
        _ chunks: [[StoredRow]],
        inSortedRuns: Bool = false
    ) -> [(day: Int64, rows: DayRows)] {
        var entries: [FlushEntry] = []
        entries.reserveCapacity(chunks.reduce(0) { $0 + $1.count })
        // The day of the previous row, reused while rows stay in it: no 64-bit division per row.
        var day: Int64 = 0
        var dayStart = Int64.max
        var dayEnd = Int64.min
        for (chunkIndex, chunk) in chunks.enumerated() {
            for (index, row) in chunk.enumerated() {
                if row.timestamp < dayStart || row.timestamp >= dayEnd {
                    day = floorDivide(row.timestamp, millisecondsPerDay)
                    dayStart = day * millisecondsPerDay
                    dayEnd = dayStart + millisecondsPerDay
                }
                entries.append(
                    FlushEntry(
                        daySeries: UInt64(day + dayBias) << 32 | UInt64(row.seriesID),
                        timestamp: row.timestamp,
                        arrival: UInt64(chunkIndex) << 32 | UInt64(index)
                    )
                )
            }
        }
        if inSortedRuns {
            entries.sort { ($0.daySeries, $0.timestamp, $0.arrival) < ($1.daySeries, $1.timestamp, $1.arrival) }
        } else {
            sortForFlush(&entries)
        }
        var result: [(day: Int64, rows: DayRows)] = []
        var position = 0
        while position < entries.count {
            let day = entries[position].day
            var dayEnd = position
            while dayEnd < entries.count && entries[dayEnd].day == day { dayEnd += 1 }
            result.append((day, DayRows(chunks: chunks, entries: entries, range: position..<dayEnd)))
            position = dayEnd
        }
        return result
    }

    /// One day's rows of a memtable in (series, timestamp) order, read from its chunks through
    /// the sorted entries; of rows with the same series and timestamp only the last is kept.
    struct DayRows {
        let chunks: [[StoredRow]]
        let entries: [FlushEntry]
        let range: Range<Int>
        private var position: Int

        init(chunks: [[StoredRow]], entries: [FlushEntry], range: Range<Int>) {
            self.chunks = chunks
            self.entries = entries
            self.range = range
            position = range.lowerBound
        }

        /// At most this many rows are left.
        var estimatedCount: Int { range.upperBound - position }

        /// Replaces `block`'s contents with the next rows, at most `limit` of them; false when
        /// none are left. A row equal in series and time to the block's last replaces it even
        /// when the block is full, so no such pair spans two blocks.
        mutating func nextBlock(_ block: inout [StoredRow], limit: Int) -> Bool {
            block.removeAll(keepingCapacity: true)
            while position < range.upperBound {
                let entry = entries[position]
                let row = chunks[entry.chunk][entry.index]
                if let last = block.last, last.seriesID == row.seriesID, last.timestamp == row.timestamp {
                    block[block.count - 1] = row
                } else if block.count == limit {
                    break
                } else {
                    block.append(row)
                }
                position += 1
            }
            return !block.isEmpty
        }
    }

    /// Sorts entries made in arrival order by (day and series, time, arrival).
    ///
    /// A stable radix sort on the bytes of `daySeries` that differ between entries (a
    /// memtable spans a day or two and its series ids need two or three bytes: two or three
    /// passes, each a sequential read and 256 sequential write streams) leaves each series'
    /// entries in arrival order, which is time order for a meter that only moves forward; a
    /// series whose times do not rise with arrival is then sorted on its own.
    static func sortForFlush(_ entries: inout [FlushEntry]) {
        guard entries.count > 1 else { return }
        var union: UInt64 = 0
        var intersection: UInt64 = ~0
        for entry in entries {
            union |= entry.daySeries
            intersection &= entry.daySeries
        }
        let varying = union ^ intersection
        var spare = [FlushEntry](repeating: FlushEntry(daySeries: 0, timestamp: 0, arrival: 0), count: entries.count)
        for shift in stride(from: UInt64(0), to: 64, by: 8) where (varying >> shift) & 0xFF != 0 {
            entries.withUnsafeBufferPointer { source in
                spare.withUnsafeMutableBufferPointer { target in
                    var offsets = [Int](repeating: 0, count: 256)
                    offsets.withUnsafeMutableBufferPointer { offsets in
                        for entry in source { offsets[Int((entry.daySeries >> shift) & 0xFF)] += 1 }
                        var next = 0
                        for bucket in 0..<256 {
                            let count = offsets[bucket]
                            offsets[bucket] = next
                            next += count
                        }
                        for entry in source {
                            let bucket = Int((entry.daySeries >> shift) & 0xFF)
                            target[offsets[bucket]] = entry
                            offsets[bucket] += 1
                        }
                    }
                }
            }
            swap(&entries, &spare)
        }
        // Runs of one day and series are in arrival order: sort those whose times fall back.
        var start = 0
        while start < entries.count {
            var end = start + 1
            var ordered = true
            while end < entries.count && entries[end].daySeries == entries[start].daySeries {
                if entries[end].timestamp < entries[end - 1].timestamp { ordered = false }
                end += 1
            }
            if !ordered {
                entries[start..<end].sort { ($0.timestamp, $0.arrival) < ($1.timestamp, $1.arrival) }
            }
            start = end
        }
    }

    /// Added to a day number so that it packs as an unsigned 32-bit value (days from about
    /// 5.8 million years before 1970 on).
    static let dayBias: Int64 = 1 << 31

    private func dayName(_ day: Int64) -> String {
        let timestamp = OCPPDay(day: day)
        return timestamp.name
    }

    private func writeSegment(_ rows: DayRows, day: Int64) throws -> Segment {
        let dayPath = directory + "/segments/" + dayName(day)
        try FileIO.makeDirectory(dayPath)
        let sequence: UInt64 = stateLock.withLock {
            defer { nextSegmentSequence += 1 }
            return nextSegmentSequence
        }
        let path = dayPath + "/" + hex(sequence) + "." + Segment.fileExtension
        var rows = rows
        let bytes = Segment.build(estimatedRows: rows.estimatedCount, blockRows: options.blockRows) { block, limit in
            rows.nextBlock(&block, limit: limit)
        }
        try FileIO.writeAtomically(bytes, to: path)
        try FileIO.syncDirectory(directory + "/segments")
        return try Segment(path: path, sequence: sequence)
    }

    private func compactPartitions() throws {
        let current = stateLock.withLock { segments }
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
            stateLock.withLock {
                segments.removeAll { replaced.contains($0.path) }
                segments.append(contentsOf: merged)
                segments.sort { $0.sequence < $1.sequence }
            }
            for path in replaced { try FileIO.remove(path) }
            try FileIO.syncDirectory(dayPath)
        }
    }

    private func dropExpiredPartitions(now: Int64) throws {
        guard let retentionDays = options.retentionDays else { return }
        let oldestKept = floorDivide(now, Self.millisecondsPerDay) - Int64(retentionDays)
        for name in FileIO.listDirectory(directory + "/segments") {
            guard let day = OCPPDay(name: name)?.day, day < oldestKept else { continue }
            let path = directory + "/segments/" + name
            stateLock.withLock { segments.removeAll { FileIO.parent(of: $0.path) == path } }
            try FileIO.removeDirectory(path)
        }
        try FileIO.syncDirectory(directory + "/segments")
    }

    // MARK: - Reading

    struct Snapshot {
        var keys: [SeriesKey]
        var byChargePoint: [String: [UInt32]]
        var segments: [Segment]
        var memory: [[StoredRow]]
    }

    func snapshot() -> Snapshot {
        stateLock.withLock {
            Snapshot(
                keys: seriesKeys,
                byChargePoint: seriesByChargePoint,
                segments: segments,
                memory: frozen.flatMap(\.chunks) + memtable
            )
        }
    }

    func noteBlocks(decoded: Int, skipped: Int) {
        stateLock.withLock {
            blocksDecoded += decoded
            blocksSkipped += skipped
        }
    }

    func noteCorrupt(_ segment: Segment, _ error: any Error) {
        stateLock.withLock {
            corruptSegments.append("\(error)")
            segments.removeAll { $0.path == segment.path }
        }
    }

    /// Counters for tests and benchmarks.
    public var statistics: TimeSeriesStatistics {
        stateLock.withLock {
            TimeSeriesStatistics(
                segments: segments.count,
                segmentBytes: segments.reduce(0) { $0 + $1.byteCount },
                segmentRows: segments.reduce(0) { $0 + $1.rowCount },
                memtableRows: memtableCount + frozen.reduce(0) { $0 + $1.rowCount },
                seriesCount: seriesKeys.count,
                blocksDecoded: blocksDecoded,
                blocksSkipped: blocksSkipped,
                corruptSegments: corruptSegments
            )
        }
    }

    deinit {
        close()
    }
}

/// Floor division: days before 1970 round down, not towards zero.
func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
    let quotient = value / divisor
    return value % divisor < 0 ? quotient - 1 : quotient
}

/// A UTC day and its partition directory name (`YYYY-MM-DD`).
struct OCPPDay {
    let day: Int64

    init(day: Int64) { self.day = day }

    init?(name: String) {
        let parts = name.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3 else { return nil }
        self.day = Int64(Self.daysFromCivil(year: parts[0], month: parts[1], day: parts[2]))
    }

    var name: String {
        let (year, month, day) = Self.civilFromDays(Int(self.day))
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civilFromDays(_ days: Int) -> (Int, Int, Int) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// What a store thread runs: the store (retained for the thread's life) and the loop.
private final class ThreadStart {
    let store: TimeSeriesStore
    let body: (TimeSeriesStore) -> Void

    init(store: TimeSeriesStore, body: @escaping (TimeSeriesStore) -> Void) {
        self.store = store
        self.body = body
    }
}

/// The writer's identity cache: per slot, a key object's address, its series id, and the key
/// itself (which keeps the object, and so the address, from being reused while cached). A
/// class, so that its arrays can be accessed at once; used under the store's state lock.
private final class RecentSeries {
    var identities: [UInt]
    var ids: [UInt32]
    var keys: [SeriesKey?]

    init(slots: Int) {
        identities = Array(repeating: 0, count: slots)
        ids = Array(repeating: 0, count: slots)
        keys = Array(repeating: nil, count: slots)
    }
}
