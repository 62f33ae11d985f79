import Foundation
import Synchronization
import Testing

@testable import TimeSeries

@Suite("Time-series store")
struct StoreTests {
    static let base: Int64 = 1_714_521_600_000  // 2024-05-01T00:00:00Z

    @Test("Every value kind round-trips through the WAL, a segment, and a reopening")
    func roundTrip() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let signed = String(repeating: "AP;0;3;ALCV3ABBBIABEZXRHQVqTEZEKAEFOWRO7UFW3QKD2YO4;", count: 90)
        let values: [EventValue] = [
            .sample("1523456.7"), .sample("0012.50"), .sample("1e3"), .sample("-0"), .sample("42"),
            .sample("not a number"), .sample(""), .sample("NaN"), .sample("Ünïcödé ⚡️"), .sample(signed, signed: true),
            .number(0.1), .number(-273.15), .number(1e300), .number(Double.leastNonzeroMagnitude),
            .status(
                StatusEvent(
                    status: "Faulted",
                    errorCode: "GroundFailure",
                    info: "RCD",
                    vendorID: "ACME",
                    vendorErrorCode: "E1"
                )
            ),
            .status(StatusEvent(status: "Available", errorCode: "NoError")),
            .payload(#"{"firmwareStatus":"Installed"}"#),
            // Padded decimals are stored as number and decimal count; the text must come back.
            .sample("15.90"), .sample("-0.50"), .sample("230.0"), .sample("-0.00"), .sample("0.000000100"),
            .sample("1234567890123.40"), .sample("7.0000000000"),
        ]
        #expect(EventValue.sample("1523456.7") == .number(1_523_456.7))
        #expect(EventValue.sample("0012.50") == .numberWithText(12.5, "0012.50"))
        #expect(EventValue.sample("not a number") == .text("not a number"))
        #expect(EventValue.sample("12", signed: true) == .text("12"))
        #expect(EventValue.sample("15.90") == .numberWithText(15.9, "15.90"))
        for (text, decimals) in [("15.90", 2), ("230.0", 1), ("-0.50", 2), ("7", 0), ("0.000000100", 9)] {
            #expect(ValueCodec.fixedDecimals(Double(text)!, text) == decimals, "\(text)")
            #expect(ValueCodec.fixedText(Double(text)!, decimals: decimals) == text)
        }
        for text in ["0012.50", "1e3", "+5", ".5", "5.", "00.5", "1.0000000000", "12345678901234567.5"] {
            #expect(ValueCodec.fixedDecimals(Double(text) ?? 0, text) == nil, "\(text)")
        }

        let rows = values.enumerated().map { index, value in
            EventRow(
                series: sample(format: index == 9 ? "SignedData" : nil),
                timestamp: Self.base + Int64(index),
                value: value
            )
        }
        var store = try TimeSeriesStore(directory: directory.path)
        try store.appendBlocking(rows)
        #expect(try allRows(store) == rows)  // from the memtable
        store.close()

        store = try TimeSeriesStore(directory: directory.path)  // replayed from the WAL
        #expect(store.recovery.replayedRows == rows.count)
        #expect(try allRows(store) == rows)
        try store.flush()
        #expect(store.statistics.segments == 1)
        #expect(store.statistics.memtableRows == 0)
        #expect(try allRows(store) == rows)  // from the segment
        store.close()

        store = try TimeSeriesStore(directory: directory.path)  // segment and dictionary from disk
        #expect(store.recovery.replayedRows == 0)
        #expect(try allRows(store) == rows)
        #expect(try allRows(store)[9].value.text == signed)
        store.close()
    }

