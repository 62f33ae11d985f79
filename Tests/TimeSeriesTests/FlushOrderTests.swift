import Testing

@testable import TimeSeries

@Suite("Flush order")
struct FlushOrderTests {
    /// What `partitionedByDay` must give, the plain way: every row with its arrival, sorted by
    /// (day, series, time, arrival), of equal (series, time) the last to arrive.
    static func expected(_ chunks: [[StoredRow]]) -> [(day: Int64, rows: [StoredRow])] {
        let day = { (row: StoredRow) in floorDivide(row.timestamp, 86_400_000) }
        let arrived = chunks.joined().enumerated().map { ($0.offset, $0.element) }
        let sorted = arrived.sorted {
            (day($0.1), $0.1.seriesID, $0.1.timestamp, $0.0) < (day($1.1), $1.1.seriesID, $1.1.timestamp, $1.0)
        }
        var result: [(day: Int64, rows: [StoredRow])] = []
        for (_, row) in sorted {
            if result.last?.day != day(row) { result.append((day(row), [])) }
            if let last = result[result.count - 1].rows.last, last.seriesID == row.seriesID,
                last.timestamp == row.timestamp
            {
                result[result.count - 1].rows[result[result.count - 1].rows.count - 1] = row
            } else {
                result[result.count - 1].rows.append(row)
            }
        }
        return result
    }

    @Test(
        "Rows come out by day, series and time, the last of equal ones kept, whatever order they arrived in",
        arguments: [(1, 3, 10), (300, 2, 20_000), (70_000, 1, 2), (40, 400, 20)]
    )
    func matchesPlainSort(series: Int, days: Int, rowsPerChunk: Int) {
        var random = SystemRandomNumberGenerator()
        let base: Int64 = 1_714_521_600_000 - 86_400_000  // a day before 2024-05-01, and on
        for round in 0..<3 {
            var chunks: [[StoredRow]] = []
            var clock = base
            for _ in 0..<4 {
                var chunk: [StoredRow] = []
                for _ in 0..<rowsPerChunk {
                    // Mostly rising times per series, some late, some repeated, some before 1970.
                    clock += Int64.random(in: 0...2_000, using: &random)
                    var timestamp = clock + Int64(Int.random(in: 0..<days, using: &random)) * 86_400_000
                    if Int.random(in: 0..<10, using: &random) == 0 {
                        timestamp -= Int64.random(in: 0...60_000, using: &random)
                    }
                    if round == 2 && Int.random(in: 0..<50, using: &random) == 0 { timestamp = -1_000 }
                    let seriesID = UInt32.random(in: 0..<UInt32(series), using: &random)
                    chunk.append(
                        StoredRow(seriesID: seriesID, timestamp: timestamp, value: .number(Double(chunk.count)))
                    )
                }
                chunks.append(chunk)
            }
            let theirs = Self.expected(chunks)
            for inSortedRuns in [false, true] {
                let days = TimeSeriesStore.partitionedByDay(chunks, inSortedRuns: inSortedRuns)
                #expect(days.map(\.day) == theirs.map(\.day))
                for ((_, dayRows), (_, expected)) in zip(days, theirs) {
                    var whole = dayRows
                    #expect(whole.all() == expected, "series \(series), round \(round), sorted runs \(inSortedRuns)")
                    // In blocks: none larger than the limit, and no series and time split
                    // between two of them.
                    var blocks = dayRows
                    var block: [StoredRow] = []
                    var joined: [StoredRow] = []
                    var previousLast: StoredRow?
                    var split = false
                    while blocks.nextBlock(&block, limit: 3) {
                        #expect(block.count <= 3)
                        if let previousLast, let first = block.first, previousLast.seriesID == first.seriesID,
                            previousLast.timestamp == first.timestamp
                        {
                            split = true
                        }
                        previousLast = block.last
                        joined += block
                    }
                    #expect(!split)
                    #expect(joined == expected)
                }
            }
        }
    }

    @Test("Blocks never split rows of one series and time, even when most rows repeat one")
    func blocksKeepDuplicatesTogether() {
        var random = SystemRandomNumberGenerator()
        let base: Int64 = 1_714_521_600_000
        let chunks = (0..<5).map { chunk in
            (0..<200).map { index in
                StoredRow(
                    seriesID: UInt32.random(in: 0..<3, using: &random),
                    timestamp: base + Int64.random(in: 0..<6, using: &random),
                    value: .number(Double(chunk * 1000 + index))
                )
            }
        }
        let expected = Self.expected(chunks)
        let days = TimeSeriesStore.partitionedByDay(chunks)
        #expect(days.count == 1)
        for limit in [1, 2, 3, 7] {
            var rows = days[0].rows
            var block: [StoredRow] = []
            var joined: [StoredRow] = []
            while rows.nextBlock(&block, limit: limit) {
                #expect(block.count <= limit)
                if let last = joined.last, let first = block.first {
                    #expect(last.seriesID != first.seriesID || last.timestamp != first.timestamp)
                }
                joined += block
            }
            #expect(joined == expected[0].rows, "limit \(limit)")
            #expect(joined.count <= 18)
        }
    }
}

extension TimeSeriesStore.DayRows {
    /// Every row left, in one array.
    mutating func all() -> [StoredRow] {
        var rows: [StoredRow] = []
        var block: [StoredRow] = []
        while nextBlock(&block, limit: 4096) { rows += block }
        return rows
    }
}
