import Foundation
import MetricsTestKit
import Testing

@testable import TimeSeries

/// Live subscriptions: committed rows handed over in commit order, joined exactly to the
/// subscription's snapshot, bounded per subscriber.
@Suite("Live subscriptions")
struct LiveFeedTests {
    static let base: Int64 = 1_714_521_600_000

    static func status(_ chargePointID: String, connector: Int = 1) -> SeriesKey {
        SeriesKey(chargePointID: chargePointID, connectorID: connector, kind: .status)
    }

    static func rows(_ chargePointID: String, _ range: Range<Int>, series: SeriesKey? = nil) -> [EventRow] {
        range.map { index in
            EventRow(
                series: series ?? sample(chargePointID),
                timestamp: base + Int64(index) * 1000,
                value: .number(Double(index))
            )
        }
    }

    /// Every row the subscription hands over until `count` have come (or a non-row event).
    static func collect(_ subscription: LiveSubscription, count: Int) async -> (rows: [LiveRow], end: LiveEvent?) {
        var rows: [LiveRow] = []
        while rows.count < count {
            switch await subscription.next(wakingAfter: .seconds(30)) {
            case .rows(let more): rows += more
            case .idle: return (rows, .idle)
            case let other: return (rows, other)
            }
        }
        return (rows, nil)
    }

