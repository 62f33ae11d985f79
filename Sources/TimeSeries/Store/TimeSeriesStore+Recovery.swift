import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Opening: the conversion of a format version 1 directory (``LegacyConversion``), the series
/// dictionary, the segments, and the write-ahead log's replay.
///
/// Only what a crash mid-write leaves is cut: a torn tail at the end of the newest log file,
/// and a torn tail at the end of the series dictionary whose series the log still defines
/// (its records are synced before any segment refers to their series, and the log files that
/// define them are removed only after those segments are written). Any other damage stops
/// the opening with a ``TimeSeriesDamageError`` before a file is changed.
extension TimeSeriesStore {
    /// Loads what the directory holds and cuts what a crash left (a torn log or dictionary
    /// tail, unfinished segment files), then opens the current WAL file for the writer.
    /// - Throws: ``TimeSeriesDamageError`` on damage that is not a torn tail (nothing is
    ///   changed then), ``TimeSeriesError`` when a file cannot be read.
    func recover() throws {
        try FileIO.makeDirectory(directory + "/wal")
        try FileIO.makeDirectory(directory + "/segments")
        switch try LegacyConversion.layout(of: directory) {
        case .legacy:
            let conversion = try LegacyConversion.convert(
                directory: directory,
                blockRows: options.blockRows,
                window: options.timestampWindow?.days(now: clock.now())
            )
            recovery.convertedSeries = (conversion.legacySeries, conversion.series)
        case .current:
            try LegacyConversion.removeLeftovers(directory: directory)
        }
        let dictionaryTail = try loadSeriesDictionary()
        try loadSegments()
        let (sequences, walTail) = try replayWAL()
        try checkSegmentSeries(dictionaryTail: dictionaryTail)
        // Everything checks out: only now are torn tails cut.
        if let tail = dictionaryTail { try cut(tail, path: dictionaryPath) }
        if let tail = walTail { try cut(tail, path: walFilePath(sequences.last!)) }
        walSequence = sequences.last ?? 1
        walPath = walFilePath(walSequence)
        walDescriptor = try FileIO.openForAppend(walPath)
        try FileIO.syncDirectory(directory + "/wal")
    }

    var dictionaryPath: String { directory + "/series.dict" }

    /// The dictionary's records may be longer than log records (one holds every series a
    /// flush persists).
    static let maximumDictionaryRecordLength = Int(UInt32.max)

    /// Defines the dictionary's series; returns its torn tail, if it has one.
    private func loadSeriesDictionary() throws -> WALScan.Damage? {
        guard FileIO.exists(dictionaryPath) else { return nil }
        let bytes = try FileIO.readAll(dictionaryPath)
        let scan = bytes.withUnsafeBytes { WALScan($0, maximumRecordLength: Self.maximumDictionaryRecordLength) }
        if let damage = scan.damage, !damage.isTornTail {
            throw TimeSeriesDamageError(
                path: dictionaryPath,
                offset: damage.offset,
                reason: "\(damage.reason), and \(bytes.count - damage.offset) bytes from there to the end "
                    + "may hold series definitions"
            )
        }
        if let offset = zip(scan.batches, scan.offsets).first(where: { $0.0.legacyTransactions != nil })?.1 {
            throw Self.legacyRecord(in: dictionaryPath, at: offset)
        }
        persistedSeriesCount = state.withLock { state in
            for batch in scan.batches {
                for (id, key) in batch.newSeries { state.define(key, id: id) }
            }
            return state.seriesKeys.count
        }
        return scan.damage
    }

    private func loadSegments() throws {
        var found: [Segment] = []
        var corrupt: [String] = []
        var nextSequence: UInt64 = 1
        for day in FileIO.listDirectory(directory + "/segments") {
            let dayPath = directory + "/segments/" + day
            for name in FileIO.listDirectory(dayPath) {
                let path = dayPath + "/" + name
                if name.hasSuffix(".tmp") {
                    try FileIO.remove(path)
                    continue
                }
                guard let sequence = Segment.sequence(fileName: name) else { continue }
                nextSequence = max(nextSequence, sequence + 1)
                do {
                    found.append(try Segment(path: path, sequence: sequence, files: files))
                } catch let error as Segment.Corrupt {
                    corrupt.append(error.description)
                }
            }
        }
        found.sort { $0.sequence < $1.sequence }
        recovery.corruptSegments.append(contentsOf: corrupt)
        state.withLock { state in
            state.nextSegmentSequence = max(state.nextSegmentSequence, nextSequence)
            state.segments.append(contentsOf: found)
            state.segments.sort { $0.sequence < $1.sequence }
            state.corruptSegments.append(contentsOf: corrupt)
        }
    }

