#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What ``TimeSeriesRepair/repair(directory:)`` found unreadable and moved aside.
public struct TimeSeriesRepairReport: Sendable, CustomStringConvertible {
    /// One file that lost something.
    public struct Loss: Sendable {
        /// The file in the store.
        public var path: String
        /// Where its unreadable bytes are (empty when the whole file is set aside).
        public var ranges: [Range<Int>]
        /// What could not be kept, as far as it is known.
        public var detail: String
        /// Where the file as it was is kept.
        public var quarantined: String
    }

    /// The folder the damaged files were moved to; `nil` when nothing was damaged.
    public var quarantine: String?
    public var losses: [Loss] = []
    /// Records of the log kept.
    public var keptLogRecords = 0
    /// Rows of the log kept.
    public var keptLogRows = 0

    public var description: String {
        guard let quarantine else {
            return "Nothing to repair: every file of the time-series store reads back "
                + "(\(keptLogRows) rows in the log)."
        }
        var lines = ["Moved what cannot be read to \(quarantine); kept \(keptLogRows) rows of the log."]
        for loss in losses {
            let ranges = loss.ranges.map { "bytes \($0.lowerBound)..<\($0.upperBound)" }.joined(separator: ", ")
            lines.append("- \(loss.path)\(ranges.isEmpty ? "" : " (" + ranges + ")"): \(loss.detail)")
            lines.append("  kept as it was in \(loss.quarantined)")
        }
        return lines.joined(separator: "\n")
    }
}

/// Repairs a store directory that opening refused (``TimeSeriesDamageError``), offline.
///
/// What cannot be read goes to `quarantine/<UTC time>/` in the directory (never deleted):
/// the damaged files as they were, hard-linked or moved there. Every readable record stays:
/// the series dictionary keeps its intact records, each log file is rewritten with the
/// records that read back (found again past damaged bytes), renumbering series whose
/// definitions were lost with the damage, and a segment file that does not open (or whose
/// series are no longer defined) is moved aside whole. The store must not be open anywhere
/// while this runs: a process holding the directory's ``DataDirectoryLock`` (a running
/// server) makes it fail with ``DataDirectoryInUse``. A directory of format version 1 is
/// refused: opening converts it (``LegacyConversion``), and the version that wrote it repairs it.
public enum TimeSeriesRepair {
    /// - Throws: ``TimeSeriesError`` when a file cannot be read or written, ``DataDirectoryInUse``
    ///   when a server uses the directory.
    public static func repair(directory: String) throws -> TimeSeriesRepairReport {
        guard FileIO.exists(directory) else {
            throw TimeSeriesError(message: "\(directory) does not exist")
        }
        // Refused while a server (or another repair or restore) uses the directory.
        let lock = try DataDirectoryLock(directory: directory)
        defer { lock.release() }
        guard try LegacyConversion.layout(of: directory) == .current else {
            throw TimeSeriesError(
                message: "\(directory) is of store format version 1 (series keys with their transaction): repair it "
                    + "with the version of the server that wrote it, then open it with this one to convert it"
            )
        }
        var repair = Repairer(directory: directory)
        try repair.dictionary()
        let segments = try repair.openSegments()
        try repair.log()
        try repair.segmentSeries(segments)
        return repair.report
    }
}

private struct Repairer {
    let directory: String
    let files = SegmentFiles(capacity: 16)
    var report = TimeSeriesRepairReport()
    var keys: [SeriesKey] = []
    var ids: [SeriesKey: UInt32] = [:]
    /// Series defined by the dictionary's intact records.
    var dictionaryCount = 0
    /// Log ids to the ids they keep.
    var renumbered: [UInt32: UInt32] = [:]
    /// The series count when a log series first had to take another id than its own:
    /// segments referring to ids from here on refer to lost series.
    var firstRenumbered: Int?

    init(directory: String) { self.directory = directory }

    /// Creates the quarantine folder on first use.
    mutating func quarantine(_ relativePath: String) throws -> String {
        if report.quarantine == nil {
            var now = time(nil)
            var parts = tm()
            gmtime_r(&now, &parts)
            func digits(_ value: Int32, _ count: Int) -> String {
                let text = String(value)
                return String(repeating: "0", count: max(0, count - text.count)) + text
            }
            let date = digits(parts.tm_year + 1900, 4) + digits(parts.tm_mon + 1, 2) + digits(parts.tm_mday, 2)
            let clock = digits(parts.tm_hour, 2) + digits(parts.tm_min, 2) + digits(parts.tm_sec, 2)
            report.quarantine = directory + "/quarantine/" + date + "T" + clock + "Z"
        }
        let target = report.quarantine! + "/" + relativePath
        try FileIO.makeDirectory(FileIO.parent(of: target))
        return target
    }

