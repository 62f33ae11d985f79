import Foundation
import MetricsTestKit
import Synchronization
import Testing

@testable import TimeSeries

@Suite("Compaction, open files and flush failures")
struct CompactionTests {
    static let day: Int64 = 86_400_000
    /// 2024-05-01T00:00:00Z.
    static let base: Int64 = 1_714_521_600_000

    /// Flush `flush` of a day: 50 rows a minute apart on each of two connectors, starting 40
    /// minutes after the previous flush's, so that 10 of each overlap it with new values.
    func flushRows(day: Int64, flush: Int) -> [EventRow] {
        (1...2).flatMap { connector in
            (0..<50).map { index in
                let minute = flush * 40 + index
                let value: EventValue =
                    index % 7 == 3 ? .text("t\(flush)-\(index)") : .number(Double(flush * 1000 + index) / 4)
                return EventRow(
                    series: sample(connector: connector),
                    timestamp: Self.base + day * Self.day + Int64(minute) * 60_000,
                    value: value
                )
            }
        }
    }

    /// Segment files of the store's directory, and whether an unfinished one is left.
    func segmentFiles(_ directory: TemporaryDirectory) throws -> (count: Int, temporary: Bool) {
        var count = 0
        var temporary = false
        for day in try FileManager.default.contentsOfDirectory(atPath: directory.path + "/segments") {
            for name in try FileManager.default.contentsOfDirectory(atPath: directory.path + "/segments/" + day) {
                if name.hasSuffix(".seg") { count += 1 }
                if name.hasSuffix(".tmp") { temporary = true }
            }
        }
        return (count, temporary)
    }

