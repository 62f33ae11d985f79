#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One file of a backup: where it is, how long it is and its CRC-32C.
public struct BackupFile: Sendable, Hashable, Codable {
    /// The path relative to the backup's time-series directory (or, for the relational
    /// copy, to the backup's directory).
    public var path: String
    public var bytes: Int
    public var crc32c: UInt32

    public init(path: String, bytes: Int, crc32c: UInt32) {
        self.path = path
        self.bytes = bytes
        self.crc32c = crc32c
    }
}

/// What ``TimeSeriesBackup/backup(directory:into:)`` copied.
public struct TimeSeriesBackupReport: Sendable {
    /// Every file, sorted by path.
    public var files: [BackupFile] = []
    /// Segment files hard-linked (same file system) and copied.
    public var linkedSegments = 0
    public var copiedSegments = 0
    /// Rows in the log files copied (not yet in segments when the backup took its snapshot).
    public var logRows = 0
    /// Series the copied dictionary defines.
    public var dictionarySeries = 0
}

/// A consistent copy of a store while it runs, and putting one back into an empty directory.
///
/// The backup takes the store's publish lock (`publish.lock`, see ``StoreFileLock``)
/// exclusively, so no flush, compaction or retention adds or removes a file meanwhile, and
/// under it only: hard-links every segment into the target (or opens it, when the target is on
/// another file system), opens every log file and the series dictionary and notes their
/// lengths. Then, with the lock let go, it copies what it opened: each log file and the
/// dictionary up to the length noted, cut back to its last whole, checksummed record. The
/// writer never waits for it: appends go on into the log meanwhile.
///
/// Every row whose append returned before the backup took the lock is in the copy: in a
/// segment, or in a log record that was whole at that moment (an append returns only after
/// its record is written). Rows appended later may be there too. A row both in a segment and
/// in a log file cannot be, as the lock keeps a flush's steps together; were it, the store
/// keeps one row per series and timestamp anyway.
public enum TimeSeriesBackup {
    /// The format versions of the files a backup holds, for its manifest.
    public static let segmentFormatVersion = Int(Segment.formatVersion)
    /// The oldest segment format version this build reads as it is: a backup written by a
    /// build of a format from here to ``segmentFormatVersion`` restores.
    public static let oldestSegmentFormatVersion = Int(Segment.legacyFormatVersion + 1)
    public static let logRecordType = Int(WALFormat.recordType)

    /// Copies the store in `directory` into `target` (an empty directory, created if missing)
    /// with the store's layout; every file and directory written is synced. Blocks the calling
    /// thread (waiting for a flush or a merge that is publishing its files, and copying).
    /// - Throws: ``TimeSeriesError`` when `directory` holds no store or a file cannot be
    ///   read or written; ``TimeSeriesDamageError`` when a log file or the dictionary is damaged
    ///   (other than the torn tail of one being written).
    public static func backup(directory: String, into target: String) throws -> TimeSeriesBackupReport {
        guard FileIO.exists(directory + "/wal") || FileIO.exists(directory + "/segments") else {
            throw TimeSeriesError(message: "\(directory) holds no time-series store (no wal/ or segments/)")
        }
        try FileIO.makeDirectory(target + "/wal")
        try FileIO.makeDirectory(target + "/segments")
        var snapshot = Snapshot()
        defer { snapshot.close() }
        try StoreFileLock.withLock(directory: directory, exclusive: true) {
            try snapshot.take(directory: directory, target: target)
        }
        var report = TimeSeriesBackupReport()
        for (path, descriptor) in snapshot.openedSegments {
            report.files.append(try copy(descriptor, bytes: nil, source: directory + "/" + path, to: target, path))
            report.copiedSegments += 1
        }
        for path in snapshot.linkedSegments {
            let (bytes, crc) = try checksum(file: target + "/" + path)
            report.files.append(BackupFile(path: path, bytes: bytes, crc32c: crc))
            report.linkedSegments += 1
        }
        for (index, log) in snapshot.logs.enumerated() {
            let (file, batches) = try copyRecords(
                log,
                source: directory,
                target: target,
                maximumRecordLength: WALFormat.maximumRecordLength,
                mayEndTorn: index == snapshot.logs.count - 1
            )
            report.files.append(file)
            report.logRows += batches.reduce(0) { $0 + $1.rows.count }
        }
        if let dictionary = snapshot.dictionary {
            let (file, batches) = try copyRecords(
                dictionary,
                source: directory,
                target: target,
                maximumRecordLength: TimeSeriesStore.maximumDictionaryRecordLength,
                mayEndTorn: true
            )
            report.files.append(file)
            report.dictionarySeries = batches.reduce(0) { $0 + $1.newSeries.count }
        }
        for day in FileIO.listDirectory(target + "/segments") { try FileIO.syncDirectory(target + "/segments/" + day) }
        for path in ["/segments", "/wal", ""] { try FileIO.syncDirectory(target + path) }
        report.files.sort { $0.path < $1.path }
        return report
    }

