import Foundation
import Logging
import MetricsTestKit
import ServiceLifecycle
import Synchronization
import Testing

@testable import TimeSeries

/// A clock a test sets.
final class TestClock: Sendable {
    let milliseconds: Atomic<Int64>

    init(_ milliseconds: Int64) {
        self.milliseconds = Atomic(milliseconds)
    }

    var clock: TimeSeriesClock {
        TimeSeriesClock { self.milliseconds.load(ordering: .relaxed) }
    }
}

@Suite("Maintenance")
struct MaintenanceTests {
    static let day: Int64 = 86_400_000
    /// 2024-05-01T00:00:00Z.
    static let base: Int64 = 1_714_521_600_000

    /// `count` rows of connector `connector` a minute apart from the start of day `day`.
    func rows(day: Int64, count: Int, connector: Int = 1, offset: Double = 0) -> [EventRow] {
        (0..<count).map { index in
            EventRow(
                series: sample(connector: connector),
                timestamp: Self.base + day * Self.day + Int64(index) * 60_000,
                value: .number(Double(index) + offset)
            )
        }
    }

    /// Runs `store` and `maintenance` in a service group, hands `body` the passes' outcomes,
    /// then shuts the group down gracefully.
    func withMaintenance(
        _ store: TimeSeriesStore,
        interval: Duration,
        clock: TestClock,
        _ body: (inout AsyncStream<Result<MaintenanceReport, any Error>>.Iterator) async throws -> Void
    ) async throws {
        let (passes, continuation) = AsyncStream.makeStream(of: Result<MaintenanceReport, any Error>.self)
        let maintenance = TimeSeriesMaintenance(
            store: store,
            interval: interval,
            clock: clock.clock,
            observer: { continuation.yield($0) }
        )
        let group = ServiceGroup(services: [store, maintenance], logger: Logger(label: "maintenance-test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = passes.makeAsyncIterator()
            do {
                try await body(&iterator)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test("Retention drops old days end to end through the service, by its injected clock")
    func retentionThroughService() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let metrics = TestMetrics()
        let store = try TimeSeriesStore(
            directory: directory.path,
            options: TimeSeriesOptions(retentionDays: 2),
            metricsFactory: metrics
        )
        let old = rows(day: -10, count: 30)
        let recent = rows(day: 0, count: 30)
        try store.appendBlocking(old + recent)
        try store.flush()
        #expect(store.statistics.partitions == 2)
        let clock = TestClock(Self.base + Self.day / 2)
        try await withMaintenance(store, interval: .milliseconds(5), clock: clock) { passes in
            // The first pass runs at start: the day ten days back goes, today stays.
            let first = try #require(await passes.next()).get()
            #expect(first.droppedPartitions == 1)
            #expect(try allRows(store) == recent)
            #expect(!FileManager.default.fileExists(atPath: directory.path + "/segments/2024-04-21"))
            #expect(FileManager.default.fileExists(atPath: directory.path + "/segments/2024-05-01"))
            #expect(try metrics.expectGauge("ocpp_ts_partitions").lastValue == 1)
            // Five days on, today is old too.
            clock.milliseconds.store(Self.base + 5 * Self.day, ordering: .relaxed)
            var dropped = 0
            for _ in 0..<10_000 where dropped == 0 {
                dropped = try #require(await passes.next()).get().droppedPartitions
            }
            #expect(dropped == 1)
        }
        #expect(try allRows(store).isEmpty)
        #expect(store.statistics.partitions == 0)
        #expect(try metrics.expectGauge("ocpp_ts_segments").lastValue == 0)
        #expect(try metrics.expectCounter("ocpp_ts_maintenance_passes_total").totalValue >= 2)
        let reopened = try TimeSeriesStore(directory: directory.path)
        #expect(try allRows(reopened).isEmpty)
        reopened.close()
    }

    @Test("Graceful shutdown ends the service at once, not at its next pass")
    func stopsPromptly() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path)
        try store.appendBlocking(rows(day: 0, count: 10))
        let started = ContinuousClock.now
        try await withMaintenance(store, interval: .seconds(3600), clock: TestClock(Self.base)) { passes in
            _ = try #require(await passes.next()).get()
        }
        // Far below the hour to the next pass, with room for a loaded machine.
        #expect(ContinuousClock.now - started < .seconds(600))
        #expect(throws: TimeSeriesError.self) { try store.appendBlocking(rows(day: 0, count: 1)) }
        let reopened = try TimeSeriesStore(directory: directory.path)
        #expect(try allRows(reopened) == rows(day: 0, count: 10))
        reopened.close()
    }

    @Test("A pass that fails is counted and logged, and the service goes on with the next")
    func failedPass() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let metrics = TestMetrics()
        let store = try TimeSeriesStore(
            directory: directory.path,
            options: TimeSeriesOptions(retentionDays: 1),
            metricsFactory: metrics
        )
        // An expired day whose directory holds a directory: removing it fails every time.
        try FileManager.default.createDirectory(
            atPath: directory.path + "/segments/2024-04-01/stray",
            withIntermediateDirectories: true
        )
        try store.appendBlocking(rows(day: 0, count: 10))
        try await withMaintenance(store, interval: .milliseconds(5), clock: TestClock(Self.base)) { passes in
            for _ in 0..<2 {
                let outcome = try #require(await passes.next())
                #expect(throws: TimeSeriesError.self) { try outcome.get() }
            }
        }
        #expect(try metrics.expectCounter("ocpp_ts_maintenance_failures_total").totalValue >= 2)
        let reopened = try TimeSeriesStore(directory: directory.path)
        #expect(try allRows(reopened) == rows(day: 0, count: 10))
        reopened.close()
    }
}

/// Which segments compaction merges.
@Suite("Compaction runs")
struct CompactionRunTests {
    @Test("Flushes of full memtables are merged once a run is full, and a past day's tail too")
    func fullRuns() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let options = TimeSeriesOptions(memtableRows: 10_000_000, compactionThreshold: 4, compactionTargetRows: 1_000)
        let store = try TimeSeriesStore(directory: directory.path, options: options)
        defer { store.close() }
        let maintenance = MaintenanceTests()
        // Day 0: five flushes of 300 rows (more than a quarter of the target each, as a full
        // memtable's flush is); day 1 (the newest): two.
        for flush in 0..<5 {
            try store.appendBlocking(maintenance.rows(day: 0, count: 300, connector: flush + 1))
            try store.flush()
        }
        for flush in 0..<2 {
            try store.appendBlocking(maintenance.rows(day: 1, count: 300, connector: flush + 1))
            try store.flush()
        }
        let runs = store.compactionRuns(targetRows: 1_000)
        // Three fill a run (a fourth would not fit); the last two end a past day; the newest
        // day's two wait for more.
        #expect(runs.map { $0.map(\.rowCount) } == [[300, 300, 300], [300, 300]])

        let report = try store.maintain(now: MaintenanceTests.base + 2 * MaintenanceTests.day)
        #expect(report.mergedSegments == 5 && report.writtenSegments == 2)
        #expect(store.statistics.segments == 4)
        #expect(store.compactionRuns(targetRows: 1_000).isEmpty, "merged segments do not merge again at once")
        #expect(try store.query(EventQuery(limit: Int.max)).rows.count == 2_100)
    }
}
