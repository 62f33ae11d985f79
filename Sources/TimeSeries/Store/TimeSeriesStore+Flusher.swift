import CivilCalendar
import CoreMetrics
import Logging
import NIOConcurrencyHelpers
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The flusher thread: turns frozen memtables into segments, so that appends go on meanwhile.
extension TimeSeriesStore {
    /// How long the flusher waits before it tries a failed table again (unless woken sooner).
    static let flushRetrySeconds = 0.2

    func flusherLoop() {
        var backingOff = false
        while true {
            if backingOff {
                if !flusherWake.lock(whenValue: true, timeoutSeconds: Self.flushRetrySeconds) {
                    flusherWake.lock()
                }
            } else {
                flusherWake.lock(whenValue: true)
            }
            let stop = flusherStopping
            let next = state.withLock { state in state.frozen.first.map { ($0, state.seriesKeys) } }
            // Stays set while tables wait, so that the next turn takes the next table at once.
            flusherWake.unlock(withValue: stop || next != nil)
            if stop { return }
            guard let (table, keys) = next else {
                backingOff = false
                continue
            }
            let hooks = flushHooks.withLock { $0 }
            do {
                try hooks.beforeWrite?()
                // A backup sees the files before this flush or after it (StoreFileLock).
                let publishing = try StoreFileLock.acquire(directory: directory, exclusive: false)
                defer { publishing.release() }
                try persistSeries(Array(keys[..<table.seriesCount]))
                // Retention does not remove a day between its segment's write and its arrival.
                try partitionDirectories.withLock { _ throws in
                    var written: [Segment] = []
                    // Misdated rows are filed under the window's edge days: a charger's clock
                    // cannot make partitions far from the server's.
                    let (partitions, outsideWindow) = Self.partitioned(
                        table.chunks,
                        window: options.timestampWindow?.days(now: clock.now())
                    )
                    // A flush at full speed takes a core from the event loops for as long as
                    // it lasts: paced, unless another table or a caller waits for it.
                    var pacer = BackgroundPacer(share: backgroundCPUShare)
                    for (day, dayRows) in partitions {
                        written.append(try writeSegment(dayRows, day: day, pacer: &pacer))
                    }
                    if outsideWindow > 0 { metrics.rowsOutsideWindow.increment(by: Int64(outsideWindow)) }
                    // Before the table leaves: once flush() returns, its log files are gone.
                    removeLogFiles(through: table.walSequence)
                    updateFlushState { state in
                        state.segments.append(contentsOf: written)
                        state.frozen.removeFirst()
                        state.lastFlushError = nil
                    }
                }
            } catch {
                // The table stays frozen, readable and in its WAL files; try again shortly
                // (or when a newer table or close wakes the flusher).
                metrics.flushFailures.increment()
                logger.error(
                    "Time-series flush failed; the rows stay in memory and in the log, and it is retried",
                    metadata: ["rows": "\(table.rowCount)", "error": "\(error)"]
                )
                updateFlushState { $0.lastFlushError = error }
                flusherWake.lock()
                flusherWake.unlock(withValue: flusherStopping)
                backingOff = true
                hooks.afterAttempt?(error)
                continue
            }
            backingOff = false
            updateGauges()
            hooks.afterAttempt?(nil)
        }
    }

    /// Removes the WAL files whose rows are all in segments now. One that cannot be removed is
    /// logged and tried again after the next flush (replaying it would only repeat rows).
    private func removeLogFiles(through walSequence: UInt64) {
        for name in FileIO.listDirectory(directory + "/wal") {
            guard let sequence = UInt64(name.dropLast(4), radix: 16), sequence <= walSequence else { continue }
            do {
                try FileIO.remove(directory + "/wal/" + name)
            } catch {
                logger.warning("A flushed time-series log file could not be removed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Changes the frozen tables or the flusher's error, and tells the writer and the callers
    /// of ``flush()`` waiting for them.
    func updateFlushState(_ change: (inout State) -> Void) {
        // Both conditions are locked while the state changes, so that their values always
        // agree with it when read under their locks.
        flushedAll.lock()
        belowFrozenLimit.lock()
        let (tables, failing) = state.withLock { state in
            change(&state)
            return (state.frozen.count, state.lastFlushError != nil)
        }
        belowFrozenLimit.unlock(withValue: tables <= Self.maximumFrozenTables || failing)
        flushedAll.unlock(withValue: tables == 0 || failing)
    }

    /// Waits until every frozen table is in segments.
    /// - Throws: The flusher's error while it cannot write segments.
    func waitForFlushes() throws {
        flushedAll.lock(whenValue: true)
        defer { flushedAll.unlock() }
        if let error = state.withLock({ $0.frozen.isEmpty ? nil : $0.lastFlushError }) { throw error }
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

    /// Writes one day's rows as a new segment file (the flusher, holding `partitionDirectories`).
    func writeSegment(_ rows: DayRows, day: Int64, pacer: inout BackgroundPacer) throws -> Segment {
        let dayPath = directory + "/segments/" + CalendarDay(day: day).name
        let sequence: UInt64 = state.withLock { state in
            defer { state.nextSegmentSequence += 1 }
            return state.nextSegmentSequence
        }
        let path = dayPath + "/" + Segment.fileName(sequence: sequence)
        var rows = rows
        let bytes = Segment.build(estimatedRows: rows.estimatedCount, blockRows: options.blockRows) { block, limit in
            pacer.pace { flushWaiters.load(ordering: .relaxed) > 0 || state.withLock { $0.frozen.count > 1 } }
            return rows.nextBlock(&block, limit: limit)
        }
        try FileIO.makeDirectory(dayPath)
        try FileIO.writeAtomically(bytes, to: path)
        try FileIO.syncDirectory(directory + "/segments")
        return try Segment(path: path, sequence: sequence, files: files)
    }
}