    /// Keeps the file as it is in quarantine (a hard link), before it is replaced.
    mutating func keep(_ relativePath: String) throws -> String {
        let target = try quarantine(relativePath)
        guard link(directory + "/" + relativePath, target) == 0 else {
            throw TimeSeriesError.system("link", directory + "/" + relativePath)
        }
        try FileIO.syncDirectory(FileIO.parent(of: target))
        return target
    }

    mutating func define(_ key: SeriesKey) -> UInt32 {
        let id = UInt32(keys.count)
        keys.append(key)
        ids[key] = id
        return id
    }

    mutating func dictionary() throws {
        let path = directory + "/series.dict"
        guard FileIO.exists(path) else { return }
        let bytes = try FileIO.readAll(path)
        let scan = bytes.withUnsafeBytes {
            WALScan($0, maximumRecordLength: TimeSeriesStore.maximumDictionaryRecordLength)
        }
        for batch in scan.batches {
            for (id, key) in batch.newSeries where Int(id) == keys.count { _ = define(key) }
        }
        dictionaryCount = keys.count
        guard let damage = scan.damage else { return }
        let kept = try keep("series.dict")
        try FileIO.writeAtomically(Array(bytes[..<damage.offset]), to: path)
        report.losses.append(
            .init(
                path: path,
                ranges: [damage.offset..<bytes.count],
                detail: "\(damage.reason); kept the first \(keys.count) series, the definitions after them "
                    + "cannot be read (the log may define them again)",
                quarantined: kept
            )
        )
    }

    mutating func openSegments() throws -> [Segment] {
        var segments: [Segment] = []
        for day in FileIO.listDirectory(directory + "/segments") {
            for name in FileIO.listDirectory(directory + "/segments/" + day) {
                let relative = "segments/" + day + "/" + name
                guard let sequence = Segment.sequence(fileName: name) else { continue }
                let segment: Segment
                do {
                    segment = try Segment(path: directory + "/" + relative, sequence: sequence, files: files)
                } catch let error as Segment.Corrupt {
                    try setAside(relative, detail: "\(error.reason); its rows cannot be read")
                    continue
                }
                if let rewritten = try keepReadableBlocks(of: segment, relative: relative) {
                    segments.append(rewritten)
                }
            }
        }
        return segments
    }

    /// Checks every block of the segment; when some do not read back, rewrites the segment
    /// with the others (under the same name, so it keeps its rank among duplicates).
    /// - Returns: The segment as it is now; `nil` when no block read back.
    mutating func keepReadableBlocks(of segment: Segment, relative: String) throws -> Segment? {
        var readable: [[StoredRow]] = []
        var damaged: [(index: Int, reason: String)] = []
        for (index, info) in segment.blocks.enumerated() {
            do {
                let columns = try segment.readBlock(index, selection: .all)
                var rows: [StoredRow] = []
                rows.reserveCapacity(info.rowCount)
                for row in 0..<columns.timestamps.count {
                    rows.append(
                        StoredRow(
                            seriesID: columns.seriesIDs[row],
                            timestamp: columns.timestamps[row],
                            value: try Segment.value(columns, row),
                            transactionID: columns.transaction(row)
                        )
                    )
                }
                readable.append(rows)
            } catch let error as Segment.Corrupt {
                damaged.append((index, error.reason))
            }
        }
        guard !damaged.isEmpty else { return segment }
        let lostRows = damaged.reduce(0) { $0 + segment.blocks[$1.index].rowCount }
        let detail =
            "\(damaged.map(\.reason).joined(separator: ", ")); \(lostRows) of its \(segment.rowCount) rows "
            + "cannot be read"
        guard !readable.isEmpty else {
            try setAside(relative, detail: detail)
            return nil
        }
        let kept = try keep(relative)
        var remaining = readable[...]
        let bytes = Segment.build(
            estimatedRows: segment.rowCount,
            blockRows: readable.map(\.count).max() ?? 1
        ) { block, _ in
            guard let next = remaining.popFirst() else { return false }
            block.removeAll(keepingCapacity: true)
            block.append(contentsOf: next)
            return true
        }
        try FileIO.writeAtomically(bytes, to: segment.path)
        report.losses.append(
            .init(
                path: segment.path,
                ranges: damaged.map {
                    segment.blocks[$0.index].offset..<segment.blocks[$0.index].offset + segment.blocks[$0.index].length
                },
                detail: detail + "; kept the other \(segment.rowCount - lostRows)",
                quarantined: kept
            )
        )
        return try Segment(path: segment.path, sequence: segment.sequence, files: files)
    }

