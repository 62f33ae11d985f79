import Foundation
import Testing

@testable import TimeSeries

@Suite("Settling a day into parts by series")
struct SettleTests {
    static let day: Int64 = 86_400_000
    /// 2024-05-01T00:00:00Z.
    static let base: Int64 = 1_714_521_600_000

    static let options = TimeSeriesOptions(
        syncPolicy: .never,
        blockRows: 64,
        compactionThreshold: 3,
        compactionTargetRows: 1_000,
        compactionRowsPerPass: 100_000
    )

    /// Twelve chargers' hour: two connectors, rows a minute apart, in time order across series
    /// (as a fleet sends them), a text now and then, and rows of two sessions at one moment.
    static func hour(_ hour: Int, version: Int = 0) -> [EventRow] {
        var rows: [EventRow] = []
        for minute in 0..<60 {
            let time = base + Int64(hour * 60 + minute) * 60_000
            for charger in 0..<12 {
                for connector in 1...2 {
                    let series = sample("CP-\(charger)", connector: connector)
                    let value: EventValue =
                        minute % 17 == 5
                        ? .text("v\(version)-\(minute)") : .number(Double(hour * 100 + minute + version) / 4)
                    rows.append(
                        EventRow(series: series, timestamp: time, value: value, transactionID: minute == 30 ? 7 : nil)
                    )
                    if minute == 30 {
                        rows.append(EventRow(series: series, timestamp: time, value: .number(-1), transactionID: 8))
                    }
                }
            }
        }
        return rows
    }

    /// A store in `directory` holding day 0 as segments of one flush each: `hours` (each
    /// hour of every series), then `rewritten` again with other values.
    static func store(
        _ directory: TemporaryDirectory,
        hours: Range<Int>,
        rewritten: (hour: Int, version: Int)? = nil
    ) throws -> TimeSeriesStore {
        let store = try TimeSeriesStore(directory: directory.path, options: options)
        var batches = hours.map { hour($0) }
        if let rewritten { batches.append(hour(rewritten.hour, version: rewritten.version)) }
        for batch in batches {
            try store.appendBlocking(batch)
            try store.flush()
        }
        return store
    }

