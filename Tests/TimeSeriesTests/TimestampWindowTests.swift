import CivilCalendar
import Foundation
import MetricsTestKit
import Testing
import TimeSeries

/// Rows dated far from the server's clock are stored and read back by their true timestamps,
/// but are filed under the window's edge days: a charger's clock cannot make partitions.
@Suite("Timestamp window")
struct TimestampWindowTests {
    static let day: Int64 = 86_400_000
    /// 2026-06-15T12:00:00Z, the store's clock in these tests.
    static let now: Int64 = 20_619 * day + day / 2
    static let window = TimestampWindow(pastDays: 30, futureHours: 24)
    static let year1970: Int64 = 3_600_000
    /// 2099-01-01T00:00:00Z.
    static let year2099: Int64 = 47_117 * day

    func open(
        _ directory: TemporaryDirectory,
        retentionDays: Int? = nil,
        metrics: TestMetrics = TestMetrics()
    ) throws -> TimeSeriesStore {
        try TimeSeriesStore(
            directory: directory.path,
            options: TimeSeriesOptions(retentionDays: retentionDays, timestampWindow: Self.window),
            clock: TimeSeriesClock { Self.now },
            metricsFactory: metrics
        )
    }

    func row(_ timestamp: Int64, _ value: Double) -> EventRow {
        EventRow(series: sample(), timestamp: timestamp, value: .number(value))
    }

    /// A thousand dates far from the clock: days from 1971 to 2025 and from 2027 to 2200.
    var farDates: [Int64] {
        (0..<1000).map { index in
            let spread = Int64(index) * 7_919 % 20_000
            return index.isMultiple(of: 2) ? (365 + spread) * Self.day + 1234 : (20_800 + spread * 3) * Self.day + 5678
        }
    }

    func partitionNames(_ directory: TemporaryDirectory) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path + "/segments")) ?? []).sorted()
    }

    @Test("1970, 2099 and a thousand far dates make no partitions of their own and read back by their timestamps")
    func misdatedRows() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let metrics = TestMetrics()
        var store = try open(directory, metrics: metrics)
        var rows = [row(Self.year1970, 1), row(Self.year2099, 2), row(Self.now, 3), row(Self.now - 3 * Self.day, 4)]
        rows += farDates.enumerated().map { row($1, Double(10 + $0)) }
        try store.appendBlocking(rows)
        try store.flush()
        // The window's first day (30 days back), the in-window days, and its last day (24 hours on).
        #expect(partitionNames(directory) == ["2026-05-16", "2026-06-12", "2026-06-15", "2026-06-16"])
        #expect(store.statistics.partitions == 4)
        #expect(try metrics.expectCounter("ocpp_ts_rows_outside_window_total").totalValue == 1002)

        for reopened in [false, true] {
            if reopened {
                store.close()
                store = try open(directory)
            }
            #expect(
                try allRows(store).sorted { $0.timestamp < $1.timestamp } == rows.sorted { $0.timestamp < $1.timestamp }
            )
            // A time range finds a misdated row by its true timestamp, and only it.
            for (timestamp, value) in [(Self.year1970, 1.0), (Self.year2099, 2.0)]
                + farDates.prefix(50).enumerated().map({ ($1, Double(10 + $0)) })
            {
                let found = try store.query(EventQuery(from: timestamp, to: timestamp + 1)).rows
                #expect(found == [row(timestamp, value)])
            }
            let y1970 = try store.query(EventQuery(from: 0, to: 365 * Self.day)).rows
            #expect(y1970.map(\.timestamp) == [Self.year1970])
        }
        store.close()
    }

    @Test(
        "Merging the segments of an edge day keeps them in it; retention takes them with the day they are filed under"
    )
    func compactionAndRetention() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        var store = try open(directory, retentionDays: 40)
        for flush in 0..<5 {
            try store.appendBlocking(
                [row(Self.year1970 + Int64(flush), Double(flush)), row(Self.now + Int64(flush), Double(flush))]
            )
            try store.flush()
        }
        #expect(store.statistics.segments == 10)
        let report = try store.compact()
        #expect(report.writtenSegments == 2)
        #expect(store.statistics.segments == 2)
        #expect(partitionNames(directory) == ["2026-05-16", "2026-06-15"])
        #expect(try allRows(store).count == 10)
        // Retention measures from the day a row is filed under, not its timestamp: nothing
        // goes while that day is kept, in-window days included.
        try store.applyRetention(now: Self.now)
        #expect(try allRows(store).count == 10)
        try store.applyRetention(now: Self.now + 15 * Self.day)
        #expect(try allRows(store).map(\.timestamp).sorted() == (0..<5).map { Self.now + Int64($0) })
        #expect(partitionNames(directory) == ["2026-06-15"])
        store.close()
        store = try open(directory)
        #expect(try allRows(store).count == 5)
        store.close()
    }

    @Test("The window's days follow the clock")
    func windowDays() {
        #expect(Self.window.days(now: Self.now) == 20_589...20_620)
        #expect(TimestampWindow(pastDays: 1, futureHours: 1).days(now: 0) == -1...0)
        #expect(CalendarDay(day: 20_589).name == "2026-05-16")
    }
}
