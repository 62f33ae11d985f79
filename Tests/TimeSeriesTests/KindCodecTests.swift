import Foundation
import Testing

@testable import TimeSeries

/// The kinds column: kinds that the numbers tell take one pair a series run, and every row
/// reads back with the value it was written with, whichever path reads it.
@Suite("Kind codec")
struct KindCodecTests {
    /// A charger's values as it prints them: `places` decimals, so a last decimal of zero is
    /// padded ("230.0") and kept as text beside the number.
    static func printed(_ scaled: Int, places: Int) -> EventValue {
        let factor = places == 1 ? 10 : 100
        let whole = scaled / factor
        var fraction = String(abs(scaled % factor))
        while fraction.count < places { fraction = "0" + fraction }
        return EventValue.sample((scaled < 0 && whole == 0 ? "-" : "") + "\(whole).\(fraction)")
    }

    /// Three series of printed values (voltage in tenths, currents in hundredths, negative
    /// values), one of mixed values, one of statuses.
    static func rows(_ random: inout DifferentialTests.SplitMix) -> [StoredRow] {
        var rows: [StoredRow] = []
        for series in UInt32(0)..<5 {
            for minute in 0..<300 {
                let value: EventValue
                switch series {
                case 0: value = printed(Int.random(in: 2270...2330, using: &random), places: 1)
                case 1: value = printed(Int.random(in: 0...3200, using: &random), places: 2)
                case 2: value = printed(Int.random(in: -500...500, using: &random), places: 1)
                case 3:
                    // Padded and unpadded decimals of two widths, texts, plain numbers.
                    value =
                        [
                            printed(Int.random(in: 0...99, using: &random), places: 1),
                            printed(Int.random(in: 0...99, using: &random), places: 2),
                            .text("n/a"), .number(Double(minute)),
                        ][minute % 4]
                default:
                    value = .status(
                        StatusEvent(status: minute % 2 == 0 ? "Available" : "Charging", errorCode: "NoError")
                    )
                }
                rows.append(
                    StoredRow(seriesID: series, timestamp: Int64(minute) * 60_000, value: value, transactionID: nil)
                )
            }
        }
        return rows
    }

    @Test("Printed values' kinds take a pair a series; rows read back whole, by any path", arguments: [3, 4])
    func roundTrip(seed: UInt64) throws {
        var random = DifferentialTests.SplitMix(state: seed)
        let rows = Self.rows(&random)
        #expect(rows.contains { if case .numberWithText = $0.value { true } else { false } })
        let expectedKinds = rows.map { ValueCodec.parts(of: $0.value).kind }
        for version: UInt32 in [3, 4] {
            let block = BlockCodec.encode(rows[...], version: version)
            let kindBytes = try block.withUnsafeBytes {
                try BlockCodec.columnSlices($0, version: version).columns[2].size
            }
            if version == 4 {
                // Series 0 to 2 and the statuses one pair each; series 3 as it was.
                let mixed = BlockCodec.encode(rows[900..<1200], version: 3)
                let mixedBytes = try mixed.withUnsafeBytes {
                    try BlockCodec.columnSlices($0, version: 3).columns[2].size
                }
                #expect(kindBytes <= mixedBytes + 4 * 3, "\(kindBytes) bytes, \(mixedBytes) for series 3")
            }
            try block.withUnsafeBytes { buffer in
                let all = try BlockCodec.decode(buffer, selection: .all, version: version)
                #expect(all.kinds == expectedKinds)
                let decoded = try (0..<rows.count).map { try Segment.value(all, $0) }
                #expect(decoded == rows.map(\.value), "version \(version)")
                // Kinds alone, of all series and of some: the numbers are read to tell them.
                let kindsOnly = try BlockCodec.decode(buffer, selection: .kinds, version: version)
                #expect(kindsOnly.kinds == expectedKinds)
                let some = try BlockCodec.decode(buffer, selection: .kinds, version: version) { $0 == 0 || $0 == 2 }
                #expect(some.kinds == Array(expectedKinds[0..<300] + expectedKinds[600..<900]))
                let someNumbers = try BlockCodec.decode(buffer, selection: [.kinds, .numbers], version: version) {
                    $0 == 1
                }
                #expect(someNumbers.kinds == Array(expectedKinds[300..<600]))
            }
        }
        let version3 = BlockCodec.encode(rows[...], version: 3)
        let version4 = BlockCodec.encode(rows[...], version: 4)
        #expect(version4.count < version3.count)
    }

    @Test("A row whose kind its number does not tell keeps the series' kinds written out")
    func unpredictable() throws {
        // "5e-05" prints in exponent form: "0.00005" is kept as text beside the number, though
        // its last decimal is not a zero.
        let values: [EventValue] = [.sample("0.00010"), .sample("0.00005"), .sample("0.00012")]
        let rows = values.enumerated().map { index, value in
            StoredRow(seriesID: 1, timestamp: Int64(index), value: value, transactionID: nil)
        }
        let kinds = rows.map { ValueCodec.parts(of: $0.value).kind }
        let block = BlockCodec.encode(rows[...], version: 4)
        try block.withUnsafeBytes { buffer in
            let written = try BlockCodec.encode(rows[...], version: 3).withUnsafeBytes {
                try BlockCodec.columnSlices($0, version: 3).columns[2].size
            }
            #expect(try BlockCodec.columnSlices(buffer, version: 4).columns[2].size == written)
            let columns = try BlockCodec.decode(buffer, selection: .all, version: 4)
            #expect(columns.kinds == kinds)
            #expect(try (0..<rows.count).map { try Segment.value(columns, $0) } == values)
        }
    }
}
