import CoreMetrics
import Logging
import NIOConcurrencyHelpers
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The writer thread: the queue, group commit to the write-ahead log, and freezing memtables.
extension TimeSeriesStore {
    func writerLoop() {
        while true {
            // With interval syncing and unsynced bytes, wake by the interval's end at the latest.
            if case .interval(let milliseconds) = options.syncPolicy, unsyncedBytes > 0 {
                guard queue.lock(whenValue: true, timeoutSeconds: Double(milliseconds) / 1000) else {
                    syncIfDue(force: false)
                    continue
                }
            } else {
                queue.lock(whenValue: true)
            }
            let work = pending
            pending.removeAll()
            let stop = stopping && work.isEmpty
            queue.unlock(withValue: stopping)

            if stop {
                syncIfDue(force: true)
                return
            }
            process(work)
        }
    }

    private func process(_ work: [PendingAppend]) {
        let appends = work.filter { $0.operation == nil }
        if !appends.isEmpty {
            // While the flusher cannot write segments (disk full, I/O error) and is behind,
            // appends fail with its error: the caller may retry; nothing acknowledged is harmed.
            let flushFailure: (any Error)? = state.withLock { state in
                state.frozen.count > Self.maximumFrozenTables ? state.lastFlushError : nil
            }
            let result: Result<[Int: SeriesLimitExceeded], any Error> =
                flushFailure.map { .failure($0) } ?? Result { try commit(appends.flatMap(\.batches)) }
            if case .failure(let error as TimeSeriesError) = result, error.message == Self.oversizedRow.message,
                appends.count > 1
            {
                // A row too large for any log record fails its own append, not the group's.
                var others: [PendingAppend] = []
                for item in appends {
                    if WALFormat.holdsOversizedRow(item.batches) {
                        complete(item, result, firstBatch: 0)
                    } else {
                        others.append(item)
                    }
                }
                if !others.isEmpty {
                    let othersResult = Result { try commit(others.flatMap(\.batches)) }
                    completeEach(others, othersResult)
                }
            } else {
                completeEach(appends, result)
            }
            // The committed rows go to live subscribers once their appends are answered.
            for commit in unpublished {
                feed.publish(commit.rows, firstPosition: commit.firstPosition, newSeries: commit.newSeries)
            }
            unpublished.removeAll(keepingCapacity: true)
        }
        for item in work {
            guard let operation = item.operation else { continue }
            switch operation {
            case .flush: complete(item, Result { try freezeMemtable() })
            case .flushIfDue: complete(item, .success(()))
            }
        }
        freezeIfDue()
    }

    /// Freezes the memtable when it is full or old enough. A failed freeze is logged and
    /// counted, and leaves the rows in the memtable and the WAL: nothing is lost, and the
    /// next append or maintenance pass tries again.
    private func freezeIfDue() {
        let memtableCount = state.withLock { $0.memtableCount }
        guard
            memtableCount >= options.memtableRows
                || (memtableCount > 0 && monotonicMilliseconds() - memtableStarted >= options.memtableAgeMilliseconds)
        else { return }
        do {
            try freezeMemtable()
        } catch {
            metrics.flushFailures.increment()
            logger.error(
                "Time-series memtable could not be frozen; its rows stay in memory and in the log, and it is retried",
                metadata: ["rows": "\(memtableCount)", "error": "\(error)"]
            )
            return
        }
        // Backpressure: while the flusher is behind, appends wait rather than let
        // memory grow without bound (unless it is failing: then appends fail, above).
        belowFrozenLimit.lock(whenValue: true)
        belowFrozenLimit.unlock()
    }

    /// Completes an append whose batches start at `firstBatch` of the commit's: with the
    /// refusals of its batches (see ``PendingAppend/returnsRefusals``).
    /// Completes each of `items`, whose batches were committed together in this order.
    private func completeEach(_ items: [PendingAppend], _ result: Result<[Int: SeriesLimitExceeded], any Error>) {
        var firstBatch = 0
        for item in items {
            complete(item, result, firstBatch: firstBatch)
            firstBatch += item.batches.count
        }
    }

    private func complete(
        _ item: PendingAppend,
        _ result: Result<[Int: SeriesLimitExceeded], any Error>,
        firstBatch: Int
    ) {
        guard case .success(let refused) = result, !refused.isEmpty else {
            return complete(item, result.map { _ in () })
        }
        for index in item.batches.indices {
            if let refusal = refused[firstBatch + index] { item.refusals[index] = refusal }
        }
        if !item.returnsRefusals, let refusal = item.refusals.values.first {
            return complete(item, .failure(refusal))
        }
        complete(item, .success(()))
    }

    func complete(_ item: PendingAppend, _ result: Result<Void, any Error>) {
        if let completion = item.completion {
            completion(result)
        } else if let finished = item.finished {
            finished.lock()
            item.result = result
            finished.unlock(withValue: true)
        }
    }

