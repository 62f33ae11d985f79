import Foundation
import Synchronization
import Testing

@testable import TimeSeries

/// The transaction as an attribute of each row: one series across a connector's sessions,
/// queries by session exact to the row, rows identified by (series, timestamp, transaction),
/// and blocks skipped by the transactions their footer entry lists.
@Suite("Transactions as row attributes")
struct TransactionTests {
    static let base: Int64 = 1_780_000_000_000
    static let minute: Int64 = 60_000

    static let energy = sample("CP-1")
    static let power = sample("CP-1", measurand: "Power.Active.Import", unit: "W")

    /// A session's samples: energy and power each minute from `start` for `minutes` minutes,
    /// the last one at `start + minutes` (where the next session may start).
    static func session(_ transaction: Int, start: Int64, minutes: Int, energy watthours: Double) -> [EventRow] {
        (0...minutes).flatMap { index in
            let time = start + Int64(index) * minute
            return [
                EventRow(
                    series: energy,
                    timestamp: time,
                    value: .number(watthours + Double(index * 100)),
                    transactionID: transaction
                ),
                EventRow(
                    series: power,
                    timestamp: time,
                    value: .number(Double(7000 + index)),
                    transactionID: transaction
                ),
            ]
        }
    }

    @Test("A connector's sessions share its series: the series count equals the identities")
    func oneSeriesAcrossSessions() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        var store = try TimeSeriesStore(directory: directory.path)
        for transaction in 1...50 {
            try store.appendBlocking(
                Self.session(
                    transaction,
                    start: Self.base + Int64(transaction) * 10 * Self.minute,
                    minutes: 5,
                    energy: 0
                )
            )
            if transaction % 20 == 0 { try store.flush() }
        }
        try store.appendBlocking([
            EventRow(
                series: SeriesKey(chargePointID: "CP-1", connectorID: 1, kind: .status),
                timestamp: Self.base,
                value: .status(StatusEvent(status: "Charging", errorCode: "NoError"))
            )
        ])
        #expect(store.statistics.seriesCount == 3)
        store.close()
        store = try TimeSeriesStore(directory: directory.path)
        #expect(store.statistics.seriesCount == 3)
        #expect(try allRows(store).count == 50 * 12 + 1)
        #expect(try store.query(EventQuery(transactionID: 37, limit: .max)).rows.count == 12)
        store.close()
    }

    @Test(
        "Sessions that abut at one millisecond and interleave read back exactly per session, in memory and in segments"
    )
    func sessionsAbutAndInterleave() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path, options: TimeSeriesOptions(blockRows: 8))
        // 1 stops the millisecond 2 starts; 3 (a charger that kept sending an old id) overlaps 2.
        let first = Self.session(1, start: Self.base, minutes: 10, energy: 1000)
        let second = Self.session(2, start: Self.base + 10 * Self.minute, minutes: 10, energy: 2000)
        let third = Self.session(3, start: Self.base + 15 * Self.minute, minutes: 3, energy: 5000)
        let expected: [Int: [EventRow]] = [1: first, 2: second, 3: third]
        try store.appendBlocking(first)
        try store.appendBlocking(second + third)
        func check(_ stage: String) throws {
            for (transaction, rows) in expected {
                let answer = try store.query(EventQuery(transactionID: transaction, limit: .max)).rows
                #expect(
                    answer.sorted { $0.sortKey < $1.sortKey } == rows.sorted { $0.sortKey < $1.sortKey },
                    "\(stage)"
                )
                let bounds = try #require(
                    try store.transactionBounds(chargePointID: "CP-1", transactionID: transaction)
                )
                #expect(bounds.first.value == rows.first!.value, "\(stage)")
                #expect(bounds.last.value == rows[rows.count - 2].value, "\(stage)")
                let hourly = try store.aggregate(
                    EventQuery(transactionID: transaction, measurands: ["Energy.Active.Import.Register"]),
                    bucketMilliseconds: 3_600_000
                )
                #expect(hourly.map(\.count) == [rows.count / 2], "\(stage)")
            }
            // At the millisecond 1 stops and 2 starts, both rows of each series.
            let boundary = try store.query(
                EventQuery(from: Self.base + 10 * Self.minute, to: Self.base + 10 * Self.minute + 1, limit: .max)
            ).rows
            #expect(boundary.map(\.transactionID) == [1, 2, 1, 2] || boundary.map(\.transactionID) == [2, 1, 2, 1])
            #expect(try allRows(store).count == first.count + second.count + third.count, "\(stage)")
        }
        try check("memtable")
        try store.flush()
        try check("segments")
        try store.appendBlocking(Self.session(2, start: Self.base + 10 * Self.minute, minutes: 0, energy: 2000))
        try check("segments and memtable")
        try store.compact()
        try check("compacted")
        store.close()
    }

    @Test("A row replaces only the row of the same series, timestamp and transaction")
    func deduplication() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        var store = try TimeSeriesStore(directory: directory.path)
        func row(_ transaction: Int?, _ value: Double) -> EventRow {
            EventRow(series: Self.energy, timestamp: Self.base, value: .number(value), transactionID: transaction)
        }
        // In one append, in the memtable, across a flush, and after reopening (the log replayed).
        try store.appendBlocking([row(1, 10), row(nil, 20), row(2, 30), row(1, 11)])
        try store.flush()
        try store.appendBlocking([row(2, 31), row(3, 40)])
        func values() throws -> [String] {
            try allRows(store).map { "\($0.transactionID.map(String.init) ?? "-")=\($0.value.number ?? .nan)" }
        }
        let expected = ["-=20.0", "1=11.0", "2=31.0", "3=40.0"]
        #expect(try values() == expected)
        store.close()
        store = try TimeSeriesStore(directory: directory.path)
        #expect(try values() == expected)
        try store.flush()
        try store.compact()
        #expect(try values() == expected)
        // Latest per series: the last of (timestamp, transaction).
        #expect(try store.latest(EventQuery()).map(\.transactionID) == [3])
        #expect(try store.latest(EventQuery(transactionID: 1)).map(\.value) == [.number(11)])
        store.close()
    }

    @Test("Pages resume at (timestamp, series, transaction); old two-part tokens still parse")
    func cursors() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path)
        var rows: [EventRow] = []
        for index in 0..<6 {
            for transaction in [nil, 5, -3, 9] as [Int?] {
                rows.append(
                    EventRow(
                        series: Self.energy,
                        timestamp: Self.base + Int64(index),
                        value: .number(Double(index)),
                        transactionID: transaction
                    )
                )
            }
        }
        try store.appendBlocking(rows)
        for descending in [false, true] {
            var collected: [EventRow] = []
            var cursor: EventCursor?
            repeat {
                let page = try store.query(EventQuery(descending: descending, limit: 3, cursor: cursor))
                collected += page.rows
                cursor = try page.nextCursor.map { try #require(EventCursor($0.description)) }
            } while cursor != nil
            #expect(collected.count == 24)
            #expect(Set(collected.map(\.sortKey)).count == 24)
            let order = collected.map { "\($0.timestamp) \($0.transactionID.map(String.init) ?? "-")" }
            let ascending = (0..<6).flatMap { index in
                ["-", "-3", "5", "9"].map { "\(Self.base + Int64(index)) \($0)" }
            }
            #expect(order == (descending ? ascending.reversed() : ascending))
        }
        #expect(EventCursor("17.4") == EventCursor(timestamp: 17, seriesID: 4))
        #expect(EventCursor("17.4.-3") == EventCursor(timestamp: 17, seriesID: 4, transactionID: -3))
        #expect(EventCursor(timestamp: 17, seriesID: 4, transactionID: -3).description == "17.4.-3")
        #expect(EventCursor("17.4.") == nil && EventCursor("17") == nil && EventCursor("17.4.x") == nil)
        store.close()
    }

    @Test("A query by transaction decodes only the blocks whose footer lists it")
    func footerPruning() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path, options: TimeSeriesOptions(blockRows: 10))
        // 20 sessions of 10 energy samples: rows sorted by (series, time), one session a block.
        var rows: [EventRow] = []
        for transaction in 1...20 {
            for index in 0..<10 {
                rows.append(
                    EventRow(
                        series: Self.energy,
                        timestamp: Self.base + Int64(transaction * 100 + index) * 1000,
                        value: .number(Double(index)),
                        transactionID: transaction
                    )
                )
            }
        }
        try store.appendBlocking(rows)
        try store.flush()
        let segment = try #require(store.state.withLock { $0.segments.first })
        #expect(segment.blocks.count == 20)
        #expect(segment.blocks.map(\.transactionIDs) == (1...20).map { [$0] })
        let before = store.statistics
        let answer = try store.query(EventQuery(transactionID: 7, limit: .max)).rows
        #expect(answer.count == 10 && answer.allSatisfy { $0.transactionID == 7 })
        let after = store.statistics
        #expect(after.blocksDecoded - before.blocksDecoded == 1)
        #expect(after.blocksSkipped - before.blocksSkipped == 19)
        #expect(try store.query(EventQuery(transactionID: 21)).rows.isEmpty)
        #expect(store.statistics.blocksDecoded == after.blocksDecoded)
        store.close()
    }

    @Test("Transaction codes round-trip every id, and order none first")
    func transactionCodes() throws {
        var writer = ByteWriter()
        let transactions: [Int?] = [nil, 0, 1, -1, 42, -42, Int.max, Int.min, nil]
        for transaction in transactions { TransactionCode.write(transaction, to: &writer) }
        #expect(writer.bytes.count < 40)
        let read = try writer.bytes.withUnsafeBytes { bytes throws in
            var reader = ByteReader(bytes)
            let read = try transactions.map { _ in try TransactionCode.read(from: &reader) }
            #expect(reader.isAtEnd)
            return read
        }
        #expect(read == transactions)
        #expect(TransactionCode.precedes(nil, Int.min) && !TransactionCode.precedes(nil, nil))
        #expect(TransactionCode.precedes(-1, 0) && !TransactionCode.precedes(0, nil))
    }
}