    /// Descriptors of this process open on files under `directory`.
    func openDescriptors(under directory: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.count { name in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + name))?
                .hasPrefix(directory) ?? false
        }
    }

    @Test("Passes merge small segments into large ones, a bounded amount each; every value reads back the same")
    func boundedPasses() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(
            directory: directory.path,
            options: TimeSeriesOptions(
                syncPolicy: .never,
                blockRows: 64,
                compactionThreshold: 3,
                compactionTargetRows: 400,
                compactionRowsPerPass: 800
            )
        )
        for day: Int64 in 0..<2 {
            for flush in 0..<10 {
                try store.appendBlocking(flushRows(day: day, flush: flush))
                try store.flush()
            }
        }
        #expect(store.statistics.segments == 20)
        let before = try allRows(store)
        let aggregates = try store.aggregate(EventQuery(limit: Int.max), bucketMilliseconds: 3_600_000)
        var reports: [MaintenanceReport] = []
        for _ in 0..<20 {
            let report = try store.maintain(now: Self.base)
            reports.append(report)
            #expect(report.mergedRows <= 800)
            #expect(try allRows(store) == before)
            if report.writtenSegments == 0 { break }
        }
        // Per day: two runs of four 100-row segments merged (400 rows at most each), 800 rows
        // a pass. The last two segments of day 0, a past day, are merged too; those of day 1,
        // the newest, are too few and wait for more. Merged ones are too large to merge again.
        #expect(reports.map(\.writtenSegments) == [2, 2, 1, 0])
        #expect(reports.map(\.mergedSegments) == [8, 6, 4, 0])
        #expect(store.statistics.segments == 7)
        #expect(try segmentFiles(directory).count == 7)
        #expect(try segmentFiles(directory).temporary == false)
        #expect(try store.aggregate(EventQuery(limit: Int.max), bucketMilliseconds: 3_600_000) == aggregates)
        store.close()
        let reopened = try TimeSeriesStore(directory: directory.path)
        #expect(reopened.statistics.segments == 7)
        #expect(try allRows(reopened) == before)
        // Compacting everything at once gives the same answers too.
        try reopened.compact()
        #expect(reopened.statistics.segments == 2)
        #expect(try allRows(reopened) == before)
        reopened.close()
    }

    @Test("A query of a snapshot taken before compaction and retention still reads the files it saw")
    func olderSnapshotsKeepTheirFiles() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(
            directory: directory.path,
            options: TimeSeriesOptions(retentionDays: 1, compactionThreshold: 2, maximumOpenFiles: 2)
        )
        for (day, flush) in [(-5, 0), (-5, 1), (0, 0), (0, 1), (0, 2), (0, 3)] {
            try store.appendBlocking(flushRows(day: Int64(day), flush: flush))
            try store.flush()
        }
        let before = try allRows(store)
        do {
            let snapshot = store.snapshot()
            let expected = try snapshot.segments.map { try $0.allRows() }
            try store.compact()
            try store.applyRetention(now: Self.base + Self.day / 2)
            #expect(store.statistics.segments == 1)
            #expect(try segmentFiles(directory).count == 1)
            // Every file the snapshot saw is merged, renamed over or removed, but still readable.
            #expect(try snapshot.segments.map { try $0.allRows() } == expected)
            #expect(store.statistics.corruptSegments.isEmpty)
        }
        #expect(store.statistics.openFiles <= 2)
        let recent = before.filter { $0.timestamp >= Self.base }
        #expect(try allRows(store) == recent)
        store.close()
    }

    @Test("At most the set number of segment files stay open; queries over more still see everything")
    func descriptorLimit() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(
            directory: directory.path,
            options: TimeSeriesOptions(blockRows: 32, maximumOpenFiles: 4)
        )
        var expected: [EventRow] = []
        for flush in 0..<30 {
            let rows = (0..<20).map { index in
                EventRow(
                    series: sample(connector: 1 + index % 2),
                    timestamp: Self.base + Int64(flush * 20 + index) * 1000,
                    value: .number(Double(flush * 20 + index))
                )
            }
            expected += rows
            try store.appendBlocking(rows)
            try store.flush()
        }
        #expect(store.statistics.segments == 30)
        #expect(store.statistics.openFiles <= 4)
        #expect(openDescriptors(under: directory.path + "/segments") <= 4)
        #expect(try allRows(store) == expected)
        #expect(store.statistics.reopenedFiles > 0)
        #expect(store.statistics.openFiles <= 4)
        // Concurrent queries, while compaction merges and removes the files under them.
        let all = expected
        try await withThrowingTaskGroup(of: Bool.self) { tasks in
            for reader in 0..<6 {
                tasks.addTask {
                    var same = true
                    for _ in 0..<5 {
                        if reader % 2 == 0 {
                            let rows = try allRows(store)
                            same = same && rows == all
                        } else {
                            let latest = try store.latest(EventQuery(limit: Int.max))
                            same = same && latest.map(\.timestamp) == all.suffix(2).map(\.timestamp)
                        }
                    }
                    return same
                }
            }
            tasks.addTask {
                try store.compact()
                return true
            }
            for try await same in tasks { #expect(same) }
        }
        #expect(store.statistics.segments == 1)
        #expect(store.statistics.corruptSegments.isEmpty)
        #expect(store.statistics.openFiles <= 4)
        #expect(openDescriptors(under: directory.path + "/segments") <= 4)
        #expect(try allRows(store) == expected)
        store.close()
    }

    @Test("The gauges show the store's series, days, segments, open files and bytes")
    func gauges() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let metrics = TestMetrics()
        let store = try TimeSeriesStore(
            directory: directory.path,
            options: TimeSeriesOptions(maximumOpenFiles: 3),
            metricsFactory: metrics
        )
        for (day, flush) in [(0, 0), (0, 1), (1, 0), (2, 0), (2, 1)] {
            try store.appendBlocking(flushRows(day: Int64(day), flush: flush))
            try store.flush()
        }
        _ = try store.maintain(now: Self.base)
        func gauge(_ label: String) throws -> Double? { try metrics.expectGauge(label).lastValue }
        let statistics = store.statistics
        #expect(try gauge("ocpp_ts_series") == 2)
        #expect(try gauge("ocpp_ts_partitions") == 3)
        #expect(try gauge("ocpp_ts_segments") == Double(statistics.segments))
        // Day 0's two segments merged (a past day's); day 2's, the newest, wait.
        #expect(statistics.segments == 4)
        #expect(try gauge("ocpp_ts_open_files") == Double(statistics.openFiles))
        #expect(statistics.openFiles <= 3)
        let diskBytes = try #require(try gauge("ocpp_ts_disk_bytes"))
        #expect(diskBytes == Double(store.diskBytes))
        #expect(diskBytes >= Double(statistics.segmentBytes))
        store.close()
    }

    @Test("A flush that fails is counted, retried, and loses nothing; flush() reports it meanwhile")
    func failedFlushIsRetried() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let metrics = TestMetrics()
        let store = try TimeSeriesStore(
            directory: directory.path,
            options: TimeSeriesOptions(memtableRows: 100),
            metricsFactory: metrics
        )
        let failing = Atomic(true)
        let (attempts, continuation) = AsyncStream.makeStream(of: (any Error)?.self)
        store.flushHooks.withLock { hooks in
            hooks.beforeWrite = {
                if failing.load(ordering: .relaxed) { throw TimeSeriesError(message: "injected flush failure") }
            }
            hooks.afterAttempt = { continuation.yield($0) }
        }
        var outcomes = attempts.makeAsyncIterator()
        let first = flushRows(day: 0, flush: 0)
        try store.appendBlocking(first)  // 100 rows: the memtable is frozen and handed over
        let failed = try #require(await outcomes.next())
        #expect(failed != nil)
        // Frozen, the rows are still read from memory, and flush() says why they are not written.
        #expect(Set(try allRows(store)) == Set(first))
        #expect(throws: TimeSeriesError.self) { try store.flush() }
        // The flusher keeps trying; once writes work again, the table is written.
        failing.store(false, ordering: .relaxed)
        var failedAttempts = 1
        while try #require(await outcomes.next()) != nil { failedAttempts += 1 }
        #expect(try metrics.expectCounter("ocpp_ts_flush_failures_total").totalValue == Int64(failedAttempts))
        try store.flush()
        #expect(store.statistics.memtableRows == 0)
        #expect(store.statistics.segmentRows == 100)
        #expect(Set(try allRows(store)) == Set(first))
        let second = flushRows(day: 0, flush: 1)
        try store.appendBlocking(second)
        try store.flush()
        store.close()
        let reopened = try TimeSeriesStore(directory: directory.path)
        #expect(reopened.recovery.replayedRows == 0)
        #expect(try allRows(reopened) == (try allRows(store)))
        #expect(try allRows(reopened).count == 180)
        reopened.close()
    }
}
