import Foundation
import Testing

@testable import TimeSeries

/// Pages that read from their cursor: together they are exactly the whole answer, in order,
/// and a page costs the blocks around it, wherever it lies in a long range.
@Suite("Paging")
struct PagingTests {
    static let minute: Int64 = 60_000
    static let day: Int64 = 86_400_000
    static let base: Int64 = 1_714_521_600_000

    /// Every page of `query` (its limit), from the first to the last, concatenated.
    static func allPages(_ store: TimeSeriesStore, _ query: EventQuery) throws -> (rows: [EventRow], pages: Int) {
        var query = query
        var rows: [EventRow] = []
        var pages = 0
        while true {
            let page = try store.query(query)
            pages += 1
            #expect(page.rows.count <= query.limit)
            rows += page.rows
            guard let next = page.nextCursor else { break }
            #expect(page.rows.count == query.limit, "a page before the last is full")
            query.cursor = next
        }
        return (rows, pages)
    }

    @Test("Pages from the cursor, both ways, concatenate to the whole answer", arguments: [11, 12, 13])
    func concatenation(seed: UInt64) throws {
        var random = DifferentialTests.SplitMix(state: seed)
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let options = TimeSeriesOptions(memtableRows: 300, blockRows: 16, compactionThreshold: 3)
        let store = try TimeSeriesStore(directory: directory.path, options: options)
        defer { store.close() }
        let chargePoints = ["CP-1", "CP-2", "CP-3"]
        let measurands = ["Energy.Active.Import.Register", "Voltage", "SoC"]
        for round in 0..<40 {
            let rows = (0..<Int.random(in: 1...40, using: &random)).map { _ in
                let key = sample(
                    chargePoints.randomElement(using: &random)!,
                    connector: Int.random(in: 1...2, using: &random),
                    measurand: measurands.randomElement(using: &random)!
                )
                // Whole minutes over four days: rewrites of the same (series, time) happen.
                let timestamp = Self.base + Int64.random(in: 0..<(4 * 1440), using: &random) * Self.minute
                let value: EventValue =
                    Bool.random(using: &random)
                    ? .number(Double(Int.random(in: 0...1000, using: &random))) : .text("t\(round)")
                return EventRow(series: key, timestamp: timestamp, value: value)
            }
            try store.appendBlocking(rows)
            if round % 7 == 3 { try store.flush() }
            if round % 13 == 12 { _ = try store.compact() }
        }
        for _ in 0..<30 {
            var query = EventQuery(limit: Int.max)
            if Bool.random(using: &random) { query.chargePointIDs = [chargePoints.randomElement(using: &random)!] }
            if Bool.random(using: &random) { query.measurands = [measurands.randomElement(using: &random)!] }
            if Bool.random(using: &random) {
                query.from = Self.base + Int64.random(in: 0...(3 * Self.day), using: &random)
                query.to = query.from! + Int64.random(in: 0...(2 * Self.day), using: &random)
            }
            query.descending = Bool.random(using: &random)
            let whole = try store.query(query).rows
            #expect(
                zip(whole, whole.dropFirst()).allSatisfy { pair in
                    query.descending ? pair.0.timestamp >= pair.1.timestamp : pair.0.timestamp <= pair.1.timestamp
                }
            )
            query.limit = Int.random(in: 1...40, using: &random)
            let (paged, pages) = try Self.allPages(store, query)
            #expect(paged == whole, "seed \(seed), \(query)")
            #expect(pages == max(1, (whole.count + query.limit - 1) / query.limit))
        }
    }

    /// Ten chargers, two series each, a sample every five minutes for 30 days, one segment
    /// per day, blocks of 96 rows (three per series and day).
    static func month(_ directory: TemporaryDirectory) throws -> TimeSeriesStore {
        let options = TimeSeriesOptions(memtableRows: 10_000_000, blockRows: 96, compactionThreshold: 1000)
        let store = try TimeSeriesStore(directory: directory.path, options: options)
        for day in 0..<30 {
            var rows: [EventRow] = []
            for charger in 0..<10 {
                for measurand in ["Energy.Active.Import.Register", "Power.Active.Import"] {
                    let key = sample("CP-\(charger)", measurand: measurand)
                    for step in 0..<288 {
                        let timestamp = Self.base + Int64(day) * Self.day + Int64(step) * 5 * Self.minute
                        rows.append(EventRow(series: key, timestamp: timestamp, value: .number(Double(step))))
                    }
                }
            }
            try store.appendBlocking(rows)
            try store.flush()
        }
        return store
    }

    static func decoded(_ store: TimeSeriesStore, _ read: () throws -> Void) rethrows -> Int {
        let before = store.statistics.blocksDecoded
        try read()
        return store.statistics.blocksDecoded - before
    }

    @Test("A page decodes the blocks around it, deep in a month as at its start; a month streams linearly")
    func cost() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try Self.month(directory)
        defer { store.close() }
        // One charger's month: 2 series x 30 days x 3 blocks.
        let chargerBlocks = 180
        let query = EventQuery(chargePointIDs: ["CP-4"], limit: 100)

        var first = EventPage(rows: [], nextCursor: nil)
        let firstCost = try Self.decoded(store) { first = try store.query(query) }
        #expect(first.rows.count == 100 && first.rows.first?.timestamp == Self.base)
        #expect(firstCost <= 6, "first page decoded \(firstCost) of \(chargerBlocks) blocks")

        var deep = query
        deep.cursor = EventCursor(timestamp: Self.base + 20 * Self.day + 12 * 60 * Self.minute, seriesID: 0)
        var page = EventPage(rows: [], nextCursor: nil)
        let deepCost = try Self.decoded(store) { page = try store.query(deep) }
        #expect(page.rows.count == 100 && page.rows.first!.timestamp >= deep.cursor!.timestamp)
        #expect(deepCost <= 6, "a page on day 20 decoded \(deepCost) of \(chargerBlocks) blocks")

        var backwards = deep
        backwards.descending = true
        let backwardsCost = try Self.decoded(store) { page = try store.query(backwards) }
        #expect(page.rows.count == 100 && page.rows.first!.timestamp < deep.cursor!.timestamp)
        #expect(backwardsCost <= 6, "a page back from day 20 decoded \(backwardsCost) blocks")

        // The whole month in pages of 1,000 rows: each block is read by the few pages that
        // overlap it, not by every page.
        var stream = query
        stream.limit = 1000
        var streamed: (rows: [EventRow], pages: Int) = ([], 0)
        let streamCost = try Self.decoded(store) { streamed = try Self.allPages(store, stream) }
        #expect(streamed.rows.count == 2 * 30 * 288)
        #expect(streamed.pages == 18)
        #expect(streamCost <= 3 * chargerBlocks, "streaming the month decoded \(streamCost) blocks")

        // A pager reads the month from one snapshot: one footer pass (every other charger's
        // blocks skipped once), each of this charger's blocks decoded once.
        let before = store.statistics
        let pager = store.pages(stream)
        var pagedRows: [EventRow] = []
        while let page = try pager.next() { pagedRows += page.rows }
        #expect(try pager.next() == nil)
        let after = store.statistics
        #expect(pagedRows == streamed.rows)
        #expect(after.blocksDecoded - before.blocksDecoded == chargerBlocks)
        #expect(after.blocksSkipped - before.blocksSkipped == 10 * chargerBlocks - chargerBlocks)
    }

    @Test("A summary per series and the extent of a query come from aggregates and the index")
    func summaryAndExtent() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try Self.month(directory)
        defer { store.close() }
        // And some rows still in the memtable, after the month.
        let late = Self.base + 31 * Self.day
        try store.appendBlocking([
            EventRow(series: sample("CP-4", measurand: "Power.Active.Import"), timestamp: late, value: .number(500))
        ])
        let query = EventQuery(chargePointIDs: ["CP-4"], measurands: ["Power.Active.Import"])
        let summary = try store.summarize(query)
        #expect(summary.count == 1)
        let power = try #require(summary.first)
        #expect(power.count == 30 * 288 + 1)
        #expect(power.first == 0 && power.firstTimestamp == Self.base)
        #expect(power.last == 500 && power.lastTimestamp == late)
        #expect(power.maximum == 500 && power.minimum == 0)
        #expect(power.sum == 30 * Double(287 * 288 / 2) + 500)

        let extent = try #require(store.extent(EventQuery(chargePointIDs: ["CP-4"])))
        #expect(extent.from == Self.base && extent.to == late && extent.series == 2)
        // 31 days and a bit at one hour: 745 buckets for each of two series.
        #expect(extent.buckets(width: 3_600_000) == 2 * 745)
        var day = EventQuery(chargePointIDs: ["CP-4"], measurands: ["Energy.Active.Import.Register"])
        day.from = Self.base + 2 * Self.day
        day.to = Self.base + 3 * Self.day
        let dayExtent = try #require(store.extent(day))
        #expect(dayExtent.from >= day.from! && dayExtent.to < day.to! && dayExtent.series == 1)
        #expect(dayExtent.buckets(width: 15 * Self.minute) == 96)
        #expect(store.extent(EventQuery(chargePointIDs: ["CP-404"])) == nil)
    }
}