    @Test("A later row with the same series and timestamp replaces the earlier one, across sources")
    func lastWriteWins() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path)
        let key = sample()
        try store.appendBlocking([EventRow(series: key, timestamp: Self.base, value: .number(1))])
        try store.flush()
        try store.appendBlocking([EventRow(series: key, timestamp: Self.base, value: .number(2))])
        #expect(try allRows(store).map(\.value) == [.number(2)])
        try store.flush()
        #expect(try allRows(store).map(\.value) == [.number(2)])
        try store.appendBlocking([
            EventRow(series: key, timestamp: Self.base, value: .number(3)),
            EventRow(series: key, timestamp: Self.base, value: .number(4)),
        ])
        #expect(try allRows(store).map(\.value) == [.number(4)])
        store.close()
    }

    @Test("The WAL sync observer hears of every sync the policy makes, and of none under never")
    func walSyncObserver() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let durations = Mutex<[UInt64]>([])
        let store = try TimeSeriesStore(directory: directory.path) { nanoseconds in
            durations.withLock { $0.append(nanoseconds) }
        }
        for index in 0..<3 {
            try store.appendBlocking([
                EventRow(series: sample(), timestamp: Self.base + Int64(index), value: .number(1))
            ])
        }
        store.close()
        #expect(durations.withLock { $0.count } == 3)
        #expect(durations.withLock { $0.allSatisfy { $0 > 0 } })

        let unsynced = try TemporaryDirectory()
        defer { unsynced.cleanup() }
        let never = Mutex(0)
        let quiet = try TimeSeriesStore(directory: unsynced.path, options: TimeSeriesOptions(syncPolicy: .never)) { _ in
            never.withLock { $0 += 1 }
        }
        try quiet.appendBlocking([EventRow(series: sample(), timestamp: Self.base, value: .number(1))])
        #expect(never.withLock { $0 } == 0)
        quiet.close()
    }

    @Test("Queries filter by charge point, connector, transaction, measurand, phase and time; pages resume")
    func queries() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path, options: TimeSeriesOptions(blockRows: 16))
        var rows: [EventRow] = []
        for minute in 0..<60 {
            let time = Self.base + Int64(minute) * 60_000
            for chargePoint in ["CP-A", "CP-B"] {
                rows.append(
                    EventRow(
                        series: sample(chargePoint),
                        timestamp: time,
                        value: .number(Double(minute * 100)),
                        transactionID: 7
                    )
                )
                for phase in ["L1", "L2", "L3"] {
                    rows.append(
                        EventRow(
                            series: sample(chargePoint, measurand: "Current.Import", phase: phase, unit: "A"),
                            timestamp: time,
                            value: .number(16),
                            transactionID: 7
                        )
                    )
                }
            }
        }
        try store.appendBlocking(Array(rows[..<200]))
        try store.flush()
        try store.appendBlocking(Array(rows[200...]))

        let phaseTwo = try store.query(
            EventQuery(chargePointIDs: ["CP-B"], measurands: ["Current.Import"], phases: ["L2"], limit: 1000)
        )
        #expect(phaseTwo.rows.count == 60)
        #expect(phaseTwo.rows.allSatisfy { $0.series.chargePointID == "CP-B" && $0.series.phase == "L2" })
        #expect(phaseTwo.nextCursor == nil)

        let window = try store.query(
            EventQuery(
                chargePointIDs: ["CP-A"],
                measurands: ["Energy.Active.Import.Register"],
                from: Self.base + 600_000,
                to: Self.base + 1_200_000
            )
        )
        #expect(window.rows.map(\.timestamp) == (10..<20).map { Self.base + Int64($0) * 60_000 })

        // Pages of 7, ascending and descending, put together give the whole answer.
        for descending in [false, true] {
            var collected: [EventRow] = []
            var cursor: EventCursor?
            repeat {
                let page = try store.query(
                    EventQuery(chargePointIDs: ["CP-A"], descending: descending, limit: 7, cursor: cursor)
                )
                collected += page.rows
                cursor = page.nextCursor.flatMap { EventCursor($0.description) }
            } while cursor != nil
            #expect(collected.count == 240)
            let times = collected.map(\.timestamp)
            #expect(times == (descending ? times.sorted(by: >) : times.sorted()))
            #expect(Set(collected.map(\.sortKey)).count == 240)
        }

        let none = try store.query(EventQuery(chargePointIDs: ["CP-Z"]))
        #expect(none.rows.isEmpty)
        #expect(try store.query(EventQuery(transactionID: 8)).rows.isEmpty)
        #expect(try store.query(EventQuery(connectorID: 1, transactionID: 7)).rows.count == 480)
        store.close()
    }

    @Test("Blocks that cannot match are skipped without being decompressed")
    func pruning() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path, options: TimeSeriesOptions(blockRows: 100))
        // 50 chargers x 1 series x 200 samples: 10,000 rows, sorted by series, so 100 blocks,
        // each holding one or two chargers.
        var rows: [EventRow] = []
        for charger in 0..<50 {
            for index in 0..<200 {
                rows.append(
                    EventRow(
                        series: sample("CP-\(charger)"),
                        timestamp: Self.base + Int64(index) * 1000,
                        value: .number(Double(index))
                    )
                )
            }
        }
        try store.appendBlocking(rows)
        try store.flush()
        let before = store.statistics
        #expect(before.segmentRows == 10_000)

        let one = try store.query(EventQuery(chargePointIDs: ["CP-17"], limit: 1000))
        #expect(one.rows.count == 200)
        let afterSeries = store.statistics
        let decodedForSeries = afterSeries.blocksDecoded - before.blocksDecoded
        #expect(decodedForSeries >= 2 && decodedForSeries <= 3, "decoded \(decodedForSeries) blocks")
        #expect(afterSeries.blocksSkipped - before.blocksSkipped >= 97)

        // A time range outside the data reads nothing.
        _ = try store.query(EventQuery(from: Self.base + 10_000_000))
        #expect(store.statistics.blocksDecoded == afterSeries.blocksDecoded)
        store.close()
    }

    @Test("Aggregates per bucket, latest values and a transaction's first and last sample")
    func aggregates() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path)
        let energy = sample()
        let rows = (0..<120).map { minute in
            EventRow(
                series: energy,
                timestamp: Self.base + Int64(minute) * 60_000,
                value: .number(1000 + Double(minute) * 10),
                transactionID: 42
            )
        }
        try store.appendBlocking(Array(rows[..<70]))
        try store.flush()
        try store.appendBlocking(
            Array(rows[70...]) + [
                EventRow(series: sample(unit: "kWh", format: "SignedData"), timestamp: Self.base, value: .text("sig"))
            ]
        )

        let hourly = try store.aggregate(EventQuery(transactionID: 42), bucketMilliseconds: 3_600_000)
        #expect(hourly.count == 2)
        #expect(hourly[0].start == Self.base)
        #expect(hourly[0].count == 60)
        #expect(hourly[0].first == 1000)
        #expect(hourly[0].last == 1590)
        #expect(hourly[0].minimum == 1000)
        #expect(hourly[0].maximum == 1590)
        let expectedSum: Double = (0..<60).reduce(0.0) { total, minute in total + 1000 + Double(minute) * 10 }
        #expect(hourly[0].sum == expectedSum)
        #expect(hourly[1].average == (1600 + 2190) / 2)
        // Text rows are not aggregated.
        #expect(try store.aggregate(EventQuery(), bucketMilliseconds: 86_400_000).map(\.count) == [120])

        let latest = try store.latest(EventQuery(chargePointIDs: ["CP-1"]))
        #expect(latest.count == 2)
        #expect(latest.contains { $0.timestamp == Self.base + 119 * 60_000 && $0.value == .number(2190) })

        let bounds = try #require(try store.transactionBounds(chargePointID: "CP-1", transactionID: 42))
        #expect(bounds.first.value.number == 1000)
        #expect(bounds.last.value.number == 2190)
        #expect(try store.transactionBounds(chargePointID: "CP-1", transactionID: 43) == nil)
        store.close()
    }

    @Test("Compaction merges a day's segments; retention drops old days")
    func compactionAndRetention() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(
            directory: directory.path,
            options: TimeSeriesOptions(retentionDays: 30, compactionThreshold: 3)
        )
        let day: Int64 = 86_400_000
        var expected: [EventRow] = []
        for flush in 0..<4 {
            let rows = (0..<50).map { index in
                EventRow(
                    series: sample(),
                    timestamp: Self.base + Int64(flush * 50 + index) * 1000,
                    value: .number(Double(index))
                )
            }
            expected += rows
            try store.appendBlocking(rows)
            try store.flush()
        }
        let old = EventRow(series: sample(), timestamp: Self.base - 40 * day, value: .number(1))
        try store.appendBlocking([old])
        try store.flush()
        #expect(store.statistics.segments == 5)
        try store.compact()
        #expect(store.statistics.segments == 2)
        #expect(try allRows(store) == [old] + expected)

        try store.applyRetention(now: Self.base + day / 2)
        #expect(store.statistics.segments == 1)
        #expect(try allRows(store) == expected)
        store.close()
        let reopened = try TimeSeriesStore(directory: directory.path)
        #expect(try allRows(reopened) == expected)
        reopened.close()
    }

    @Test("Concurrent appends share syncs and all arrive; readers see whole batches")
    func concurrentAppends() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path, options: TimeSeriesOptions(memtableRows: 500))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    for batch in 0..<25 {
                        let rows = (0..<10).map { index in
                            EventRow(
                                series: sample("CP-\(writer)"),
                                timestamp: Self.base + Int64(batch * 10 + index),
                                value: .number(Double(index))
                            )
                        }
                        try await store.append(rows)
                    }
                }
            }
            group.addTask {
                for _ in 0..<20 {
                    let count = try allRows(store).count
                    #expect(count % 10 == 0)
                }
            }
            try await group.waitForAll()
        }
        #expect(try allRows(store).count == 2000)
        store.close()
    }
}

