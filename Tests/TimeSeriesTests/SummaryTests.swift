import Foundation
import Testing

@testable import TimeSeries

/// The blocks' summaries: what they hold is what the rows say, an aggregate read from them is
/// the aggregate of the rows, and an aggregate in whole slots reads no rows at all.
@Suite("Summaries")
struct SummaryTests {
    static let minute: Int64 = 60_000
    static let hour: Int64 = 3_600_000
    static let day: Int64 = 86_400_000
    static let base: Int64 = 1_714_521_600_000

    /// The aggregate of `rows` (one series', in time order) per bucket, as the rows say.
    static func expected(
        _ rows: [EventRow],
        bucket: (Int64) -> Int64
    ) -> [Int64: (Int, Double, Double, Double, Double, Double)] {
        var result: [Int64: (Int, Double, Double, Double, Double, Double)] = [:]
        for row in rows {
            guard let number = row.value.number else { continue }
            let start = bucket(row.timestamp)
            if let (count, sum, low, high, first, _) = result[start] {
                result[start] = (count + 1, sum + number, min(low, number), max(high, number), first, number)
            } else {
                result[start] = (1, number, number, number, number, number)
            }
        }
        return result
    }

    static func floorDiv(_ value: Int64, _ width: Int64) -> Int64 {
        (value >= 0 ? value / width : (value - width + 1) / width) * width
    }