    mutating func setAside(_ relative: String, detail: String) throws {
        let target = try quarantine(relative)
        guard rename(directory + "/" + relative, target) == 0 else {
            throw TimeSeriesError.system("rename", directory + "/" + relative)
        }
        try FileIO.syncDirectory(FileIO.parent(of: directory + "/" + relative))
        report.losses.append(.init(path: directory + "/" + relative, ranges: [], detail: detail, quarantined: target))
    }

    /// Rewrites each log file with what reads back, its series renumbered where definitions were lost.
    mutating func log() throws {
        let names = FileIO.listDirectory(directory + "/wal").filter { $0.hasSuffix(".wal") }
        for name in names where UInt64(name.dropLast(4), radix: 16) != nil {
            let path = directory + "/wal/" + name
            let bytes = try FileIO.readAll(path)
            let salvage = bytes.withUnsafeBytes {
                WALSalvage($0, maximumRecordLength: WALFormat.maximumRecordLength)
            }
            var changed = !salvage.unreadable.isEmpty
            var lostRows = 0
            var batches: [WALBatch] = []
            for record in salvage.records {
                let (batch, lost, renumberedAny) = translate(record.batch)
                changed = changed || lost > 0 || renumberedAny
                lostRows += lost
                if batch.isPlausible { batches.append(batch) }
            }
            report.keptLogRecords += batches.count
            report.keptLogRows += batches.reduce(0) { $0 + $1.rows.count }
            guard changed else { continue }
            var framed: [UInt8] = []
            for batch in batches {
                guard let records = WALFormat.frames(batch) else {
                    throw TimeSeriesError(message: "a record of \(path) cannot be written again")
                }
                for record in records { framed.append(contentsOf: record) }
            }
            let kept = try keep("wal/" + name)
            try FileIO.writeAtomically(framed, to: path)
            var detail: [String] = []
            if !salvage.unreadable.isEmpty {
                detail.append(
                    "\(salvage.unreadable.reduce(0) { $0 + $1.count }) unreadable bytes "
                        + "(how many records they held cannot be known)"
                )
            }
            if lostRows > 0 { detail.append("\(lostRows) rows of series whose definitions were lost") }
            detail.append("kept \(batches.count) records")
            report.losses.append(
                .init(path: path, ranges: salvage.unreadable, detail: detail.joined(separator: "; "), quarantined: kept)
            )
        }
    }

    /// The batch with the ids the series keep; the rows whose series are not defined, left out.
    mutating func translate(_ batch: WALBatch) -> (WALBatch, lost: Int, renumbered: Bool) {
        var result = WALBatch(newSeries: [], rows: [])
        var changed = false
        for (id, key) in batch.newSeries {
            if let known = ids[key] {
                renumbered[id] = known
                changed = changed || known != id
                continue
            }
            if Int(id) != keys.count {
                firstRenumbered = firstRenumbered ?? keys.count
                changed = true
            }
            let newID = define(key)
            renumbered[id] = newID
            result.newSeries.append((newID, key))
        }
        var lost = 0
        result.rows.reserveCapacity(batch.rows.count)
        for var row in batch.rows {
            if let id = renumbered[row.seriesID] {
                changed = changed || id != row.seriesID
                row.seriesID = id
            } else if Int(row.seriesID) >= dictionaryCount {
                lost += 1
                continue
            }
            result.rows.append(row)
        }
        return (result, lost, changed || lost > 0)
    }

    /// Sets aside segments that refer to series no longer defined (or defined again under
    /// other ids after a loss).
    mutating func segmentSeries(_ segments: [Segment]) throws {
        let limit = firstRenumbered ?? keys.count
        for segment in segments {
            guard let highest = segment.blocks.compactMap(\.seriesIDs.last).max(), Int(highest) >= limit else {
                continue
            }
            let relative = String(segment.path.dropFirst(directory.count + 1))
            try setAside(
                relative,
                detail: "its \(segment.rowCount) rows refer to series whose definitions were lost (ids from \(limit))"
            )
        }
    }
}
