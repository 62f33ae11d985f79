import Foundation
import Synchronization
import Testing

@testable import TimeSeries

@Suite("Group commits larger than a log record", .serialized)
struct WALSplitTests {
    static let base: Int64 = 1_714_521_600_000

    @Test("Split records each fit the limit and, replayed in order, give back every series and row")
    func splitFitsAndReplays() throws {
        var newSeries: [(id: UInt32, key: SeriesKey)] = []
        var rows: [StoredRow] = []
        for index in 0..<200 {
            if index % 3 == 0 {
                newSeries.append((UInt32(5 + newSeries.count), sample("CP-\(index)")))
            }
            let seriesID = index % 3 == 0 ? newSeries.last!.id : UInt32(index % 5)
            let value: EventValue =
                index % 7 == 0 ? .text(String(repeating: "t", count: index)) : .number(Double(index))
            rows.append(StoredRow(seriesID: seriesID, timestamp: Self.base + Int64(index * 997), value: value))
        }
        let batch = WALBatch(newSeries: newSeries, rows: rows)
        let limit = 600
        let records = try #require(WALFormat.frames(batch, limit: limit))
        #expect(records.count > 10)
        var replayedSeries: [(id: UInt32, key: SeriesKey)] = []
        var replayedRows: [StoredRow] = []
        for record in records {
            let parsed = record.withUnsafeBytes { WALScan($0, maximumRecordLength: limit) }
            #expect(parsed.damage == nil)
            #expect(record.count - 8 <= limit)
            let part = try #require(parsed.batches.first)
            // Every row of a record names a series defined in it or before it.
            replayedSeries += part.newSeries
            let defined = Set(replayedSeries.map(\.id))
            #expect(part.rows.allSatisfy { $0.seriesID < 5 || defined.contains($0.seriesID) })
            replayedRows += part.rows
        }
        #expect(replayedSeries.map(\.id) == newSeries.map(\.id))
        #expect(replayedRows == rows)
        // A row that cannot fit alone makes no records.
        let huge = StoredRow(seriesID: 0, timestamp: Self.base, value: .text(String(repeating: "x", count: limit)))
        #expect(WALFormat.frames(WALBatch(newSeries: [], rows: [huge]), limit: limit) == nil)
    }

    @Test("A group commit of more than a log record's bytes is kept whole, after a reopening and after a crash")
    func oversizeGroupCommit() throws {
        let directory = try TemporaryDirectory()
        let crashImage = try TemporaryDirectory()
        defer {
            directory.cleanup()
            crashImage.cleanup()
        }
        let text = String(repeating: "m", count: 40 << 20)
        let batches = (0..<2).map { batch in
            [EventRow(series: sample("CP-BIG-\(batch)"), timestamp: Self.base, value: .text(text))]
                + (0..<10).map {
                    EventRow(
                        series: sample("CP-\(batch)"),
                        timestamp: Self.base + Int64($0),
                        value: .number(Double($0))
                    )
                }
        }
        let expected = batches.flatMap { $0 }.sorted { $0.sortKey < $1.sortKey }
        let store = try TimeSeriesStore(directory: directory.path)
        try store.appendBlocking(batches: batches)
        // What a crash leaves: the files as they are while the store is open.
        try FileManager.default.removeItem(atPath: crashImage.path)
        try FileManager.default.copyItem(atPath: directory.path, toPath: crashImage.path)
        #expect(try allRows(store).sorted { $0.sortKey < $1.sortKey } == expected)
        store.close()
        let files = try logFiles(directory)
        #expect(try recordOffsets(files[0]).count >= 2)
        for path in [directory.path, crashImage.path] {
            let reopened = try TimeSeriesStore(directory: path)
            #expect(reopened.recovery.truncatedTails.isEmpty)
            #expect(try allRows(reopened).sorted { $0.sortKey < $1.sortKey } == expected)
            reopened.close()
        }
    }

    @Test("In a group commit, a row too large for any record fails its own append only")
    func oversizedRowInAGroup() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        func rows(_ chargePoint: String, _ count: Int = 5) -> [EventRow] {
            (0..<count).map {
                EventRow(series: sample(chargePoint), timestamp: Self.base + Int64($0), value: .number(Double($0)))
            }
        }
        let store = try TimeSeriesStore(directory: directory.path, options: TimeSeriesOptions(memtableRows: 1))
        let release = DispatchSemaphore(value: 0)
        store.flushHooks.withLock { hooks in
            hooks.beforeWrite = {
                release.wait()
                release.signal()
            }
        }
        // Each append freezes its memtable; after the third the writer waits for the held
        // flusher, so the next appends queue up and are committed as one group.
        for index in 0..<3 { try store.appendBlocking(rows("CP-BEFORE-\(index)")) }
        let huge = [
            EventRow(
                series: sample("CP-HUGE"),
                timestamp: Self.base,
                value: .text(String(repeating: "x", count: 1 << 26))
            )
        ]
        let results = Mutex<[String: Bool]>([:])
        let done = DispatchGroup()
        for (name, batch) in [("first", rows("CP-FIRST")), ("huge", huge), ("last", rows("CP-LAST"))] {
            done.enter()
            store.append(batch) { result in
                results.withLock { $0[name] = (try? result.get()) != nil }
                done.leave()
            }
        }
        release.signal()
        done.wait()
        #expect(results.withLock { $0 } == ["first": true, "huge": false, "last": true])
        store.close()
        let reopened = try TimeSeriesStore(directory: directory.path)
        let chargePoints = Set(try allRows(reopened).map(\.series.chargePointID))
        #expect(chargePoints == ["CP-BEFORE-0", "CP-BEFORE-1", "CP-BEFORE-2", "CP-FIRST", "CP-LAST"])
        reopened.close()
    }
}