    /// The names of the segment files of day 0.
    static func dayFiles(_ directory: TemporaryDirectory) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path + "/segments/2024-05-01").sorted()
    }

    /// A day of four time windows (and a fifth that rewrites an hour with new values) becomes
    /// parts, each a range of series for the whole day; nothing read changes.
    @Test("A day that ended becomes parts by series; every row, newest versions, reads back the same")
    func settles() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try Self.store(directory, hours: 0..<4, rewritten: (2, 1))
        #expect(store.statistics.segments == 5)
        let before = try allRows(store)
        #expect(before.count == 4 * 60 * 24 + 4 * 24)
        let buckets = try store.aggregate(EventQuery(limit: Int.max), bucketMilliseconds: 3_600_000)
        let session = try store.query(EventQuery(transactionID: 8, limit: Int.max)).rows

        // Before the day's end and the delay: nothing to settle.
        #expect(store.settleCandidates(now: Self.base + Self.day + 3_599_999).isEmpty)
        let report = try store.maintain(now: Self.base + Self.day + 3_600_000)
        #expect(report.settledDays == 1 && report.mergedSegments == 5)
        let files = try Self.dayFiles(directory)
        #expect(files.count == report.writtenSegments && files.count >= 4)
        #expect(files.allSatisfy { $0.hasPrefix(String(repeating: "0", count: 15)) && $0.contains("-") })
        // Each part holds whole series, none another part's.
        let segments = store.snapshot().segments
        #expect(SettleTests.disjoint(segments))
        // Parts of the target's size at least, but the last.
        #expect(segments.count { $0.rowCount < 1_000 } <= 1)
        #expect(try allRows(store) == before)
        #expect(try store.aggregate(EventQuery(limit: Int.max), bucketMilliseconds: 3_600_000) == buckets)
        #expect(try store.query(EventQuery(transactionID: 8, limit: Int.max)).rows == session)
        // Settled: the next pass leaves it.
        #expect(try store.maintain(now: Self.base + Self.day + 3_600_000).settledDays == 0)
        // A backup takes the parts, and its restore reads the same rows.
        let copies = try TemporaryDirectory()
        defer { copies.cleanup() }
        let backup = try TimeSeriesBackup.backup(directory: directory.path, into: copies.path + "/backup")
        #expect(backup.linkedSegments + backup.copiedSegments == files.count)
        store.close()
        try TimeSeriesBackup.restore(backup.files, from: copies.path + "/backup", into: copies.path + "/restored")
        let restored = try TimeSeriesStore(directory: copies.path + "/restored", options: Self.options)
        #expect(try allRows(restored) == before)
        restored.close()
        let reopened = try TimeSeriesStore(directory: directory.path, options: Self.options)
        #expect(try allRows(reopened) == before)
        #expect(try Self.dayFiles(directory) == files)
        reopened.close()
    }

    @Test("Late rows beside a settled day's parts leave it settled unless they overlap half of it")
    func lateRows() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try Self.store(directory, hours: 0..<4)
        let now = Self.base + Self.day + 3_600_000
        #expect(try store.maintain(now: now).settledDays == 1)
        let parts = try Self.dayFiles(directory)
        // One charger's late rows: one segment beside the parts, overlapping one or two.
        try store.appendBlocking(
            (0..<5).map {
                EventRow(
                    series: sample("CP-3"),
                    timestamp: Self.base + 20 * 3_600_000 + Int64($0) * 60_000,
                    value: .number(1)
                )
            }
        )
        try store.flush()
        #expect(try store.maintain(now: now).settledDays == 0)
        #expect(try Self.dayFiles(directory).count == parts.count + 1)
        // Every series again, in the evening: the day is settled anew.
        try store.appendBlocking(Self.hour(22))
        try store.flush()
        let before = try allRows(store)
        #expect(try store.maintain(now: now).settledDays == 1)
        #expect(SettleTests.disjoint(store.snapshot().segments))
        #expect(try allRows(store) == before)
        store.close()
    }

    /// A crash after the parts were published and before the merged segments were removed
    /// leaves both: every row still reads once, with its newest value, and the next pass
    /// settles the day again.
    @Test("Parts beside the segments they replace (a crash between the two) read as the parts alone")
    func crashBetweenPublishAndRemove() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try Self.store(directory, hours: 0..<3, rewritten: (1, 2))
        let before = try allRows(store)
        let dayPath = directory.path + "/segments/2024-05-01"
        let merged = try Self.dayFiles(directory)
        let saved = try merged.map { try Data(contentsOf: URL(fileURLWithPath: dayPath + "/" + $0)) }
        #expect(try store.maintain(now: Self.base + Self.day + 3_600_000).settledDays == 1)
        store.close()
        for (name, bytes) in zip(merged, saved) { try bytes.write(to: URL(fileURLWithPath: dayPath + "/" + name)) }
        let reopened = try TimeSeriesStore(directory: directory.path, options: Self.options)
        #expect(reopened.statistics.segments > merged.count)
        #expect(try allRows(reopened) == before)
        #expect(try reopened.maintain(now: Self.base + Self.day + 3_600_000).settledDays == 1)
        #expect(try allRows(reopened) == before)
        #expect(SettleTests.disjoint(reopened.snapshot().segments))
        reopened.close()
    }

    @Test("Segment file names: a sequence in hex, and for a part a dash and its number")
    func fileNames() {
        #expect(Segment.sequence(fileName: "00000000000000ff.seg") == 255)
        #expect(Segment.sequence(fileName: "00000000000000ff-12.seg") == 255)
        #expect(Segment.fileName(sequence: 255, part: 3) == "00000000000000ff-3.seg")
        #expect(Segment.fileName(sequence: 255) == "00000000000000ff.seg")
        for name in ["00ff-.seg", "00ff-1x.seg", "00ff-1-2.seg", "00ff.seg.tmp", "zz.seg", "00ff-1234567.seg"] {
            #expect(Segment.sequence(fileName: name) == nil, "\(name)")
        }
    }

    /// Whether no two segments' series ranges overlap.
    static func disjoint(_ segments: [Segment]) -> Bool {
        let ranges = segments.map { ($0.firstSeries.min()!, $0.lastSeries.max()!) }.sorted { $0.0 < $1.0 }
        return zip(ranges, ranges.dropFirst()).allSatisfy { $0.1 < $1.0 }
    }
}
