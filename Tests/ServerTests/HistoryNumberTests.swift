import Protocol
import Testing
import TimeSeries

@testable import API

/// The cheaper spellings of timestamps and numbers write exactly what the general path does.
@Suite("History formatting: timestamps and numbers")
struct HistoryNumberTests {
    /// A small deterministic generator, so that a failure repeats.
    struct Numbers: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state
        }
    }

    static func general(_ value: Double) -> String {
        var bytes: [UInt8] = []
        HistoryFormat.append(HistoryFormat.jsonNumber(value), to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    static func written(_ value: Double) -> String {
        var bytes: [UInt8] = []
        HistoryFormat.appendJSONNumber(value, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test("Numbers with up to three decimals, and every other kind, read as their canonical text")
    func numbers() {
        var random = Numbers(state: 42)
        var values: [Double] = [
            0.001, 0.0015, 0.01, 0.1, 0.5, 1.5, 12.345, 999_999_999.999, 1e9 + 0.5, 0.0001, 1e-7, 123.456_7,
            0.1 + 0.2, 1.0 / 3.0, 5e15 + 0.5, -0.25, -12.5, 230.1, 4_294_967_295.5, .pi, -0.0, 0, 7, -7,
        ]
        for _ in 0..<20_000 {
            let thousandths = Double(Int64.random(in: -2_000_000_000_000...2_000_000_000_000, using: &random))
            values.append(thousandths / 1000)
            values.append(Double(Int.random(in: -99_999...99_999, using: &random)) / 10)
            values.append(Double.random(in: -1e6...1e6, using: &random))
            values.append(Double(bitPattern: random.next()))
        }
        var fast = 0
        for value in values where value.isFinite {
            #expect(Self.written(value) == Self.general(value), "\(value)")
            var bytes: [UInt8] = []
            if HistoryFormat.appendShortDecimal(value, to: &bytes) { fast += 1 }
        }
        // The fast path is taken for most decimals, not never.
        #expect(fast > 30_000)
    }

    @Test("Numbers of many decimals (averages) read as their canonical text, the shortest that reads back")
    func shortestDecimals() {
        var random = Numbers(state: 14)
        var values: [Double] = [
            0.1 + 0.2, 1.0 / 3.0, 2.0 / 3.0, 0.001, 0.001_000_000_000_000_1, 0.000_999_999_999_999_999_9, 1e15 - 0.5,
            999_999_999_999_999.9, 123_456.789_012_345_67, 4_503_599_627_370_495.5, 0.1, 0.2, 0.3, 0.7, .pi, -.pi,
        ]
        for exponent in -3...14 {
            let power = (0..<abs(exponent)).reduce(1.0) { value, _ in exponent < 0 ? value / 10 : value * 10 }
            values += [power.nextUp, power.nextDown, power.nextUp.nextUp, -power.nextDown]
        }
        for _ in 0..<40_000 {
            // Averages of meter values: a sum of tenths or thousandths over a count.
            let count = Double(Int.random(in: 1...3_600, using: &random))
            values.append(Double(Int.random(in: -10_000_000...100_000_000, using: &random)) / 10 / count)
            values.append(Double(Int64.random(in: 0...10_000_000_000, using: &random)) / 1000 / count)
            values.append(Double.random(in: 0.001...1, using: &random))
            values.append(Double.random(in: -1e15...1e15, using: &random))
            values.append(Double(bitPattern: random.next()))
        }
        var shortest = 0
        for value in values {
            var bytes: [UInt8] = []
            if HistoryFormat.write(to: &bytes, capacity: 32, { $0.shortestDecimal(value) }) {
                shortest += 1
                #expect(String(decoding: bytes, as: UTF8.self) == Self.general(value), "\(value)")
            }
            #expect(Self.written(value) == Self.general(value), "\(value)")
            let inRoom = HistoryFormat.write(to: &bytes, capacity: 32) {
                $0.number(value)
                return $0.count <= 24
            }
            #expect(inRoom, "\(value)")
        }
        // Taken for nearly every average, not never.
        #expect(shortest > 120_000)
    }

    @Test("Timestamps written one after another read as the full text of each")
    func timestamps() {
        var random = Numbers(state: 7)
        var text = HistoryFormat.TimestampText()
        var stamps: [Int64] = [0, -1, -60_000, -60_001, 59_999, 60_000, 253_402_300_799_999, -62_135_596_800_000]
        var time: Int64 = 1_714_521_600_000
        for _ in 0..<20_000 {
            // Mostly close together, now and then a jump back or far ahead.
            time += Int64.random(in: -500...3_000, using: &random)
            if Int.random(in: 0..<100, using: &random) == 0 {
                time = Int64.random(in: -1_000_000_000_000...4_000_000_000_000, using: &random)
            }
            stamps.append(time)
        }
        // Buckets: a quarter of an hour, an hour and a day apart, across days and years.
        for step: Int64 in [900_000, 3_600_000, 86_400_000] {
            time = 1_703_980_800_000 - 5 * 86_400_000
            for _ in 0..<1_000 {
                time += step
                stamps.append(time)
            }
        }
        for stamp in stamps {
            var cached: [UInt8] = Array("x".utf8)
            text.append(stamp, to: &cached)
            var full: [UInt8] = Array("x".utf8)
            OCPPTimestamp(millisecondsSince1970: stamp).appendISO8601(to: &full)
            #expect(cached == full, "\(stamp)")
        }
    }

    @Test("A stream's sample rows written the quick way read as the general way writes them")
    func sampleRows() {
        var random = Numbers(state: 11)
        var batch = LiveStreams.SampleBatch()
        var general: [UInt8] = []
        var stamps = HistoryFormat.TimestampText()
        var time: Int64 = 1_714_521_600_000
        let slot = batch.slot(id: 3)
        for index in 0..<5_000 {
            time += Int64.random(in: 0...2_000, using: &random)
            let value: EventValue =
                switch index % 4 {
                case 0: .number(Double(Int.random(in: -99_999...99_999, using: &random)) / 10)
                case 1: .number(Double(bitPattern: random.next()))
                case 2: .number(Double(Int.random(in: 0...1_000_000, using: &random)))
                default: .numberWithText(12.5, "12.50")
                }
            let transaction: Int? = index % 3 == 0 ? nil : Int.random(in: Int.min...Int.max, using: &random)
            batch.add(slot, timestamp: time, value: value, transactionID: transaction)
            if !general.isEmpty { general.append(UInt8(ascii: ",")) }
            LiveStreams.SampleBatch.appendRow(
                timestamp: time,
                value: value,
                transactionID: transaction,
                timestamps: &stamps,
                to: &general
            )
        }
        #expect(batch.count == 5_000)
        #expect(String(decoding: batch.groups[slot].rows, as: UTF8.self) == String(decoding: general, as: UTF8.self))
    }
}
