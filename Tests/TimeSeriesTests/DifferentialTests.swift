import Foundation
import Testing

@testable import TimeSeries

/// Thousands of random appends, flushes, compactions, reopenings and queries, against a
/// plain in-memory model: the answers must be identical.
@Suite("Differential")
struct DifferentialTests {
    struct Model {
        var rows: [String: EventRow] = [:]

        mutating func append(_ row: EventRow) {
            rows[row.sortKey] = row
        }

        /// (series, bucket) -> (count, sum, min, max, first, last) of the numeric rows.
        func aggregate(_ query: EventQuery, width: Int64) -> [String: (Int, Double, Double, Double, Double, Double)] {
            var result: [String: (Int, Double, Double, Double, Double, Double)] = [:]
            for row in answer(query) {
                guard let number = row.value.number else { continue }
                let bucket = (row.timestamp >= 0 ? row.timestamp / width : (row.timestamp - width + 1) / width) * width
                let key = "\(row.series.text)|\(bucket)"
                if let (count, sum, low, high, first, _) = result[key] {
                    result[key] = (count + 1, sum + number, min(low, number), max(high, number), first, number)
                } else {
                    result[key] = (1, number, number, number, number, number)
                }
            }
            return result
        }

        func answer(_ query: EventQuery) -> [EventRow] {
            rows.values.filter { row in
                query.matches(row.series) && query.includes(timestamp: row.timestamp)
                    && (query.transactionID == nil || row.transactionID == query.transactionID)
            }.sorted { $0.sortKey < $1.sortKey }
        }
    }

    /// A deterministic generator, so that a failure can be replayed from its seed.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test("Random operations give the model's answers", arguments: [1, 2, 3])
    func randomOperations(seed: UInt64) throws {
        var random = SplitMix(state: seed)
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let options = TimeSeriesOptions(memtableRows: 400, blockRows: 32, compactionThreshold: 3)
        var store = try TimeSeriesStore(directory: directory.path, options: options)
        var model = Model()
        let day: Int64 = 86_400_000
        let base: Int64 = 1_714_521_600_000
        let chargePoints = ["CP-1", "CP-2", "CP-3", "CP-ü"]
        let measurands = ["Energy.Active.Import.Register", "Voltage", "Current.Import", "SoC"]

        /// A series, and for a sample perhaps a transaction.
        func randomKey() -> (SeriesKey, Int?) {
            let kind = Int.random(in: 0..<10, using: &random)
            let chargePoint = chargePoints.randomElement(using: &random)!
            let connector = Int.random(in: 0...2, using: &random)
            let transaction = Bool.random(using: &random) ? Int.random(in: 1...3, using: &random) : nil
            if kind == 0 {
                return (SeriesKey(chargePointID: chargePoint, connectorID: connector, kind: .status), nil)
            }
            if kind == 1 {
                return (
                    SeriesKey(chargePointID: chargePoint, connectorID: 0, kind: .event, eventType: "DataTransfer"), nil
                )
            }
            let key = sample(
                chargePoint,
                connector: connector,
                measurand: measurands.randomElement(using: &random)!,
                phase: Bool.random(using: &random) ? ["L1", "L2", "L3"].randomElement(using: &random)! : nil
            )
            return (key, transaction)
        }
        func randomValue(for key: SeriesKey) -> EventValue {
            switch key.kind {
            case .status:
                return .status(
                    StatusEvent(
                        status: ["Available", "Charging", "Faulted"].randomElement(using: &random)!,
                        errorCode: "NoError"
                    )
                )
            case .event:
                return .payload(#"{"n":\#(Int.random(in: 0...9, using: &random))}"#)
            case .sample:
                switch Int.random(in: 0..<6, using: &random) {
                case 0: return .sample(String(format: "%.2f", Double.random(in: 0...1000, using: &random)))
                case 1: return .text("v\(Int.random(in: 0...99, using: &random))")
                case 2: return .number(Double(Int.random(in: -5000...5000, using: &random)) / 10)
                case 3: return .number(Double.random(in: -1e6...1e6, using: &random))
                default: return .number(Double(Int.random(in: 0...100_000, using: &random)))
                }
            }
        }

        for _ in 0..<600 {
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<70:
                let rows = (0..<Int.random(in: 1...30, using: &random)).map { _ in
                    let (key, transaction) = randomKey()
                    let timestamp = base + Int64.random(in: -3 * day...3 * day, using: &random) / 1000 * 1000
                    return EventRow(
                        series: key,
                        timestamp: timestamp,
                        value: randomValue(for: key),
                        transactionID: transaction
                    )
                }
                try store.appendBlocking(rows)
                for row in rows { model.append(row) }
            case 70..<76:
                try store.flush()
            case 76..<79:
                try store.compact()
            case 79..<83:
                store.close()
                store = try TimeSeriesStore(directory: directory.path, options: options)
            default:
                var query = EventQuery(limit: Int.max)
                if Bool.random(using: &random) { query.chargePointIDs = [chargePoints.randomElement(using: &random)!] }
                if Bool.random(using: &random) { query.measurands = [measurands.randomElement(using: &random)!] }
                if Int.random(in: 0..<4, using: &random) == 0 {
                    query.connectorID = Int.random(in: 0...2, using: &random)
                }
                if Int.random(in: 0..<4, using: &random) == 0 {
                    query.transactionID = Int.random(in: 1...3, using: &random)
                }
                if Int.random(in: 0..<4, using: &random) == 0 { query.kinds = [.status] }
                if Bool.random(using: &random) {
                    let from = base + Int64.random(in: -3 * day...3 * day, using: &random)
                    query.from = from
                    query.to = from + Int64.random(in: 0...2 * day, using: &random)
                }
                let answer = try store.query(query).rows.sorted { $0.sortKey < $1.sortKey }
                #expect(answer == model.answer(query), "seed \(seed), query \(query)")
                let expected = model.aggregate(query, width: 3_600_000)
                let buckets = try store.aggregate(query, bucketMilliseconds: 3_600_000)
                #expect(buckets.count == expected.count, "seed \(seed), aggregate of \(query)")
                for bucket in buckets {
                    let wanted = expected["\(bucket.series.text)|\(bucket.start)"]
                    #expect(wanted?.0 == bucket.count && wanted?.2 == bucket.minimum && wanted?.3 == bucket.maximum)
                    #expect(wanted?.4 == bucket.first && wanted?.5 == bucket.last)
                    #expect(abs((wanted?.1 ?? .nan) - bucket.sum) <= 1e-6 * max(1, abs(bucket.sum)))
                }
            }
        }
        store.close()
        let reopened = try TimeSeriesStore(directory: directory.path, options: options)
        #expect(try allRows(reopened).sorted { $0.sortKey < $1.sortKey } == model.answer(EventQuery()))
        reopened.close()
    }
}
