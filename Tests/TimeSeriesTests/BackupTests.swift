import Foundation
import Synchronization
import Testing

@testable import TimeSeries

/// Online backup: a copy taken while a writer appends and flushes and compaction run,
/// restored into an empty directory, holds every row acknowledged before it started, once.
@Suite("Online backup")
struct BackupTests {
    /// 2024-05-01T00:00:00Z.
    static let base: Int64 = 1_714_521_600_000

    /// Append `index`: 20 rows over four series, a minute apart, numbered by their value.
    static func batch(_ index: Int) -> [EventRow] {
        (0..<20).map { offset in
            let number = index * 20 + offset
            return EventRow(
                series: sample(connector: offset % 4 + 1),
                timestamp: base + Int64(number) * 60_000,
                value: .number(Double(number))
            )
        }
    }

    /// What the test's writer has had acknowledged, and when the writer and compaction stop.
    final class Progress: Sendable {
        let acknowledged = Atomic(0)
        let stop = Atomic(false)
    }

    static let options = TimeSeriesOptions(memtableRows: 1_000, blockRows: 128, compactionThreshold: 2)

    /// How often each numbered row is in the store in `directory`; rows no append made fail the test.
    static func counts(in directory: String) throws -> [Int: Int] {
        let store = try TimeSeriesStore(directory: directory, options: options)
        defer { store.close() }
        var counts: [Int: Int] = [:]
        for row in try allRows(store) {
            let number = Int(row.value.number ?? -1)
            #expect(number >= 0 && batch(number / 20)[number % 20] == row, "a row no append made: \(row)")
            counts[number, default: 0] += 1
        }
        return counts
    }

