import CivilCalendar

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Opening a directory of store format version 1, whose series keys held the transaction
/// (series dictionary and log records of ``WALFormat/legacyRecordType``, segments of
/// ``Segment/legacyFormatVersion``): it is converted on open, before anything else reads it.
///
/// Every legacy series becomes its key without the transaction (ids given in the order of
/// the legacy ids, so the same files always give the same ids) and the transaction becomes
/// an attribute of each of its rows. The steps, each durable before the next:
/// 1. leftovers of an interrupted conversion go: segments of the current version (in a
///    directory whose dictionary is still legacy, only a conversion writes them) and
///    temporary files;
/// 2. each legacy segment is rewritten as a current one under a new, higher sequence number
///    (in the same order, so duplicate rows still resolve as before), the legacy file kept;
/// 3. the rows of the legacy log files are written as current segments, newer than all those;
/// 4. the commit: the new dictionary replaces `series.dict` (a temporary file renamed over it);
/// 5. the legacy segments and log files are removed.
///
/// A kill before step 4 leaves the legacy dictionary and every legacy file: the next open
/// starts over at step 1. A kill after it leaves a current dictionary and complete current
/// segments holding every row; the next open finds the directory current and removes what
/// step 5 had not yet removed (``removeLeftovers(directory:)``).
enum LegacyConversion {
    /// How a directory's files are laid out.
    enum Layout: Equatable {
        /// Nothing of format version 1 (or nothing at all).
        case current
        /// Format version 1 (possibly with a conversion's interrupted output).
        case legacy
    }

    /// What a conversion did.
    struct Report: Sendable, Hashable {
        /// Series in the legacy dictionary and log (one per key and transaction).
        var legacySeries = 0
        /// Series after the conversion (one per key).
        var series = 0
        var convertedSegments = 0
        /// Rows of the legacy log files, now in segments.
        var logRows = 0
    }

    /// Where a test stops a conversion, as a kill there would.
    enum Step: Sendable, Equatable {
        case afterLeftoversRemoved
        case afterSegment(Int)
        case afterLogRows
        case afterCommit
    }

    struct Interrupted: Error {}

    static func dictionaryPath(_ directory: String) -> String { directory + "/series.dict" }

    /// The layout of `directory`, decided by the dictionary's first record when it has one,
    /// otherwise by the segments' versions and the log files' first records.
    /// - Throws: ``TimeSeriesError`` when a file is of a newer format than this build reads.
    static func layout(of directory: String) throws -> Layout {
        let dictionary = dictionaryPath(directory)
        if let type = try firstRecordType(dictionary) {
            return type == WALFormat.legacyRecordType ? .legacy : .current
        }
        var legacy = false
        for (path, _) in segmentFiles(directory) {
            if try segmentVersion(path) == Segment.legacyFormatVersion { legacy = true }
        }
        for path in logFiles(directory) {
            if try firstRecordType(path) == WALFormat.legacyRecordType { legacy = true }
        }
        return legacy ? .legacy : .current
    }

    /// In a current directory: removes what a conversion interrupted after its commit left
    /// (legacy segments and log files, whose rows are all in current segments) and its
    /// dictionary's temporary file.
    static func removeLeftovers(directory: String) throws {
        try FileIO.remove(dictionaryPath(directory) + ".tmp")
        guard try firstRecordType(dictionaryPath(directory)) == WALFormat.recordType else { return }
        var removed = false
        for (path, _) in segmentFiles(directory) {
            guard try segmentVersion(path) == Segment.legacyFormatVersion else { continue }
            try FileIO.remove(path)
            removed = true
        }
        for path in logFiles(directory) {
            guard try firstRecordType(path) == WALFormat.legacyRecordType else { continue }
            try FileIO.remove(path)
            removed = true
        }
        if removed { try syncDirectories(directory) }
    }