    /// The log files' sequence numbers, oldest first, and the newest one's torn tail.
    private func replayWAL() throws -> (sequences: [UInt64], tail: WALScan.Damage?) {
        let names = FileIO.listDirectory(directory + "/wal").filter { $0.hasSuffix(".wal") }
        let sequences = names.compactMap { UInt64($0.dropLast(4), radix: 16) }.sorted()
        var tail: WALScan.Damage?
        for sequence in sequences {
            let path = walFilePath(sequence)
            let bytes = try FileIO.readAll(path)
            let scan = bytes.withUnsafeBytes { WALScan($0, maximumRecordLength: WALFormat.maximumRecordLength) }
            if let damage = scan.damage {
                guard sequence == sequences.last, damage.isTornTail else {
                    let following = bytes.count - damage.offset
                    throw TimeSeriesDamageError(
                        path: path,
                        offset: damage.offset,
                        reason: damage.reason
                            + (damage.isTornTail
                                ? ", at the end of a log file that newer log files follow"
                                : ", and \(following) bytes from there to the end may hold acknowledged records")
                    )
                }
                tail = damage
            }
            if let offset = zip(scan.batches, scan.offsets).first(where: { $0.0.legacyTransactions != nil })?.1 {
                throw Self.legacyRecord(in: path, at: offset)
            }
            let replayed = state.withLock { state -> Result<Int, TimeSeriesDamageError> in
                var replayed = 0
                for (batch, offset) in zip(scan.batches, scan.offsets) {
                    for (id, key) in batch.newSeries {
                        // Ids are given out in order: a gap means definitions were lost.
                        guard Int(id) <= state.seriesKeys.count else {
                            return .failure(
                                TimeSeriesDamageError(
                                    path: path,
                                    offset: offset,
                                    reason: "the record defines series id \(id), but the dictionary and the log "
                                        + "before it define only \(state.seriesKeys.count) series"
                                )
                            )
                        }
                        state.define(key, id: id)
                    }
                    state.appendToMemtable(batch.rows)
                    replayed += batch.rows.count
                }
                return .success(replayed)
            }
            recovery.replayedRows += try replayed.get()
        }
        return (sequences, tail)
    }

    /// Every series a segment refers to must be defined by the dictionary or the log: a cut
    /// dictionary tail must not have held any of them.
    private func checkSegmentSeries(dictionaryTail: WALScan.Damage?) throws {
        let (defined, highest) = state.withLock { state in
            (
                state.seriesKeys.count,
                state.segments.compactMap { segment in
                    segment.blocks.compactMap(\.seriesIDs.last).max().map { (id: Int($0), path: segment.path) }
                }.max { $0.id < $1.id }
            )
        }
        guard let highest, highest.id >= defined else { return }
        let (id, path) = highest
        let torn = dictionaryTail.map { " (its torn tail at byte \($0.offset): \($0.reason))" } ?? ""
        throw TimeSeriesDamageError(
            path: dictionaryPath,
            offset: dictionaryTail?.offset ?? FileIO.fileSize(dictionaryPath),
            reason: "segment \(path) refers to series id \(id), but the dictionary\(torn) "
                + "and the log define only \(defined) series"
        )
    }

    /// Cuts a torn tail (after every check passed) and reports it.
    private func cut(_ tail: WALScan.Damage, path: String) throws {
        let size = FileIO.fileSize(path)
        recovery.truncatedTails.append(
            "\(path) at byte \(tail.offset): \(tail.reason) (\(size - tail.offset) bytes cut)"
        )
        let descriptor = try FileIO.openForAppend(path)
        defer { Glibc.close(descriptor) }
        try FileIO.truncate(descriptor, to: tail.offset, path: path)
        try FileIO.syncData(descriptor, path: path)
    }

    /// A format version 1 record in a file of a current directory (conversion removes them all).
    private static func legacyRecord(in path: String, at offset: Int) -> TimeSeriesError {
        TimeSeriesError(
            message: "\(path) holds a format version 1 record at byte \(offset) in a directory of the current format"
        )
    }

    func walFilePath(_ sequence: UInt64) -> String {
        directory + "/wal/" + hex(sequence) + ".wal"
    }

    /// Sixteen hexadecimal digits: WAL and segment file names sort by sequence.
    func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
    }
}
