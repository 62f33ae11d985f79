import Foundation
import TestSupport
import Testing
import TimeSeries

@testable import API

/// The cluster's history merge against a simple model, on real stores (one per node) without
/// a network: paging with merged cursors gives each row once, in the cluster's order, at any
/// page size; buckets combine to what one store holding every row answers.
@Suite("Cluster history merge")
struct ClusterHistoryMergeTests {
    /// A seeded generator: a failure replays from its seed.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        init(_ seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Runs `body` with `count` empty stores, closed and removed afterwards.
    static func withStores(_ count: Int, _ body: ([TimeSeriesStore]) throws -> Void) throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cluster-merge-\(UUID())")
        defer { try? FileManager.default.removeItem(at: root) }
        let stores = try (0..<count).map { index in
            try TimeSeriesStore(directory: root.appendingPathComponent("node-\(index)").path)
        }
        defer { for store in stores { store.close() } }
        try body(stores)
    }

    /// Every row of `stores` for the query, in the cluster's order: a row held by several
    /// stores once, from the first.
    static func model(_ stores: [TimeSeriesStore], _ query: EventQuery) throws -> [EventRow] {
        struct Identity: Hashable {
            var series: SeriesKey
            var timestamp: Int64
            var transactionID: Int?
        }
        var seen = Set<Identity>()
        var rows: [EventRow] = []
        for store in stores {
            var all = query
            all.limit = Int.max
            all.descending = false
            for row in try store.query(all).rows
            where seen.insert(Identity(series: row.series, timestamp: row.timestamp, transactionID: row.transactionID))
                .inserted
            {
                rows.append(row)
            }
        }
        func position(_ row: EventRow) -> (ClusterCursor, [UInt8]) {
            let identity = SeriesIdentity(row.series)
            return (
                ClusterCursor(timestamp: row.timestamp, digest: identity.digest, transactionID: row.transactionID),
                identity.bytes
            )
        }
        let ascending = rows.sorted { lhs, rhs in
            let (left, right) = (position(lhs), position(rhs))
            if left.0 != right.0 { return ClusterCursor.ascending(left.0, right.0) }
            return left.1.lexicographicallyPrecedes(right.1)
        }
        return query.descending ? ascending.reversed() : ascending
    }

    /// A row in a line: what a failure shows.
    static func text(_ row: EventRow) -> String {
        let series = [row.series.measurand, row.series.phase].map { $0 ?? "-" }.joined(separator: "/")
        return "\(row.timestamp) c\(row.series.connectorID) \(series) tx\(row.transactionID.map(String.init) ?? "-") "
            + row.value.text
    }

    /// Every page of `request`, following the merged cursor; each node's shard also goes
    /// through the internal route's encoding and back.
    static func pages(_ stores: [TimeSeriesStore], _ request: ClusterHistoryRequest) throws -> [[EventRow]] {
        var pages: [[EventRow]] = []
        var request = request
        while true {
            let shards = try stores.map { store in
                let shard = try request.rows(from: store)
                let encoded = try JSONEncoder().encode(ClusterHistoryAnswer(shard))
                return try JSONDecoder().decode(ClusterHistoryAnswer.self, from: encoded).shard()
            }
            let (rows, next) = ClusterHistoryMerge.page(shards, limit: request.limit, descending: request.descending)
            pages.append(rows)
            guard let next else { return pages }
            if rows.isEmpty || pages.count > 10_000 { throw TestFailure("paging does not advance") }
            request.after = next
        }
    }

    @Test(
        "Paging across nodes gives every row once, in order, at any page size",
        arguments: [1, 2, 3, 4, 5] as [UInt64]
    )
    func differential(seed: UInt64) throws {
        var random = SplitMix(seed)
        try Self.withStores(3) { stores in
            let measurands = ["Energy.Active.Import.Register", "Power.Active.Import", "Voltage", "Current.Import"]
            func sample() -> EventRow {
                let key = SeriesKey(
                    chargePointID: "CP",
                    connectorID: Int.random(in: 1...2, using: &random),
                    kind: .sample,
                    measurand: measurands.randomElement(using: &random),
                    phase: Bool.random(using: &random) ? "L1" : nil
                )
                return EventRow(
                    series: key,
                    timestamp: Int64.random(in: 0..<40, using: &random),
                    value: .number(Double(Int.random(in: 0...1000, using: &random))),
                    transactionID: [nil, 1, 2].randomElement(using: &random)!
                )
            }
            func status() -> EventRow {
                EventRow(
                    series: SeriesKey(
                        chargePointID: "CP",
                        connectorID: Int.random(in: 0...2, using: &random),
                        kind: .status
                    ),
                    timestamp: Int64.random(in: 0..<40, using: &random),
                    value: .status(
                        StatusEvent(
                            status: ["Available", "Charging"].randomElement(using: &random)!,
                            errorCode: "NoError"
                        )
                    ),
                    transactionID: nil
                )
            }
            var held: [[EventRow]] = [[], [], []]
            for index in 0..<3 {
                held[index] = (0..<150).map { _ in Int.random(in: 0..<5, using: &random) == 0 ? status() : sample() }
                // Another charger's rows, which no query of CP may return.
                held[index].append(
                    EventRow(
                        series: SeriesKey(chargePointID: "CP-OTHER", connectorID: 1, kind: .sample),
                        timestamp: 5,
                        value: .number(1)
                    )
                )
            }
            // Rows stored on two nodes, as a message retried after the charger moved.
            held[1] += held[0].prefix(20)
            for (store, rows) in zip(stores, held) { try store.appendBlocking(rows) }
            for kind in [ClusterHistoryRequest.Kind.sample, .status] {
                for descending in [false, true] {
                    for limit in [1, 2, 3, 7, 50, 1000] {
                        var query = EventQuery(
                            chargePointIDs: ["CP"],
                            kinds: [kind == .sample ? .sample : .status],
                            descending: descending,
                            limit: limit
                        )
                        if limit == 3 {
                            query.from = 10
                            query.to = 30
                        }
                        let request = ClusterHistoryRequest(chargePointID: "CP", kind: kind, query: query)
                        let pages = try Self.pages(stores, request)
                        let expected = try Self.model(stores, query)
                        #expect(pages.joined().count == expected.count, "seed \(seed) \(kind) \(descending) \(limit)")
                        #expect(
                            pages.joined().map(Self.text) == expected.map(Self.text),
                            "seed \(seed) \(kind) \(descending) \(limit)"
                        )
                        #expect(Array(pages.joined()) == expected, "seed \(seed) \(kind) \(descending) \(limit)")
                        #expect(pages.allSatisfy { $0.count <= limit }, "seed \(seed) \(kind) \(descending) \(limit)")
                    }
                }
            }
        }
    }

    /// Two measurands whose series (charger CP, connector 1) have the same digest.
    static func collidingMeasurands() -> (String, String) {
        var seen: [UInt32: String] = [:]
        var index = 0
        while true {
            let measurand = "m\(index)"
            let digest = SeriesIdentity(
                SeriesKey(chargePointID: "CP", connectorID: 1, kind: .sample, measurand: measurand)
            )
            .digest
            if let other = seen[digest] { return (other, measurand) }
            seen[digest] = measurand
            index += 1
        }
    }

    @Test("Series whose digests collide are ordered by their keys, and a page never ends between their rows")
    func collisions() throws {
        let (first, second) = Self.collidingMeasurands()
        #expect(first != second)
        try Self.withStores(2) { stores in
            func row(_ measurand: String, _ timestamp: Int64) -> EventRow {
                EventRow(
                    series: SeriesKey(chargePointID: "CP", connectorID: 1, kind: .sample, measurand: measurand),
                    timestamp: timestamp,
                    value: .number(Double(timestamp))
                )
            }
            try stores[0].appendBlocking([row("Voltage", 50), row(first, 100), row(first, 200)])
            try stores[1].appendBlocking([row(second, 100), row(second, 200), row("Voltage", 300)])
            let query = EventQuery(chargePointIDs: ["CP"], kinds: [.sample], limit: 2)
            let expected = try Self.model(stores, query)
            #expect(expected.count == 6)
            for limit in [1, 2, 3] {
                var limited = query
                limited.limit = limit
                let pages = try Self.pages(
                    stores,
                    ClusterHistoryRequest(chargePointID: "CP", kind: .sample, query: limited)
                )
                #expect(Array(pages.joined()) == expected, "limit \(limit)")
            }
            // With two rows a page, the first ends before the colliding pair rather than inside it.
            let pages = try Self.pages(stores, ClusterHistoryRequest(chargePointID: "CP", kind: .sample, query: query))
            #expect(pages.map(\.count) == [1, 2, 2, 1])
        }
    }

    @Test("Buckets combine to what one store holding every row answers")
    func buckets() throws {
        var random = SplitMix(7)
        try Self.withStores(3) { stores in
            var union: [EventRow] = []
            for (index, store) in stores.prefix(2).enumerated() {
                var rows: [EventRow] = []
                for _ in 0..<400 {
                    let key = SeriesKey(
                        chargePointID: "CP",
                        connectorID: 1,
                        kind: .sample,
                        measurand: ["Power.Active.Import", "Voltage"].randomElement(using: &random)!
                    )
                    // The nodes' rows interleave in time (odd and even seconds) within each minute.
                    let timestamp = Int64.random(in: 0..<300, using: &random) * 2000 + Int64(index) * 1000
                    rows.append(
                        EventRow(
                            series: key,
                            timestamp: timestamp,
                            value: .number(Double(Int.random(in: -50...500, using: &random)))
                        )
                    )
                }
                try store.appendBlocking(rows)
                union += rows
            }
            try stores[2].appendBlocking(union)
            let query = EventQuery(chargePointIDs: ["CP"], kinds: [.sample])
            let request = ClusterHistoryRequest(chargePointID: "CP", kind: .sample, query: query, bucket: 60_000)
            let parts = try stores.prefix(2).map { store in
                let encoded = try JSONEncoder().encode(ClusterHistoryAnswer(try request.buckets(from: store)))
                return try JSONDecoder().decode(ClusterHistoryAnswer.self, from: encoded).bucketAnswer().get()
            }
            let merged = ClusterHistoryMerge.buckets(parts)
            let whole = try stores[2].aggregate(query, bucketMilliseconds: 60_000)
            #expect(merged.count == whole.count)
            #expect(Set(merged) == Set(whole))
            // The cluster's order: by series key, then start.
            #expect(merged == whole.sorted { ($0.series, $0.start) < ($1.series, $1.start) })
        }
    }
}