    /// ``backup(directory:into:)`` on a thread of its own: the caller's task is suspended,
    /// no thread of the concurrency runtime blocks.
    public static func backup(directory: String, into target: String) async throws -> TimeSeriesBackupReport {
        try await withCheckedThrowingContinuation { continuation in
            StoreThread {
                continuation.resume(with: Result { try backup(directory: directory, into: target) })
            }.detach()
        }
    }

    /// Checks that every file is in `source` with its length and checksum.
    /// - Throws: ``TimeSeriesError`` naming the first file that is missing or differs.
    public static func verify(_ files: [BackupFile], in source: String) throws {
        for file in files {
            let path = source + "/" + file.path
            guard FileIO.exists(path) else { throw TimeSeriesError(message: "\(path) is missing from the backup") }
            let (bytes, crc) = try checksum(file: path)
            guard bytes == file.bytes, crc == file.crc32c else {
                throw TimeSeriesError(
                    message: "\(path) is not the file the backup wrote: \(bytes) bytes with CRC-32C \(crc), "
                        + "the manifest says \(file.bytes) bytes with CRC-32C \(file.crc32c)"
                )
            }
        }
    }

    /// Puts a backup's files (checked with ``verify(_:in:)`` first) into `directory`, which
    /// must be empty or missing: segments hard-linked when on the same file system (they are
    /// never changed in place), the log files and the dictionary copied (they are appended to);
    /// everything synced. Blocks the calling thread.
    /// - Throws: ``TimeSeriesError`` when `directory` is not empty or a file cannot be copied,
    ///   ``DataDirectoryInUse`` when a process holds the directory's lock.
    public static func restore(_ files: [BackupFile], from source: String, into directory: String) throws {
        func checkEmpty() throws {
            // A lock file a stopped server left is no data.
            let present = FileIO.listDirectory(directory).filter { $0 != DataDirectoryLock.fileName }
            guard present.isEmpty else {
                throw TimeSeriesError(
                    message: "\(directory) is not empty (it holds \(present.prefix(3).joined(separator: ", ")))"
                )
            }
        }
        try checkEmpty()
        try verify(files, in: source)
        try FileIO.makeDirectory(directory)
        let lock = try DataDirectoryLock(directory: directory)
        defer { lock.release() }
        try checkEmpty()
        try FileIO.makeDirectory(directory + "/wal")
        try FileIO.makeDirectory(directory + "/segments")
        for file in files {
            let from = source + "/" + file.path
            let to = directory + "/" + file.path
            try FileIO.makeDirectory(FileIO.parent(of: to))
            if file.path.hasPrefix("segments/"), link(from, to) == 0 { continue }
            let descriptor = try FileIO.openForReading(from)
            defer { Glibc.close(descriptor) }
            _ = try copy(descriptor, bytes: file.bytes, source: from, to: directory, file.path)
        }
        for day in FileIO.listDirectory(directory + "/segments") {
            try FileIO.syncDirectory(directory + "/segments/" + day)
        }
        for path in ["/segments", "/wal", ""] { try FileIO.syncDirectory(directory + path) }
    }

    /// A file's length and CRC-32C, read in chunks.
    public static func checksum(file path: String) throws -> (bytes: Int, crc32c: UInt32) {
        let descriptor = try FileIO.openForReading(path)
        defer { Glibc.close(descriptor) }
        let size = try FileIO.size(descriptor, path: path)
        var crc: UInt32 = 0
        var offset = 0
        while offset < size {
            let chunk = try FileIO.read(descriptor, offset: offset, count: min(chunkSize, size - offset), path: path)
            guard !chunk.isEmpty else { break }
            crc = chunk.withUnsafeBytes { CRC32C.checksum($0, seed: crc) }
            offset += chunk.count
        }
        return (offset, crc)
    }

    static let chunkSize = 1 << 20