    /// Writes the batches as one WAL record (several when they are larger than a record may be),
    /// syncs per policy, then applies them to the memtable.
    /// - Returns: The batches left out (by index) because they would pass a charge point's
    ///   series limit; the others are committed.
    private func commit(_ batches: [AppendBatch]) throws -> [Int: SeriesLimitExceeded] {
        var rows: [StoredRow] = []
        rows.reserveCapacity(batches.reduce(0) { $0 + $1.count })
        // Ids for new series are assigned here, on the writer thread, and published to
        // readers only with the rows, after the write succeeded. Looked up under the lock
        // rather than on a copy: a copy of the dictionary would be duplicated (copy-on-write)
        // by the next new series, once per batch.
        let resolution = state.withLock { state in
            state.recentSeries.resolve(
                batches,
                known: state.seriesIDs,
                knownCount: UInt32(state.seriesKeys.count),
                limit: options.maximumSeriesPerChargePoint.map {
                    SeriesIdentityCache.SeriesLimit(maximum: $0, seriesByChargePoint: state.seriesByChargePoint)
                },
                into: &rows
            )
        }
        guard !rows.isEmpty || !resolution.newSeries.isEmpty || resolution.unknownID != nil else {
            return resolution.refused
        }
        let newSeries = resolution.newSeries
        // The cache may now hold ids of series this batch defines: they are the series' only
        // once the WAL record is written. If it is not, forget them all.
        var committed = false
        defer {
            if !committed, !newSeries.isEmpty {
                state.withLock { $0.recentSeries.clear() }
            }
        }
        if let unknownID = resolution.unknownID {
            throw TimeSeriesError(message: "a row names series id \(unknownID), which this store never gave out")
        }
        // A group larger than a log record goes as several, written and synced together.
        guard let records = WALFormat.frames(WALBatch(newSeries: newSeries, rows: rows)) else {
            throw Self.oversizedRow
        }
        var bytes = records[0]
        if records.count > 1 {
            bytes.reserveCapacity(records.reduce(0) { $0 + $1.count })
            for record in records.dropFirst() { bytes.append(contentsOf: record) }
        }
        let sizeBefore = try FileIO.size(walDescriptor, path: walPath)
        do {
            try bytes.withUnsafeBytes { buffer throws in
                try FileIO.writeAll(walDescriptor, buffer, path: walPath)
            }
            unsyncedBytes += bytes.count
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
            // Cut partial records so that later records do not follow garbage.
            try? FileIO.truncate(walDescriptor, to: sizeBefore, path: walPath)
            throw error
        }
        let (wasEmpty, firstPosition) = state.withLock { state in
            for (id, key) in newSeries { state.define(key, id: id) }
            let wasEmpty = state.memtableCount == 0
            let firstPosition = state.committedRows
            state.appendToMemtable(rows)
            return (wasEmpty, firstPosition)
        }
        if wasEmpty { memtableStarted = monotonicMilliseconds() }
        committed = true
        unpublished.append((rows, firstPosition, newSeries))
        return resolution.refused
    }

    static let oversizedRow = TimeSeriesError(
        message:
            "a row is too large for a log record (\(WALFormat.maximumRecordLength) bytes at most); nothing of its append is kept"
    )

    /// Syncs the current WAL file's data, telling the observer how long it took.
    func syncWAL() throws {
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
        guard due else { return }
        do {
            try syncWAL()
        } catch {
            // The bytes stay unsynced and their appends unanswered: the next pass syncs again.
            logger.error(
                "Time-series log could not be synced; its appends wait and the sync is retried",
                metadata: ["file": "\(walPath)", "error": "\(error)"]
            )
            return
        }
        unsyncedBytes = 0
        lastSync = monotonicMilliseconds()
    }

    func enqueue(_ item: PendingAppend) {
        queue.lock()
        guard !stopping else {
            queue.unlock()
            // The writer is gone: answer now rather than leave the caller waiting forever.
            complete(item, .failure(TimeSeriesError(message: "the time-series store in \(directory) is closed")))
            return
        }
        pending.append(item)
        queue.unlock(withValue: true)
    }

    /// Queues an item made for a blocking caller and waits until the writer has done it.
    func runOnWriter(_ item: PendingAppend) throws {
        guard let finished = item.finished else { preconditionFailure("an item without a waiter") }
        enqueue(item)
        finished.lock(whenValue: true)
        let result = item.result!
        finished.unlock()
        try result.get()
    }

    /// Hands the memtable to the flusher (writer thread): a new WAL file is started first,
    /// so the old files hold exactly the frozen rows and can go once they are in segments.
    func freezeMemtable() throws {
        guard state.withLock({ $0.memtableCount > 0 }) else { return }
        let oldSequence = walSequence
        if unsyncedBytes > 0 { try syncWAL() }
        unsyncedBytes = 0
        let newPath = walFilePath(walSequence + 1)
        let newDescriptor = try FileIO.openForAppend(newPath)
        do {
            try FileIO.syncDirectory(directory + "/wal")
        } catch {
            Glibc.close(newDescriptor)
            throw error
        }
        Glibc.close(walDescriptor)
        walSequence += 1
        walPath = newPath
        walDescriptor = newDescriptor
        updateFlushState { state in
            state.frozen.append(
                FrozenTable(
                    chunks: state.memtable,
                    walSequence: oldSequence,
                    seriesCount: state.seriesKeys.count,
                    rowCount: state.memtableCount
                )
            )
            state.memtable = []
            state.memtableCount = 0
        }
        memtableStarted = monotonicMilliseconds()
        flusherWake.lock()
        flusherWake.unlock(withValue: true)
    }
}
