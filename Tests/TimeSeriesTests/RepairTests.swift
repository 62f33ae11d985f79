import Foundation
import Testing

@testable import TimeSeries

@Suite("Repair of a damaged store", .serialized)
struct RepairTests {
    static let base: Int64 = 1_714_521_600_000

    func rows(_ range: Range<Int>, series: SeriesKey = sample()) -> [EventRow] {
        range.map { EventRow(series: series, timestamp: Self.base + Int64($0) * 1000, value: .number(Double($0))) }
    }

    func quarantined(_ report: TimeSeriesRepairReport, _ path: String) throws -> Data {
        let loss = try #require(report.losses.first { $0.path == path })
        #expect(loss.quarantined.hasPrefix(try #require(report.quarantine)))
        return try Data(contentsOf: URL(fileURLWithPath: loss.quarantined))
    }

    @Test("A bad record in the log: repair keeps the records around it and the original, and the store opens")
    func badLogRecord() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        var store = try TimeSeriesStore(directory: directory.path)
        for batch in 0..<5 { try store.appendBlocking(rows(batch * 10..<batch * 10 + 10)) }
        store.close()
        let file = try logFiles(directory)[0]
        let offsets = try recordOffsets(file)
        try flipByte(file, at: offsets[1] + 12)
        let damaged = try Data(contentsOf: URL(fileURLWithPath: file))
        #expect(throws: TimeSeriesDamageError.self) { try TimeSeriesStore(directory: directory.path) }

        let report = try TimeSeriesRepair.repair(directory: directory.path)
        let loss = try #require(report.losses.first)
        #expect(report.losses.count == 1)
        #expect(loss.path == file)
        #expect(loss.ranges == [offsets[1]..<offsets[2]])
        #expect(try quarantined(report, file) == damaged)
        #expect(report.quarantine?.hasPrefix(directory.path + "/quarantine/") == true)
        #expect(report.keptLogRows == 40)
        #expect(report.description.contains("\(file) (bytes \(offsets[1])..<\(offsets[2]))"))

        store = try TimeSeriesStore(directory: directory.path)
        #expect(store.recovery.truncatedTails.isEmpty)
        #expect(try allRows(store) == rows(0..<10) + rows(20..<50))
        store.close()
        let again = try TimeSeriesRepair.repair(directory: directory.path)
        #expect(again.quarantine == nil)
        #expect(again.description.hasPrefix("Nothing to repair"))
    }

    @Test("Series defined after a lost record keep their rows under new ids, read back by key")
    func renumbersSeriesAfterALoss() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let (a, b, c) = (sample("CP-A"), sample("CP-B"), sample("CP-C"))
        var store = try TimeSeriesStore(directory: directory.path)
        try store.appendBlocking(rows(0..<10, series: a))
        try store.appendBlocking(rows(10..<20, series: b))  // defines B: this record is damaged
        try store.appendBlocking(rows(20..<30, series: c) + rows(30..<40, series: a))
        store.close()
        let file = try logFiles(directory)[0]
        try flipByte(file, at: try recordOffsets(file)[1] + 12)
        let report = try TimeSeriesRepair.repair(directory: directory.path)
        #expect(report.keptLogRows == 30)
        store = try TimeSeriesStore(directory: directory.path)
        #expect(
            Set(try allRows(store))
                == Set(rows(0..<10, series: a) + rows(20..<30, series: c) + rows(30..<40, series: a))
        )
        try store.flush()
        store.close()
        store = try TimeSeriesStore(directory: directory.path)
        #expect(try store.query(EventQuery(chargePointIDs: ["CP-C"], limit: 100)).rows == rows(20..<30, series: c))
        store.close()
    }

    @Test("A damaged dictionary and segments: repair keeps what reads, sets the rest aside, and the store opens")
    func dictionaryAndSegments() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let (a, b) = (sample("CP-A"), sample("CP-B"))
        var store = try TimeSeriesStore(directory: directory.path, options: TimeSeriesOptions(blockRows: 10))
        try store.appendBlocking(rows(0..<10, series: a))
        try store.flush()
        try store.appendBlocking(rows(10..<20, series: b))
        try store.flush()
        try store.appendBlocking(rows(20..<30, series: a))
        try store.flush()
        store.close()
        let dictionary = directory.path + "/series.dict"
        let segments = try FileManager.default.subpathsOfDirectory(atPath: directory.path + "/segments")
            .filter { $0.hasSuffix(".seg") }.sorted().map { directory.path + "/segments/" + $0 }
        #expect(segments.count == 3)
        try flipByte(dictionary, at: try recordOffsets(dictionary)[1] + 10)  // B's definition
        try flipByte(segments[2], at: 20)  // a block of the third segment
        #expect(throws: TimeSeriesDamageError.self) { try TimeSeriesStore(directory: directory.path) }

        let report = try TimeSeriesRepair.repair(directory: directory.path)
        #expect(Set(report.losses.map(\.path)) == [dictionary, segments[1], segments[2]])
        #expect(!FileManager.default.fileExists(atPath: segments[1]))
        #expect(try quarantined(report, segments[2]).count > 0)
        #expect(report.description.contains("refer to series whose definitions were lost"))
        store = try TimeSeriesStore(directory: directory.path)
        #expect(try allRows(store) == rows(0..<10, series: a))
        #expect(store.statistics.corruptSegments.isEmpty)
        store.close()
    }

    @Test("A segment with a damaged block is rewritten with its other blocks; the lost rows are counted")
    func damagedBlock() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        var store = try TimeSeriesStore(directory: directory.path, options: TimeSeriesOptions(blockRows: 10))
        try store.appendBlocking(rows(0..<50))
        try store.flush()
        store.close()
        let segment = try #require(
            try FileManager.default.subpathsOfDirectory(atPath: directory.path + "/segments")
                .first { $0.hasSuffix(".seg") }
        )
        let path = directory.path + "/segments/" + segment
        try flipByte(path, at: 20)  // in the first block
        let report = try TimeSeriesRepair.repair(directory: directory.path)
        let loss = try #require(report.losses.first)
        #expect(loss.path == path)
        #expect(loss.detail.contains("10 of its 50 rows cannot be read"))
        #expect(loss.ranges.count == 1)
        store = try TimeSeriesStore(directory: directory.path, options: TimeSeriesOptions(blockRows: 10))
        #expect(try allRows(store) == rows(10..<50))
        #expect(store.statistics.corruptSegments.isEmpty)
        store.close()
    }
}