    static func withStore<T>(
        _ options: TimeSeriesOptions = TimeSeriesOptions(),
        metrics: TestMetrics = TestMetrics(),
        _ body: (TimeSeriesStore) async throws -> T
    ) async throws -> T {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path, options: options, metricsFactory: metrics)
        defer { store.close() }
        return try await body(store)
    }

    @Test("Rows committed after subscribing come in commit order, filtered; those before are the snapshot's")
    func order() async throws {
        try await Self.withStore { store in
            try await store.append(Self.rows("CP-1", 0..<5))
            let subscription = try #require(store.subscribe(LiveFilter(chargePointIDs: ["CP-1"])))
            #expect(subscription.start == 5)
            // Out of time order on purpose: the stream follows commits, not timestamps.
            try await store.append(Self.rows("CP-1", 10..<13))
            try await store.append(Self.rows("CP-2", 0..<50))
            try await store.append(Self.rows("CP-1", 5..<8))
            try await store.append([
                EventRow(series: Self.status("CP-1"), timestamp: Self.base, value: .text("Charging"))
            ])
            try await store.append([
                EventRow(
                    series: SeriesKey(chargePointID: "CP-1", connectorID: 1, kind: .event, eventType: "Test"),
                    timestamp: Self.base,
                    value: .text("x")
                )
            ])
            try await store.append(Self.rows("CP-1", 8..<9))
            let (rows, end) = await Self.collect(subscription, count: 8)
            #expect(end == nil)
            #expect(rows.map { $0.row.value.number ?? -1 } == [10, 11, 12, 5, 6, 7, -1, 8])
            #expect(rows.last.flatMap { subscription.key(of: $0.seriesID) }?.chargePointID == "CP-1")
            #expect(rows[6].row.value == .text("Charging"))
            #expect(subscription.key(of: rows[6].seriesID) == Self.status("CP-1"))
            // Positions count every committed row, the other charger's and the event's too.
            #expect(rows.map(\.position) == [5, 6, 7, 58, 59, 60, 61, 63])
            // The snapshot holds the 5 rows before, none after.
            let page = try subscription.history(EventQuery(chargePointIDs: ["CP-1"], limit: 100)).next()
            #expect(page?.rows.map { $0.value.number ?? -1 } == [0, 1, 2, 3, 4])
            #expect(await subscription.next(wakingAfter: .milliseconds(50)) == .idle)
        }
    }

    @Test("Recent rows from a position are those committed up to the start, until they are flushed")
    func recent() async throws {
        try await Self.withStore { store in
            try await store.append(Self.rows("CP-1", 0..<3))
            try await store.append(Self.rows("CP-2", 0..<3))
            try await store.append(Self.rows("CP-1", 3..<6))
            let subscription = try #require(store.subscribe(LiveFilter(chargePointIDs: ["CP-1"])))
            #expect(subscription.recent(from: 0)?.map(\.position) == [0, 1, 2, 6, 7, 8])
            #expect(subscription.recent(from: 7)?.map(\.position) == [7, 8])
            #expect(subscription.recent(from: 9)?.isEmpty == true)
            #expect(subscription.recent(from: 10) == nil)
            #expect(subscription.recent(from: 7)?.map { $0.row.value.number } == [4, 5])
            try store.flush()
            let later = try #require(store.subscribe(LiveFilter(chargePointIDs: ["CP-1"])))
            #expect(later.oldestRecent == 9)
            #expect(later.recent(from: 8) == nil)
            #expect(later.recent(from: 9)?.isEmpty == true)
            try await store.append(Self.rows("CP-1", 6..<7))
            let (rows, _) = await Self.collect(later, count: 1)
            #expect(rows.map(\.position) == [9])
        }
    }

    @Test("Subscribing while a writer appends: snapshot plus live rows are every row once")
    func meeting() async throws {
        try await Self.withStore { store in
            let writer = Task {
                for batch in 0..<200 {
                    try await store.append(Self.rows("CP-1", batch * 5..<(batch * 5 + 5)))
                }
            }
            try await Task.sleep(for: .milliseconds(20))
            let subscription = try #require(store.subscribe(LiveFilter(chargePointIDs: ["CP-1"])))
            try await writer.value
            let live = await Self.collect(subscription, count: 1000 - Int(subscription.start)).rows
            var before: [EventRow] = []
            let pager = subscription.history(EventQuery(chargePointIDs: ["CP-1"], limit: 100))
            while let page = try pager.next() { before += page.rows }
            let values = (before.map { $0.value.number! } + live.map { $0.row.value.number! }).map { Int($0) }
            #expect(before.count == Int(subscription.start))
            #expect(values == Array(0..<1000))
            #expect(live.map(\.position) == Array(subscription.start..<1000))
        }
    }

    @Test("A subscriber more than its buffer behind is dropped; others and the writer go on")
    func overflow() async throws {
        var options = TimeSeriesOptions()
        options.liveBufferRows = 10
        let metrics = TestMetrics()
        try await Self.withStore(options, metrics: metrics) { store in
            let slow = try #require(store.subscribe(LiveFilter(chargePointIDs: ["CP-1"])))
            let other = try #require(store.subscribe(LiveFilter(chargePointIDs: ["CP-2"])))
            try await store.append(Self.rows("CP-1", 0..<8))
            try await store.append(Self.rows("CP-2", 0..<5))
            try await store.append(Self.rows("CP-1", 8..<16))
            #expect(await slow.next(wakingAfter: .seconds(1)) == .overflowed)
            #expect(await slow.next(wakingAfter: .seconds(1)) == .overflowed)
            let (rows, _) = await Self.collect(other, count: 5)
            #expect(rows.count == 5)
            // The dropped subscriber can still read what it missed, from memory.
            #expect(slow.recent(from: slow.start)?.isEmpty == true)
            let resumed = try #require(store.subscribe(LiveFilter(chargePointIDs: ["CP-1"])))
            #expect(resumed.recent(from: 0)?.count == 16)
            #expect(try allRows(store).count == 21)
            #expect(try metrics.expectCounter("ocpp_ts_live_dropped_total").totalValue == 1)
            #expect(try metrics.expectGauge("ocpp_ts_live_subscriptions").lastValue == 3)
        }
    }

    @Test("Closing the store ends every subscription; a full store refuses more")
    func closing() async throws {
        var options = TimeSeriesOptions()
        options.maximumLiveSubscribers = 2
        try await Self.withStore(options) { store in
            let first = try #require(store.subscribe(LiveFilter(chargePointIDs: ["CP-1"])))
            let second = try #require(store.subscribe(LiveFilter(chargePointIDs: ["CP-1"])))
            #expect(store.subscribe(LiveFilter(chargePointIDs: ["CP-1"])) == nil)
            #expect(store.liveSubscriberCount == 2)
            second.finish()
            #expect(await second.next(wakingAfter: .seconds(1)) == .closed)
            let waiting = Task { await first.next(wakingAfter: .seconds(30)) }
            try await Task.sleep(for: .milliseconds(50))
            store.close()
            #expect(await waiting.value == .closed)
            #expect(store.subscribe(LiveFilter(chargePointIDs: ["CP-1"])) == nil)
        }
    }

    // Without the cancellation the wait would last an hour: the time limit fails the test
    // then, and no wall-clock bound is asserted (a busy machine may not run the task for a while).
    @Test("A cancelled wait returns, without waiting for its timeout", .timeLimit(.minutes(5)))
    func cancelled() async throws {
        try await Self.withStore { store in
            let subscription = try #require(store.subscribe(LiveFilter(chargePointIDs: ["CP-1"])))
            let waiting = Task { await subscription.next(wakingAfter: .seconds(3600)) }
            try await Task.sleep(for: .milliseconds(50))
            waiting.cancel()
            #expect(await waiting.value == .idle)
        }
    }

    /// A feed on its own, without a store: the writer's side is the test's `publish` calls.
    static func feed() -> LiveFeed {
        LiveFeed(bufferLimit: 100, maximumSubscribers: 10, metrics: TimeSeriesMetrics(factory: TestMetrics()))
    }

    @Test("Rows handed over in runs read back row by row with their positions; trimming keeps the rest")
    func runs() {
        let stored = (0..<10).map {
            StoredRow(seriesID: UInt32($0 % 3), timestamp: Self.base + Int64($0), value: .number(Double($0)))
        }
        var rows = LiveRows()
        rows.append(stored, 0..<3, position: 100)
        rows.append(stored, 3..<5, position: 103)  // continues the run
        rows.append(stored, 5..<9, position: 200)
        rows.append(stored, 9..<10, position: 300)
        #expect(rows.runs.count == 3)
        #expect(rows.count == 10)
        #expect(Array(rows).map(\.position) == [100, 101, 102, 103, 104, 200, 201, 202, 203, 300])
        #expect(Array(rows).map(\.row) == stored)
        var trimmed = rows
        trimmed.removeBefore(202)
        #expect(Array(trimmed).map(\.position) == [202, 203, 300])
        #expect(Array(trimmed).map(\.row) == Array(stored[7...]))
        trimmed.removeBefore(301)
        #expect(trimmed.isEmpty)
    }

    @Test("Runs share their commits' arrays up to a limit; past it their rows are copied, each still in its place")
    func sharedCommits() {
        var rows = LiveRows()
        var expected: [(UInt64, StoredRow)] = []
        let commits = 3 * LiveRows.sharedCommitLimit + 5
        for commit in 0..<commits {
            // A commit of 4 rows, of which the subscriber gets two runs: rows 0-1 and 3.
            let stored = (0..<4).map {
                StoredRow(seriesID: 1, timestamp: Self.base + Int64(commit * 4 + $0), value: .number(Double(commit)))
            }
            let position = UInt64(1000 + commit * 4)
            rows.append(stored, 0..<2, position: position)
            rows.append(stored, 3..<4, position: position + 3)
            expected += [(position, stored[0]), (position + 1, stored[1]), (position + 3, stored[3])]
        }
        #expect(rows.count == expected.count)
        #expect(Array(rows).map(\.position) == expected.map(\.0))
        #expect(Array(rows).map(\.row) == expected.map(\.1))
        let arrays = Set(
            rows.runs.map { run in run.source.withUnsafeBufferPointer { Int(bitPattern: $0.baseAddress) } }
        )
        #expect(arrays.count <= LiveRows.sharedCommitLimit + 3)
        var trimmed = rows
        trimmed.removeBefore(expected[100].0)
        #expect(Array(trimmed).map(\.row) == expected[100...].map(\.1))
    }

    @Test("A subscriber whose start falls inside a published run gets the run's rows from its start on")
    func startInsideRun() throws {
        let feed = Self.feed()
        let keys = (0..<4).map {
            SeriesKey(chargePointID: $0 < 2 ? "CP-1" : "CP-2", connectorID: 1, kind: .sample, measurand: "M\($0)")
        }
        feed.seed(keys)
        let first = try #require(feed.add(LiveFilter(chargePointIDs: ["CP-1"])))
        let second = try #require(feed.add(LiveFilter(chargePointIDs: ["CP-1", "CP-2"])))
        feed.setStart(first, 13)
        feed.setStart(second, 10)
        // Positions 10-13 CP-1, 14-15 CP-2, 16-17 CP-1.
        let series: [UInt32] = [0, 1, 0, 1, 2, 3, 1, 0]
        let rows = series.enumerated().map {
            StoredRow(seriesID: $1, timestamp: Self.base + Int64($0), value: .number(Double($0)))
        }
        feed.publish(rows, firstPosition: 10, newSeries: [])
        guard case .rows(let forFirst) = feed.take(first), case .rows(let forSecond) = feed.take(second) else {
            Issue.record("no rows")
            return
        }
        #expect(Array(forFirst).map(\.position) == [13, 16, 17])
        #expect(Array(forFirst).map(\.row) == [rows[3], rows[6], rows[7]])
        #expect(Array(forSecond).map(\.position) == Array(10...17))
        #expect(feed.take(first) == nil)
    }

    @Test("A subscriber that follows other charge points gets their rows from then on, not those it left")
    func follow() throws {
        let feed = Self.feed()
        feed.seed([sample("CP-1"), sample("CP-2")])
        let id = try #require(feed.add(LiveFilter(chargePointIDs: ["CP-1"])))
        func row(_ series: UInt32, _ value: Double) -> StoredRow {
            StoredRow(seriesID: series, timestamp: Self.base, value: .number(value))
        }
        feed.publish([row(0, 1), row(1, 2)], firstPosition: 0, newSeries: [])
        feed.follow(id, ["CP-1", "CP-2"])
        feed.publish([row(0, 3), row(1, 4)], firstPosition: 2, newSeries: [])
        feed.follow(id, ["CP-2"])
        feed.publish([row(0, 5), row(1, 6)], firstPosition: 4, newSeries: [])
        guard case .rows(let rows) = feed.take(id) else {
            Issue.record("no rows")
            return
        }
        #expect(Array(rows).map(\.row.value.number) == [1, 3, 4, 6])
        #expect(feed.filter(of: id)?.chargePointIDs == ["CP-2"])
    }
}