    /// Converts a legacy directory (see the type's description).
    /// - Parameters:
    ///   - window: The days the log's rows may be filed under (as the flusher files them).
    ///   - interrupt: Stops the conversion at a step, as a kill would (for tests).
    /// - Throws: ``TimeSeriesDamageError`` when a legacy file holds damage other than a torn
    ///   tail (nothing is changed then), ``TimeSeriesError`` when a file cannot be used.
    @discardableResult
    static func convert(
        directory: String,
        blockRows: Int,
        window: ClosedRange<Int64>?,
        interrupt: Step? = nil
    ) throws -> Report {
        var report = Report()
        // 1. An interrupted conversion's output.
        try FileIO.remove(dictionaryPath(directory) + ".tmp")
        var legacySegments: [(path: String, sequence: UInt64)] = []
        var nextSequence: UInt64 = 1
        for (path, sequence) in segmentFiles(directory) {
            if try segmentVersion(path) != Segment.legacyFormatVersion {
                try FileIO.remove(path)
            } else {
                legacySegments.append((path, sequence))
                nextSequence = max(nextSequence, sequence + 1)
            }
        }
        for day in FileIO.listDirectory(directory + "/segments") {
            for name in FileIO.listDirectory(directory + "/segments/" + day) where name.hasSuffix(".tmp") {
                try FileIO.remove(directory + "/segments/" + day + "/" + name)
            }
        }
        try syncDirectories(directory)
        if interrupt == .afterLeftoversRemoved { throw Interrupted() }

        // The legacy series, from the dictionary and then the log, and the log's rows.
        var legacyKeys: [(key: SeriesKey, transactionID: Int?)] = []
        let dictionary = dictionaryPath(directory)
        if FileIO.exists(dictionary) {
            let bytes = try FileIO.readAll(dictionary)
            let scan = bytes.withUnsafeBytes {
                WALScan($0, maximumRecordLength: TimeSeriesStore.maximumDictionaryRecordLength)
            }
            if let damage = scan.damage, !damage.isTornTail {
                throw TimeSeriesDamageError(
                    path: dictionary,
                    offset: damage.offset,
                    reason: "\(damage.reason) (a format version 1 dictionary, which cannot be converted while damaged)"
                )
            }
            for batch in scan.batches { try define(batch, into: &legacyKeys, path: dictionary, offset: 0) }
        }
        let logs = logFiles(directory)
        var logChunks: [[StoredRow]] = []
        for path in logs {
            let bytes = try FileIO.readAll(path)
            let scan = bytes.withUnsafeBytes { WALScan($0, maximumRecordLength: WALFormat.maximumRecordLength) }
            if let damage = scan.damage, path != logs.last || !damage.isTornTail {
                throw TimeSeriesDamageError(
                    path: path,
                    offset: damage.offset,
                    reason: "\(damage.reason) (a format version 1 log file, which cannot be converted while damaged)"
                )
            }
            for (batch, offset) in zip(scan.batches, scan.offsets) {
                try define(batch, into: &legacyKeys, path: path, offset: offset)
                logChunks.append(batch.rows)
            }
        }
        report.legacySeries = legacyKeys.count

        // Ids of the keys without their transaction, in the order of the legacy ids.
        var newKeys: [SeriesKey] = []
        var newIDs: [SeriesKey: UInt32] = [:]
        var mapping: [(id: UInt32, transactionID: Int?)] = []
        mapping.reserveCapacity(legacyKeys.count)
        for (key, transactionID) in legacyKeys {
            if let id = newIDs[key] {
                mapping.append((id, transactionID))
            } else {
                let id = UInt32(newKeys.count)
                newKeys.append(key)
                newIDs[key] = id
                mapping.append((id, transactionID))
            }
        }
        report.series = newKeys.count

        func converted(_ rows: [StoredRow], path: String) throws -> [StoredRow] {
            try rows.map { row throws -> StoredRow in
                guard Int(row.seriesID) < mapping.count else {
                    throw TimeSeriesDamageError(
                        path: path,
                        offset: 0,
                        reason: "a row names series id \(row.seriesID), but the format version 1 dictionary and log "
                            + "define only \(mapping.count) series"
                    )
                }
                let (id, transactionID) = mapping[Int(row.seriesID)]
                return StoredRow(seriesID: id, timestamp: row.timestamp, value: row.value, transactionID: transactionID)
            }
        }

        // 2. Each legacy segment as a current one, oldest first, under new sequence numbers.
        let files = SegmentFiles(capacity: 1)
        for (index, (path, sequence)) in legacySegments.sorted(by: { $0.sequence < $1.sequence }).enumerated() {
            let rows: [StoredRow]
            do {
                rows = try Segment(path: path, sequence: sequence, files: files, legacy: true).allRows()
            } catch let error as Segment.Corrupt {
                throw TimeSeriesDamageError(
                    path: path,
                    offset: 0,
                    reason: "\(error.reason) (a format version 1 segment, which cannot be converted while damaged)"
                )
            }
            let dayName = String(FileIO.parent(of: path).split(separator: "/").last ?? "")
            let filedUnder = CalendarDay(name: dayName)?.day
            try write(
                [try converted(rows, path: path)],
                window: filedUnder.map { $0...$0 },
                directory: directory,
                blockRows: blockRows,
                nextSequence: &nextSequence
            )
            report.convertedSegments += 1
            if interrupt == .afterSegment(index) { throw Interrupted() }
        }

        // 3. The log's rows, newer than every segment.
        let logRows = try logChunks.map { try converted($0, path: directory + "/wal") }
        report.logRows = logRows.reduce(0) { $0 + $1.count }
        if report.logRows > 0 {
            try write(logRows, window: window, directory: directory, blockRows: blockRows, nextSequence: &nextSequence)
        }
        try syncDirectories(directory)
        if interrupt == .afterLogRows { throw Interrupted() }

        // 4. The commit.
        let newSeries = newKeys.enumerated().map { (UInt32($0.offset), $0.element) }
        try FileIO.writeAtomically(WALFormat.frame(WALBatch(newSeries: newSeries, rows: [])), to: dictionary)
        if interrupt == .afterCommit { throw Interrupted() }

        // 5. What the current files now hold.
        for (path, _) in legacySegments { try FileIO.remove(path) }
        for path in logs { try FileIO.remove(path) }
        try syncDirectories(directory)
        return report
    }

