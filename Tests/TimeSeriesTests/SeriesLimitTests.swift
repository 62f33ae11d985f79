import Foundation
import Testing
import TimeSeries

/// The limit on series per charge point: a series has no transaction (it is the rows'), so
/// charging sessions do not use it up; a batch that would pass it is refused whole, and the
/// count survives reopening.
@Suite("Series limit per charge point")
struct SeriesLimitTests {
    static let base: Int64 = 1_780_000_000_000

    func row(_ key: SeriesKey, _ offset: Int64, _ value: Double = 1, transaction: Int? = nil) -> EventRow {
        EventRow(series: key, timestamp: Self.base + offset, value: .number(value), transactionID: transaction)
    }

    /// Three series of CP-1: energy, power and a status.
    func identities() -> [SeriesKey] {
        [
            sample("CP-1"),
            sample("CP-1", measurand: "Power.Active.Import", unit: "W"),
            SeriesKey(chargePointID: "CP-1", connectorID: 1, kind: .status),
        ]
    }

    /// A session's rows of the three series (the status without the transaction).
    func sessionRows(_ transaction: Int, at offset: Int64) -> [EventRow] {
        identities().enumerated().map { index, key in
            row(key, offset + Int64(index), transaction: key.kind == .sample ? transaction : nil)
        }
    }

    func open(_ directory: TemporaryDirectory, limit: Int? = 3) throws -> TimeSeriesStore {
        try TimeSeriesStore(directory: directory.path, options: TimeSeriesOptions(maximumSeriesPerChargePoint: limit))
    }

    @Test("New transactions reuse the identities; a new identity past the limit is refused whole, also after reopening")
    func limitHolds() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        var store = try open(directory)
        // A hundred sessions of the same three series: 3 series (format version 1 made 201,
        // one per key and transaction).
        for transaction in 1...100 {
            try store.appendBlocking(sessionRows(transaction, at: Int64(transaction * 10)))
        }
        #expect(store.statistics.seriesCount == 3)
        let newIdentity = sample("CP-1", phase: "L1")
        // One known series and one new: nothing of the batch is stored.
        #expect(throws: SeriesLimitExceeded.self) {
            try store.appendBlocking([
                row(identities()[0], 5000, transaction: 101), row(newIdentity, 5001, transaction: 101),
            ])
        }
        #expect(try allRows(store).count == 300)
        // Another charge point has a limit of its own.
        try store.appendBlocking([row(sample("CP-2", phase: "L1"), 1), row(sample("CP-2", phase: "L2"), 1)])

        // Reopened: the count is recomputed from the dictionary.
        try store.flush()
        store.close()
        store = try open(directory)
        do {
            try store.appendBlocking([row(newIdentity, 6000)])
            Issue.record("a fourth identity was stored after reopening")
        } catch let refusal as SeriesLimitExceeded {
            #expect(refusal.chargePointID == "CP-1")
            #expect(refusal.limit == 3)
            #expect(refusal.series == newIdentity)
            #expect(refusal.description.contains("phase L1"))
        }
        try store.appendBlocking(identities().map { row($0, 7000, transaction: $0.kind == .sample ? 102 : nil) })
        #expect(try allRows(store).count == 305)
        #expect(try store.query(EventQuery(transactionID: 102, limit: 10)).rows.count == 2)
        // Without the limit, the same store takes it.
        store.close()
        store = try open(directory, limit: nil)
        try store.appendBlocking([row(newIdentity, 8000)])
        #expect(try allRows(store).count == 306)
        store.close()
    }

    @Test("In one append, only the batch that passes the limit is left out, and ids stay dense")
    func refusedBatchOfMany() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        var store = try open(directory)
        let keys = identities()
        let refused = try store.appendBlocking([
            .keyed([row(keys[0], 1), row(keys[1], 1)]),
            // Two new identities where one is left: refused, though the first would fit alone.
            .keyed([row(keys[2], 2), row(sample("CP-1", phase: "L1"), 2)]),
            .keyed([row(keys[2], 3)]),
            .keyed([row(sample("CP-9"), 4)]),
        ])
        #expect(Array(refused.keys) == [1])
        #expect(refused[1]?.series == sample("CP-1", phase: "L1"))
        let stored = try allRows(store).map(\.timestamp).sorted()
        #expect(stored == [Self.base + 1, Self.base + 1, Self.base + 3, Self.base + 4])
        #expect(store.statistics.seriesCount == 4)
        // Every batch refused: nothing is written, and nothing fails.
        let allRefused = try store.appendBlocking([.keyed([row(sample("CP-1", phase: "L2"), 9)])])
        #expect(allRefused.count == 1)
        store.close()
        store = try open(directory)
        #expect(try allRows(store).map(\.timestamp).sorted() == stored)
        #expect(try store.query(EventQuery(chargePointIDs: ["CP-9"])).rows.map(\.series) == [sample("CP-9")])
        store.close()
    }

    @Test("A refused batch leaves no id of its new series cached for the key objects it used")
    func noStaleCachedIDs() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try open(directory, limit: 2)
        try store.appendBlocking([row(sample("CP-1"), 0)])
        // One key object, twice in the refused batch (the second row finds the id the first
        // was given), then a third identity past the limit.
        let reused = sample("CP-1", phase: "L1")
        #expect(throws: SeriesLimitExceeded.self) {
            try store.appendBlocking([row(reused, 1), row(reused, 2), row(sample("CP-1", phase: "L2"), 3)])
        }
        // Another series takes the id the refused batch had given; then the reused object again.
        try store.appendBlocking([row(sample("CP-2"), 4)])
        try store.appendBlocking([row(reused, 5)])
        let stored = try allRows(store).map {
            "\($0.series.chargePointID) \($0.series.phase ?? "-") \($0.timestamp - Self.base)"
        }
        #expect(stored.sorted() == ["CP-1 - 0", "CP-1 L1 5", "CP-2 - 4"])
        store.close()
    }

    @Test("An async append past the limit fails with the refusal and stores nothing")
    func asyncAppend() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try open(directory, limit: 1)
        try await store.append([row(sample("CP-1"), 1, transaction: 1)])
        try await store.append([row(sample("CP-1"), 2, transaction: 2)])
        await #expect(throws: SeriesLimitExceeded.self) {
            try await store.append([row(sample("CP-1", phase: "L3"), 3, transaction: 2)])
        }
        #expect(try allRows(store).count == 2)
        store.close()
    }
}