    @Test("A block's summaries hold each slot's count, sum, extremes, first and last", arguments: [21, 22, 23])
    func codec(seed: UInt64) throws {
        var random = DifferentialTests.SplitMix(state: seed)
        var rows: [StoredRow] = []
        for series in UInt32(0)..<6 {
            // Whole numbers, tenths, arbitrary doubles (no scale fits) and negative values;
            // times around 1970, today and near the ends of time.
            let start: Int64 = [0, -5 * Self.hour, Self.base, Int64.max - 3 * Self.hour, Int64.min + 1][Int(series) % 5]
            var time = start
            for _ in 0..<Int.random(in: 1...300, using: &random) {
                let value: EventValue
                switch series % 4 {
                case 0: value = .number(Double(Int.random(in: -1_000_000...1_000_000, using: &random)))
                case 1: value = .number(Double(Int.random(in: 0...100_000, using: &random)) / 10)
                case 2: value = .number(Double.random(in: -1e6...1e6, using: &random))
                default:
                    value =
                        Bool.random(using: &random)
                        ? .number(Double(Int.random(in: 0...9, using: &random))) : .text("x")
                }
                rows.append(StoredRow(seriesID: series, timestamp: time, value: value, transactionID: nil))
                let step = Int64.random(in: 0...(20 * Self.minute), using: &random)
                guard time <= Int64.max - step else { break }
                time += step
            }
        }
        let block = BlockCodec.encode(rows[...])
        let summaries = try block.withUnsafeBytes { try BlockCodec.decodeSummaries($0, version: Segment.formatVersion) }
        let decoded = try #require(summaries)
        #expect(decoded.map(\.seriesID) == Array(UInt32(0)..<6))
        for summary in decoded {
            let seriesRows = rows.filter { $0.seriesID == summary.seriesID }
            #expect(summary.firstTimestamp == seriesRows.first!.timestamp)
            #expect(summary.lastTimestamp == seriesRows.last!.timestamp)
            let numeric = seriesRows.filter { $0.value.number != nil }
            let slots = Dictionary(grouping: numeric) { floorDivide($0.timestamp, BlockCodec.summarySlotMilliseconds) }
            #expect(summary.slots.map(\.slot) == slots.keys.sorted())
            for slot in summary.slots {
                let slotRows = slots[slot.slot]!
                let numbers = slotRows.map { $0.value.number! }
                #expect(slot.count == numbers.count)
                #expect(slot.minimum == numbers.min() && slot.maximum == numbers.max())
                #expect(slot.first == numbers.first && slot.last == numbers.last)
                #expect(slot.firstTimestamp == slotRows.first!.timestamp)
                #expect(slot.lastTimestamp == slotRows.last!.timestamp)
                let sum = numbers.reduce(0, +)
                #expect(abs(slot.sum - sum) <= 1e-9 * max(1, abs(sum)), "seed \(seed), series \(summary.seriesID)")
            }
        }
        // Some series only: the others are read past, the chosen ones come out the same.
        let odd = try #require(
            try block.withUnsafeBytes {
                try BlockCodec.decodeSummaries($0, version: Segment.formatVersion, wants: { $0 % 2 == 1 })
            }
        )
        #expect(odd.map(\.seriesID) == [1, 3, 5])
        #expect(odd.map(\.slots) == decoded.filter { $0.seriesID % 2 == 1 }.map(\.slots))
        // A block of format version 2 has none.
        let old = BlockCodec.encode(rows[...], version: 2)
        #expect(try old.withUnsafeBytes { try BlockCodec.decodeSummaries($0, version: 2) } == nil)
        #expect(old.count < block.count)
    }

    @Test("Aggregates from summaries are the aggregates of the rows", arguments: [31, 32, 33, 34])
    func differential(seed: UInt64) throws {
        var random = DifferentialTests.SplitMix(state: seed)
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let options = TimeSeriesOptions(memtableRows: 500, blockRows: 64, compactionThreshold: 3)
        let store = try TimeSeriesStore(directory: directory.path, options: options)
        defer { store.close() }
        let keys = ["CP-1", "CP-2"].flatMap { chargePoint in
            ["Energy.Active.Import.Register", "Voltage", "SoC"].map { sample(chargePoint, measurand: $0) }
        }
        // Three days in time order, a row per series every 1 to 5 minutes, in batches; some
        // batches re-send or replace earlier rows (sources that overlap) or carry text.
        var time = Self.base
        var sent: [EventRow] = []
        var transaction = 1
        while time < Self.base + 3 * Self.day {
            var batch: [EventRow] = []
            for _ in 0..<Int.random(in: 1...30, using: &random) {
                time += Int64.random(in: 1...5, using: &random) * Self.minute
                if Int.random(in: 0..<50, using: &random) == 0 { transaction += 1 }
                for key in keys {
                    let value: EventValue =
                        Int.random(in: 0..<40, using: &random) == 0
                        ? .text("n/a") : .number(Double(Int.random(in: 0...4000, using: &random)) / 10)
                    batch.append(EventRow(series: key, timestamp: time, value: value, transactionID: transaction))
                }
            }
            if !sent.isEmpty, Int.random(in: 0..<6, using: &random) == 0 {
                let old = sent[Int.random(in: 0..<sent.count, using: &random)]
                batch.append(
                    EventRow(
                        series: old.series,
                        timestamp: old.timestamp,
                        value: .number(-1),
                        transactionID: old.transactionID
                    )
                )
            }
            try store.appendBlocking(batch)
            sent += batch
            if Int.random(in: 0..<4, using: &random) == 0 { try store.flush() }
            if Int.random(in: 0..<15, using: &random) == 0 { _ = try store.compact() }
        }
        for round in 0..<24 {
            var query = EventQuery(limit: Int.max)
            if Bool.random(using: &random) { query.chargePointIDs = ["CP-\(Int.random(in: 1...2, using: &random))"] }
            // A charger named twice names its series once.
            if round == 5 { query.chargePointIDs = ["CP-2", "CP-1", "CP-2"] }
            if round % 3 > 0 {
                query.from = Self.base + Int64.random(in: 0...(2 * Self.day), using: &random)
                query.to = query.from! + Int64.random(in: 0...(2 * Self.day), using: &random)
                if round % 3 == 2 {
                    query.from = Self.floorDiv(query.from!, Self.hour)
                    query.to = Self.floorDiv(query.to!, Self.hour)
                }
            }
            let rows = try store.query(query).rows
            let width = [Self.hour, 2 * Self.hour, Self.day][round % 3]
            let buckets = try store.aggregate(query, bucketMilliseconds: width)
            let bySeries = Dictionary(grouping: rows) { $0.series }
            var expectedCount = 0
            for (series, seriesRows) in bySeries {
                let expected = Self.expected(seriesRows) { Self.floorDiv($0, width) }
                expectedCount += expected.count
                for bucket in buckets where bucket.series == series {
                    let wanted = try #require(expected[bucket.start], "seed \(seed), round \(round)")
                    #expect(wanted.0 == bucket.count && wanted.2 == bucket.minimum && wanted.3 == bucket.maximum)
                    #expect(wanted.4 == bucket.first && wanted.5 == bucket.last, "seed \(seed), round \(round)")
                    #expect(abs(wanted.1 - bucket.sum) <= 1e-9 * max(1, abs(wanted.1)))
                }
            }
            #expect(buckets.count == expectedCount, "seed \(seed), round \(round)")
            // Read in parts by series (from one snapshot), one after the other: the same buckets.
            for parts in [2, 3, 7] {
                let split = store.aggregateParts(query, bucketMilliseconds: width, parts: parts)
                let series = split.reduce(0) { $0 + $1.seriesCount }
                #expect(split.count == max(1, min(parts, series)) && series >= Set(buckets.map(\.series)).count)
                var joined: [AggregateBucket] = []
                for part in split { try store.aggregate(part) { joined.append($0) } }
                #expect(joined == buckets, "seed \(seed), round \(round), \(parts) parts")
            }
            let summaries = try store.summarize(query)
            for summary in summaries {
                let numbers = bySeries[summary.series]!.compactMap(\.value.number)
                #expect(
                    summary.count == numbers.count && summary.first == numbers.first && summary.last == numbers.last
                )
                #expect(summary.minimum == numbers.min() && summary.maximum == numbers.max())
            }
        }
    }

    @Test("A few series' blocks are found by binary search over the series ranges: the same rows as a full pass")
    func sparseSeries() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path, options: TimeSeriesOptions(blockRows: 8))
        defer { store.close() }
        let chargers = (0..<25).map { "CP-\($0)" }
        var rows: [EventRow] = []
        for (index, chargePoint) in chargers.enumerated() {
            for connector in 1...2 {
                for minute in 0..<(7 + index % 13) {
                    rows.append(
                        EventRow(
                            series: sample(chargePoint, connector: connector),
                            timestamp: Self.base + Int64(minute) * Self.minute,
                            value: .number(Double(index * 100 + minute))
                        )
                    )
                }
            }
        }
        try store.appendBlocking(rows)
        try store.flush()
        #expect(store.statistics.segments == 1)
        var random = DifferentialTests.SplitMix(state: 7)
        for _ in 0..<40 {
            let chosen = Array(
                Set((0..<Int.random(in: 1...3, using: &random)).map { _ in chargers.randomElement(using: &random)! })
            )
            var query = EventQuery(chargePointIDs: Set(chosen), limit: Int.max)
            if Bool.random(using: &random) {
                query.from = Self.base + Int64.random(in: 0...10, using: &random) * Self.minute
                query.to = query.from! + Int64.random(in: 1...10, using: &random) * Self.minute
            }
            let expected = rows.filter { row in
                chosen.contains(row.series.chargePointID) && query.includes(timestamp: row.timestamp)
            }
            let answer = try store.query(query).rows
            #expect(Set(answer) == Set(expected) && answer.count == expected.count, "\(query)")
        }
    }

    /// A month of one series every minute, in time order, compacted day by day.
    static func month(_ store: TimeSeriesStore) throws {
        var energy = 0.0
        for day in 0..<30 {
            var batch: [EventRow] = []
            for minute in 0..<1440 {
                energy += Double(minute % 7)
                batch.append(
                    EventRow(
                        series: sample(),
                        timestamp: Self.base + Int64(day) * Self.day + Int64(minute) * Self.minute,
                        value: .number(energy)
                    )
                )
            }
            try store.appendBlocking(batch)
        }
        try store.flush()
        _ = try store.compact()
    }

    @Test("A month at one hour reads summaries only; cut slots at the range's ends read their block")
    func cost() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path, options: TimeSeriesOptions(blockRows: 1024))
        defer { store.close() }
        try Self.month(store)
        let query = EventQuery(chargePointIDs: ["CP-1"])
        let rows = try store.query(EventQuery(chargePointIDs: ["CP-1"], limit: Int.max)).rows
        var before = store.statistics
        let hourly = try store.aggregate(query, bucketMilliseconds: Self.hour)
        var after = store.statistics
        #expect(hourly.count == 720 && hourly.allSatisfy { $0.count == 60 })
        #expect(after.blocksDecoded == before.blocksDecoded, "no block decoded for whole slots")
        let expected = Self.expected(rows) { Self.floorDiv($0, Self.hour) }
        #expect(hourly.allSatisfy { expected[$0.start]!.1 == $0.sum && expected[$0.start]!.5 == $0.last })

        // From 00:30 on day 3 to 12:30 on day 20: two slots cut, each in one block.
        var range = query
        range.from = Self.base + 3 * Self.day + 30 * Self.minute
        range.to = Self.base + 20 * Self.day + 12 * Self.hour + 30 * Self.minute
        before = after
        let daily = try store.aggregate(range, bucketMilliseconds: Self.day)
        after = store.statistics
        #expect(after.blocksDecoded - before.blocksDecoded == 2)
        #expect(daily.count == 18 && daily.first!.count == 1410 && daily.last!.count == 750)
        let inRange = rows.filter { $0.timestamp >= range.from! && $0.timestamp < range.to! }
        let dailyExpected = Self.expected(inRange) { Self.floorDiv($0, Self.day) }
        for bucket in daily {
            #expect(dailyExpected[bucket.start]!.0 == bucket.count && dailyExpected[bucket.start]!.1 == bucket.sum)
            #expect(dailyExpected[bucket.start]!.4 == bucket.first && dailyExpected[bucket.start]!.5 == bucket.last)
        }

        // Buckets narrower than a slot read rows, and agree.
        let quarter = try store.aggregate(range, bucketMilliseconds: 15 * Self.minute)
        #expect(quarter.reduce(0) { $0 + $1.count } == inRange.count)
    }

    /// Writes each segment under `directory` again as a build of format `version` wrote it;
    /// the segments' paths under `directory`.
    static func rewrite(_ directory: String, version: UInt32) throws -> [String] {
        let files = try FileManager.default.subpathsOfDirectory(atPath: directory).filter { $0.hasSuffix(".seg") }
        for file in files {
            let path = directory + "/" + file
            let segment = try Segment(path: path, sequence: 1, files: SegmentFiles(capacity: 4))
            var rows = try segment.allRows()[...]
            let bytes = Segment.build(estimatedRows: rows.count, blockRows: 1024, version: version) { block, limit in
                block = Array(rows.prefix(limit))
                rows = rows.dropFirst(limit)
                return !block.isEmpty
            }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            #expect(try LegacyConversion.segmentVersion(path) == version)
        }
        return files
    }

    /// Version 2 (no summaries) is aggregated from its rows and rewritten by compaction even
    /// alone; version 3 (summaries, no miniblocks) is read as it is and not rewritten alone.
    @Test("Segments of older format versions are read as they are; compaction rewrites those without summaries")
    func olderFormats() throws {
        for version: UInt32 in [2, 3] {
            let directory = try TemporaryDirectory()
            defer { directory.cleanup() }
            var store = try TimeSeriesStore(directory: directory.path, options: TimeSeriesOptions(blockRows: 1024))
            try Self.month(store)
            let query = EventQuery(chargePointIDs: ["CP-1"])
            let answer = try store.aggregate(query, bucketMilliseconds: Self.hour)
            var everything = query
            everything.limit = 50_000
            let rows = try store.query(everything).rows
            #expect(rows.count == 30 * 1440)
            store.close()

            let files = try Self.rewrite(directory.path, version: version)
            #expect(files.count == 30)

            store = try TimeSeriesStore(directory: directory.path, options: TimeSeriesOptions(blockRows: 1024))
            defer { store.close() }
            #expect(try store.query(everything).rows == rows)
            var before = store.statistics
            #expect(try store.aggregate(query, bucketMilliseconds: Self.hour) == answer)
            let decoded = store.statistics.blocksDecoded - before.blocksDecoded
            #expect(decoded == (version == 2 ? 60 : 0), "version \(version): read from the rows only without summaries")

            #expect(try store.compact().writtenSegments == (version == 2 ? 30 : 0))
            for file in files {
                let written = try LegacyConversion.segmentVersion(directory.path + "/" + file)
                #expect(written == (version == 2 ? Segment.formatVersion : 3))
            }
            before = store.statistics
            #expect(try store.aggregate(query, bucketMilliseconds: Self.hour) == answer)
            #expect(store.statistics.blocksDecoded == before.blocksDecoded)
            #expect(try store.query(everything).rows == rows)
        }
    }
}
