import Foundation
import Testing

@testable import TimeSeries

@Suite("Rows by series id")
struct ResolvedRowsTests {
    static let base: Int64 = 1_714_521_600_000  // 2024-05-01T00:00:00Z

    @Test("A series has an id once its first rows are written; rows by id read back as rows by key")
    func resolvedRows() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        var store = try TimeSeriesStore(directory: directory.path)
        let energy = sample("CP-R", measurand: "Energy.Active.Import.Register")
        let power = sample("CP-R", measurand: "Power.Active.Import", unit: "W")
        #expect(store.seriesID(of: energy) == nil)

        let keyed = [
            EventRow(series: energy, timestamp: Self.base, value: .number(1)),
            EventRow(series: power, timestamp: Self.base, value: .number(7400)),
        ]
        try store.appendBlocking([.keyed(keyed)])
        let energyID = try #require(store.seriesID(of: energy))
        let powerID = try #require(store.seriesID(of: power))
        #expect(energyID != powerID)
        // An equal key built anew names the same series.
        #expect(store.seriesID(of: sample("CP-R", measurand: "Energy.Active.Import.Register")) == energyID)

        // Keyed and resolved batches in one append, in order.
        try store.appendBlocking([
            .resolved([
                StoredRow(seriesID: energyID, timestamp: Self.base + 1000, value: .number(2)),
                StoredRow(seriesID: powerID, timestamp: Self.base + 1000, value: .sample("7300.5")),
            ]),
            .keyed([EventRow(series: energy, timestamp: Self.base + 2000, value: .number(3))]),
        ])
        let expected =
            keyed + [
                EventRow(series: energy, timestamp: Self.base + 1000, value: .number(2)),
                EventRow(series: power, timestamp: Self.base + 1000, value: .sample("7300.5")),
                EventRow(series: energy, timestamp: Self.base + 2000, value: .number(3)),
            ]
        let sorted = { (rows: [EventRow]) in rows.sorted { ($0.timestamp, $0.series) < ($1.timestamp, $1.series) } }
        #expect(sorted(try allRows(store)) == sorted(expected))

        // The same after a reopening (the WAL) and after a flush (the segments).
        store.close()
        store = try TimeSeriesStore(directory: directory.path)
        #expect(sorted(try allRows(store)) == sorted(expected))
        #expect(store.seriesID(of: power) == powerID)
        try store.flush()
        #expect(sorted(try allRows(store)) == sorted(expected))
        store.close()
    }

    @Test("An id the store never gave out fails the whole append, and nothing of it is kept")
    func unknownID() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path)
        defer { store.close() }
        let energy = sample("CP-U")
        try store.appendBlocking([.keyed([EventRow(series: energy, timestamp: Self.base, value: .number(1))])])
        let id = try #require(store.seriesID(of: energy))
        #expect(throws: TimeSeriesError.self) {
            try store.appendBlocking([
                .keyed([EventRow(series: energy, timestamp: Self.base + 1, value: .number(2))]),
                .resolved([StoredRow(seriesID: id + 1, timestamp: Self.base + 2, value: .number(3))]),
            ])
        }
        #expect(try allRows(store).map(\.timestamp) == [Self.base])
        // The store goes on.
        try store.appendBlocking([.resolved([StoredRow(seriesID: id, timestamp: Self.base + 3, value: .number(4))])])
        #expect(try allRows(store).map(\.timestamp) == [Self.base, Self.base + 3])
    }
}