    /// Adds a legacy record's series definitions (ids given out in order).
    private static func define(
        _ batch: WALBatch,
        into keys: inout [(key: SeriesKey, transactionID: Int?)],
        path: String,
        offset: Int
    ) throws {
        guard let transactions = batch.legacyTransactions else {
            throw TimeSeriesError(
                message: "\(path) mixes record layouts at byte \(offset): a format version 1 file holds only "
                    + "records of type \(WALFormat.legacyRecordType)"
            )
        }
        for ((id, key), transactionID) in zip(batch.newSeries, transactions) {
            guard Int(id) <= keys.count else {
                throw TimeSeriesDamageError(
                    path: path,
                    offset: offset,
                    reason: "the record defines series id \(id), but the files before it define only "
                        + "\(keys.count) series"
                )
            }
            if Int(id) == keys.count { keys.append((key, transactionID)) }
        }
    }

    /// Writes rows (chunks oldest first) as current segments, one per day they are filed under.
    private static func write(
        _ chunks: [[StoredRow]],
        window: ClosedRange<Int64>?,
        directory: String,
        blockRows: Int,
        nextSequence: inout UInt64
    ) throws {
        for (day, dayRows) in TimeSeriesStore.partitioned(chunks, window: window).partitions {
            var rows = dayRows
            let dayPath = directory + "/segments/" + CalendarDay(day: day).name
            let bytes = Segment.build(estimatedRows: rows.estimatedCount, blockRows: blockRows) { block, limit in
                rows.nextBlock(&block, limit: limit)
            }
            try FileIO.makeDirectory(dayPath)
            try FileIO.writeAtomically(bytes, to: dayPath + "/" + Segment.fileName(sequence: nextSequence))
            nextSequence += 1
        }
    }

    /// The segment files of `directory` and their sequence numbers.
    static func segmentFiles(_ directory: String) -> [(path: String, sequence: UInt64)] {
        var found: [(String, UInt64)] = []
        for day in FileIO.listDirectory(directory + "/segments") {
            for name in FileIO.listDirectory(directory + "/segments/" + day) {
                guard let sequence = Segment.sequence(fileName: name) else { continue }
                found.append((directory + "/segments/" + day + "/" + name, sequence))
            }
        }
        return found
    }

    /// The log files of `directory`, oldest first.
    static func logFiles(_ directory: String) -> [String] {
        FileIO.listDirectory(directory + "/wal").filter { $0.hasSuffix(".wal") }
            .compactMap { name in UInt64(name.dropLast(4), radix: 16).map { ($0, name) } }
            .sorted { $0.0 < $1.0 }
            .map { directory + "/wal/" + $0.1 }
    }

    /// A segment file's format version; `nil` when it is too short to have one.
    /// - Throws: ``TimeSeriesError`` for a version newer than this build reads.
    static func segmentVersion(_ path: String) throws -> UInt32? {
        let descriptor = try FileIO.openForReading(path)
        defer { Glibc.close(descriptor) }
        let header = try FileIO.read(descriptor, offset: 0, count: 8, path: path)
        guard header.count == 8, Array(header[0..<4]) == Segment.headerMagic else { return nil }
        let version = header[4..<8].withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        guard version <= Segment.formatVersion else {
            throw TimeSeriesError(
                message: "segment \(path) has format version \(version), written by a newer version of the server: "
                    + "this build reads versions up to \(Segment.formatVersion)"
            )
        }
        return version
    }

    /// The type byte of a record file's first record; `nil` when the file has none (absent,
    /// empty, or torn in its first record's header).
    /// - Throws: ``TimeSeriesError`` for a type newer than this build reads.
    static func firstRecordType(_ path: String) throws -> UInt8? {
        guard FileIO.fileSize(path) > 8 else { return nil }
        let descriptor = try FileIO.openForReading(path)
        defer { Glibc.close(descriptor) }
        let header = try FileIO.read(descriptor, offset: 0, count: 9, path: path)
        guard header.count == 9, header[0..<8].contains(where: { $0 != 0 }) else { return nil }
        let type = header[8]
        guard type <= WALFormat.recordType else {
            throw TimeSeriesError(
                message: "\(path) holds records of type \(type), written by a newer version of the server: this "
                    + "build reads types up to \(WALFormat.recordType)"
            )
        }
        return type
    }

    private static func syncDirectories(_ directory: String) throws {
        for day in FileIO.listDirectory(directory + "/segments") {
            try FileIO.syncDirectory(directory + "/segments/" + day)
        }
        try FileIO.syncDirectory(directory + "/segments")
        try FileIO.syncDirectory(directory + "/wal")
        try FileIO.syncDirectory(directory)
    }
}