@Suite("Sample values")
struct SampleValueTests {
    @Test("The plain-decimal fast path agrees with parsing and printing, on many texts")
    func fastPathAgrees() {
        var generator = SystemRandomNumberGenerator()
        var texts = [
            "0", "-0", "5", "-5", "0.5", "0.05", "0.005", "0.0005", "0.00005", "12.5", "12.50", "0012.5", "1e3", "1.",
            ".5", "-.5", "+5", "5.0", "999999999999999", "1000000000000000", "99999999999999.9", "9999999999999.99",
            "123456789012345", "1234567890123456", "0.1", "0.2", "0.3", "2.675", "1.005", "-230.4", "00", "-",
            "", "1.2.3", "1,5", " 1", "1 ", "9007199254740993", "0.001", "0.0011", "4503599627370497.5",
            "99999999999999999999", "18446744073709551617", "0.000000000000000000001", "230.0", "0.0", "-0.0",
            "0.00", "-0.000", "100.10", "0.00050", "0.0000000000000000010", "999999999999999.0", "1.000000000000000000",
        ]
        for _ in 0..<20_000 {
            let integer = String(Int.random(in: 0...999_999_999, using: &generator))
            let fraction = String(Int.random(in: 0...99_999, using: &generator))
            let sign = Bool.random(using: &generator) ? "-" : ""
            let zeros = String(repeating: "0", count: Int.random(in: 0...4, using: &generator))
            texts.append(sign + integer)
            texts.append(sign + integer + "." + fraction)
            texts.append(sign + "0." + zeros + fraction)
            texts.append(sign + integer + "." + fraction + zeros + "0")
            texts.append(String(Double.random(in: -1e6...1e6, using: &generator)))
        }
        for text in texts {
            #expect(EventValue.sample(text) == EventValue.generalSample(text), "\(text)")
        }
        // The fast path does take the common texts, and leaves the others.
        #expect(EventValue.plainDecimal("1234.5")! == (1234.5, true))
        #expect(EventValue.plainDecimal("-230")! == (-230, true))
        #expect(EventValue.plainDecimal("12.50")! == (12.5, false))
        #expect(EventValue.plainDecimal("230.0")! == (230, false))
        #expect(EventValue.plainDecimal("0012.5") == nil)
        #expect(EventValue.plainDecimal("0.0005") == nil)
    }
}