    @Test(
        "Backups taken while a writer appends, the flusher writes and compaction merges restore every acknowledged row once"
    )
    func backupUnderLoad() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path + "/data", options: Self.options)
        let progress = Progress()
        var backups: [(path: String, acknowledged: Int, report: TimeSeriesBackupReport)] = []
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                var index = 0
                while !progress.stop.load(ordering: .relaxed) {
                    try await store.append(Self.batch(index))
                    index += 1
                    progress.acknowledged.store(index, ordering: .relaxed)
                }
            }
            tasks.addTask {
                while !progress.stop.load(ordering: .relaxed) {
                    try store.compact()
                    try await Task.sleep(for: .milliseconds(3))
                }
            }
            for round in 0..<3 {
                // Segments first, so that each backup holds segments and log files.
                while progress.acknowledged.load(ordering: .relaxed) < (round + 1) * 150
                    || store.statistics.segments == 0
                {
                    try await Task.sleep(for: .milliseconds(5))
                }
                let before = progress.acknowledged.load(ordering: .relaxed)
                let path = directory.path + "/backup-\(round)"
                let report = try await TimeSeriesBackup.backup(directory: store.directory, into: path)
                backups.append((path, before, report))
            }
            progress.stop.store(true, ordering: .relaxed)
            try await tasks.waitForAll()
        }
        store.close()
        let appended = progress.acknowledged.load(ordering: .relaxed)
        for (round, backup) in backups.enumerated() {
            #expect(backup.report.linkedSegments > 0)
            #expect(backup.report.copiedSegments == 0)
            #expect(backup.report.dictionarySeries == 4)
            try TimeSeriesBackup.verify(backup.report.files, in: backup.path)
            let restored = directory.path + "/restored-\(round)"
            try TimeSeriesBackup.restore(backup.report.files, from: backup.path, into: restored)
            let counts = try Self.counts(in: restored)
            let missing = (0..<backup.acknowledged * 20).filter { counts[$0] == nil }
            #expect(
                missing.isEmpty,
                "round \(round): acknowledged before the backup but not in it: \(missing.prefix(10))"
            )
            #expect(counts.values.allSatisfy { $0 == 1 }, "round \(round): rows restored more than once")
            #expect(counts.keys.allSatisfy { $0 < appended * 20 })
        }
        // The store itself still reads back whole after the backups.
        let counts = try Self.counts(in: directory.path + "/data")
        #expect(counts.count == appended * 20 && counts.values.allSatisfy { $0 == 1 })
    }

    @Test("While a backup holds the publish lock, appends go on and the flusher waits for it")
    func publishLock() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path, options: Self.options)
        defer { store.close() }
        try store.appendBlocking(Self.batch(0))
        let flushed = Progress()
        try StoreFileLock.withLock(directory: store.directory, exclusive: true) {
            Thread.detachNewThread {
                #expect(throws: Never.self) { try store.flush() }
                flushed.stop.store(true, ordering: .relaxed)
            }
            // Ingest does not wait for the lock.
            for index in 1..<40 { try store.appendBlocking(Self.batch(index)) }
            Thread.sleep(forTimeInterval: 0.3)
            let flushedMeanwhile = flushed.stop.load(ordering: .relaxed)
            #expect(!flushedMeanwhile)
            #expect(store.statistics.segments == 0)
        }
        let deadline = Date().addingTimeInterval(30)
        while !flushed.stop.load(ordering: .relaxed), Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        let flushedAfter = flushed.stop.load(ordering: .relaxed)
        #expect(flushedAfter)
        #expect(store.statistics.segments > 0)
        #expect(try allRows(store).count == 800)
    }

    @Test("A backup onto another file system copies the segments instead of linking them")
    func backupCopies() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path, options: Self.options)
        for index in 0..<30 { try store.appendBlocking(Self.batch(index)) }
        try store.flush()
        for index in 30..<40 { try store.appendBlocking(Self.batch(index)) }
        // /dev/shm (tmpfs) when it is another file system than the temporary directory's.
        var status = stat()
        let here = stat(directory.path, &status) == 0 ? status.st_dev : 0
        let shm = stat("/dev/shm", &status) == 0 ? status.st_dev : here
        let other = shm != here ? "/dev/shm" : directory.path
        let target = other + "/ocpp-backup-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: target) }
        let report = try TimeSeriesBackup.backup(directory: directory.path, into: target)
        store.close()
        #expect(report.logRows == 200)
        if shm != here {
            #expect(report.copiedSegments > 0 && report.linkedSegments == 0)
        } else {
            #expect(report.linkedSegments > 0 && report.copiedSegments == 0)
        }
        let restored = directory.path + "/restored"
        try TimeSeriesBackup.restore(report.files, from: target, into: restored)
        let counts = try Self.counts(in: restored)
        #expect(counts.count == 800 && counts.values.allSatisfy { $0 == 1 })
    }

    @Test("Restore refuses a directory that is not empty, and a backup whose files changed, touching nothing")
    func restoreRefuses() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path + "/data", options: Self.options)
        for index in 0..<10 { try store.appendBlocking(Self.batch(index)) }
        let report = try TimeSeriesBackup.backup(directory: store.directory, into: directory.path + "/backup")
        store.close()

        let occupied = directory.path + "/occupied"
        try FileManager.default.createDirectory(atPath: occupied, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: occupied + "/notes.txt"))
        #expect(throws: TimeSeriesError.self) {
            try TimeSeriesBackup.restore(report.files, from: directory.path + "/backup", into: occupied)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: occupied) == ["notes.txt"])

        let log = try #require(report.files.first { $0.path.hasPrefix("wal/") && $0.bytes > 20 })
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: directory.path + "/backup/" + log.path))
        try handle.seek(toOffset: 17)
        try handle.write(contentsOf: Data([0xFF]))
        try handle.close()
        let target = directory.path + "/target"
        #expect {
            try TimeSeriesBackup.restore(report.files, from: directory.path + "/backup", into: target)
        } throws: { error in
            "\(error)".contains(log.path) && "\(error)".contains("is not the file the backup wrote")
        }
        #expect(!FileManager.default.fileExists(atPath: target))
        #expect(throws: TimeSeriesError.self) {
            try TimeSeriesBackup.backup(directory: directory.path + "/missing", into: directory.path + "/other")
        }
    }

    @Test("The data directory lock refuses a second holder, repair and restore while it is held")
    func dataDirectoryLock() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path + "/data", options: Self.options)
        try store.appendBlocking(Self.batch(0))
        let report = try TimeSeriesBackup.backup(directory: store.directory, into: directory.path + "/backup")
        store.close()

        let lock = try DataDirectoryLock(directory: directory.path + "/data")
        #expect {
            try DataDirectoryLock(directory: directory.path + "/data")
        } throws: { error in
            (error as? DataDirectoryInUse)?.holder == Int(getpid())
        }
        #expect(throws: DataDirectoryInUse.self) { try TimeSeriesRepair.repair(directory: directory.path + "/data") }
        lock.release()
        #expect(try TimeSeriesRepair.repair(directory: directory.path + "/data").quarantine == nil)

        let target = directory.path + "/target"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let held = try DataDirectoryLock(directory: target)
        #expect(throws: DataDirectoryInUse.self) {
            try TimeSeriesBackup.restore(report.files, from: directory.path + "/backup", into: target)
        }
        held.release()
    }
}