    /// Copies the open file (its first `bytes`, or all of it) to `target/path`, synced.
    private static func copy(
        _ descriptor: Int32,
        bytes: Int?,
        source: String,
        to target: String,
        _ path: String
    ) throws -> BackupFile {
        let size = try bytes ?? FileIO.size(descriptor, path: source)
        let destination = target + "/" + path
        let output = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw TimeSeriesError.system("create", destination) }
        defer { Glibc.close(output) }
        var crc: UInt32 = 0
        var offset = 0
        while offset < size {
            let chunk = try FileIO.read(descriptor, offset: offset, count: min(chunkSize, size - offset), path: source)
            guard !chunk.isEmpty else {
                throw TimeSeriesError(message: "\(source) ended at byte \(offset) of \(size) while it was copied")
            }
            try chunk.withUnsafeBytes { buffer throws in
                try FileIO.writeAll(output, buffer, path: destination)
                crc = CRC32C.checksum(buffer, seed: crc)
            }
            offset += chunk.count
        }
        guard fsync(output) == 0 else { throw TimeSeriesError.system("fsync", destination) }
        return BackupFile(path: path, bytes: size, crc32c: crc)
    }

    /// Copies an opened log file or dictionary up to its noted length, cut back to its last
    /// whole record. Only the newest log file (being written) and the dictionary (a crash's
    /// torn tail, which opening cuts too) may end in a torn record; other damage fails.
    private static func copyRecords(
        _ file: Snapshot.Opened,
        source: String,
        target: String,
        maximumRecordLength: Int,
        mayEndTorn: Bool
    ) throws -> (BackupFile, [WALBatch]) {
        let path = source + "/" + file.path
        let bytes = try FileIO.read(file.descriptor, offset: 0, count: file.length, path: path)
        let scan = bytes.withUnsafeBytes { WALScan($0, maximumRecordLength: maximumRecordLength) }
        if let damage = scan.damage, !(damage.isTornTail && mayEndTorn) {
            throw TimeSeriesDamageError(path: path, offset: damage.offset, reason: damage.reason)
        }
        let destination = target + "/" + file.path
        let kept = Array(bytes[..<scan.validLength])
        let output = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw TimeSeriesError.system("create", destination) }
        defer { Glibc.close(output) }
        try kept.withUnsafeBytes { try FileIO.writeAll(output, $0, path: destination) }
        guard fsync(output) == 0 else { throw TimeSeriesError.system("fsync", destination) }
        let crc = kept.withUnsafeBytes { CRC32C.checksum($0) }
        return (BackupFile(path: file.path, bytes: kept.count, crc32c: crc), scan.batches)
    }

    /// What the backup took under the lock: links made, and files opened with their lengths.
    private struct Snapshot {
        struct Opened {
            var path: String
            var descriptor: Int32
            var length: Int
        }

        var linkedSegments: [String] = []
        var openedSegments: [(path: String, descriptor: Int32)] = []
        var logs: [Opened] = []
        var dictionary: Opened?

        mutating func take(directory: String, target: String) throws {
            for day in FileIO.listDirectory(directory + "/segments") {
                for name in FileIO.listDirectory(directory + "/segments/" + day) {
                    guard Segment.sequence(fileName: name) != nil else { continue }
                    let path = "segments/" + day + "/" + name
                    try FileIO.makeDirectory(target + "/segments/" + day)
                    if link(directory + "/" + path, target + "/" + path) == 0 {
                        linkedSegments.append(path)
                        continue
                    }
                    // Another file system: the open descriptor keeps the file as it is now,
                    // even once compaction or retention removes it.
                    guard errno == EXDEV || errno == EPERM else {
                        throw TimeSeriesError.system("link", directory + "/" + path)
                    }
                    openedSegments.append((path, try FileIO.openForReading(directory + "/" + path)))
                }
            }
            let names = FileIO.listDirectory(directory + "/wal").filter {
                $0.hasSuffix(".wal") && UInt64($0.dropLast(4), radix: 16) != nil
            }
            for name in names { logs.append(try open("wal/" + name, in: directory)) }
            // Last: it holds every series the segments linked above refer to.
            if FileIO.exists(directory + "/series.dict") { dictionary = try open("series.dict", in: directory) }
        }

        private func open(_ path: String, in directory: String) throws -> Opened {
            let descriptor = try FileIO.openForReading(directory + "/" + path)
            do {
                return Opened(path: path, descriptor: descriptor, length: try FileIO.size(descriptor, path: path))
            } catch {
                Glibc.close(descriptor)
                throw error
            }
        }

        mutating func close() {
            for (_, descriptor) in openedSegments { Glibc.close(descriptor) }
            for log in logs { Glibc.close(log.descriptor) }
            if let dictionary { Glibc.close(dictionary.descriptor) }
            openedSegments = []
            logs = []
            dictionary = nil
        }
    }
}
