import Foundation
import Testing

@testable import TimeSeries

/// A block decoded for some of its series holds exactly those series' rows of the whole
/// decode, in every column, whatever the numbers' encodings, kinds and transactions.
@Suite("Decoding some series of a block")
struct SeriesDecodeTests {
    /// A block of `series` runs of every shape: numbers of each encoding, texts, numbers with
    /// text, sessions starting and ending inside runs.
    static func block(seed: UInt64, series: Int) -> [StoredRow] {
        var random = DifferentialTests.SplitMix(state: seed)
        var rows: [StoredRow] = []
        var transaction: Int? = nil
        for id in 0..<series {
            let count = Int.random(in: 1...200, using: &random)
            let level = Double(Int.random(in: -100_000...100_000, using: &random))
            var timestamp = Int64.random(in: 1_700_000_000_000...1_700_100_000_000, using: &random)
            for index in 0..<count {
                let value: EventValue
                switch (id + index / 50) % 7 {
                case 0: value = .number(level + Double(Int.random(in: 0...40, using: &random)))
                case 1: value = .number(level + Double(index * 183))
                case 2: value = .number(Double.random(in: -1...1, using: &random))
                case 3: value = .numberWithText(level / 100, "\(level / 100)")
                case 4: value = .text("Charging")
                case 5: value = .number((level + Double(Int.random(in: -500...500, using: &random))) / 10)
                default:
                    value = .number(Double(Int64.random(in: -8_999_999_999_999...8_999_999_999_999, using: &random)))
                }
                if Int.random(in: 0..<40, using: &random) == 0 {
                    transaction = Bool.random(using: &random) ? nil : Int.random(in: -5...1_000_000, using: &random)
                }
                rows.append(
                    StoredRow(seriesID: UInt32(id * 3), timestamp: timestamp, value: value, transactionID: transaction)
                )
                timestamp += Int64.random(in: 1...120_000, using: &random)
            }
        }
        return rows
    }

    @Test(
        "Every subset of series and every selection gives the whole decode's rows of those series",
        arguments: [1, 2, 3] as [UInt64]
    )
    func subsets(seed: UInt64) throws {
        let rows = Self.block(seed: seed, series: 24)
        for version in [2, 3] as [UInt32] {
            let bytes = BlockCodec.encode(rows[...], version: version)
            let selections: [BlockCodec.Selection] = [
                [], [.kinds], [.numbers, .kinds], [.kinds, .numbers, .transactions], .all,
            ]
            var random = DifferentialTests.SplitMix(state: seed &* 31)
            for trial in 0..<20 {
                // Every series, none, the first or the last alone, or a random subset.
                let wanted: Set<UInt32> =
                    switch trial {
                    case 0: Set((0..<24).map { UInt32($0 * 3) })
                    case 1: []
                    case 2: [0]
                    case 3: [69]
                    default: Set((0..<24).filter { _ in Bool.random(using: &random) }.map { UInt32($0 * 3) })
                    }
                for selection in selections {
                    let (whole, some) = try bytes.withUnsafeBytes { buffer in
                        (
                            try BlockCodec.decode(buffer, selection: selection, version: version),
                            try BlockCodec.decode(buffer, selection: selection, version: version) {
                                wanted.contains($0)
                            }
                        )
                    }
                    let kept = whole.seriesIDs.indices.filter { wanted.contains(whole.seriesIDs[$0]) }
                    #expect(some.seriesIDs == kept.map { whole.seriesIDs[$0] })
                    #expect(some.timestamps == kept.map { whole.timestamps[$0] })
                    #expect(some.kinds == (whole.kinds.isEmpty ? [] : kept.map { whole.kinds[$0] }))
                    #expect(
                        some.numbers.map(\.bitPattern)
                            == (whole.numbers.isEmpty ? [] : kept.map { whole.numbers[$0].bitPattern })
                    )
                    #expect(some.texts == (whole.texts.isEmpty ? [] : kept.map { whole.texts[$0] }))
                    #expect(
                        some.transactions == (whole.transactions.isEmpty ? [] : kept.map { whole.transactions[$0] })
                    )
                }
            }
        }
    }

    @Test("A truncated column fails the decode of some series as it fails the whole decode")
    func truncated() throws {
        let rows = Self.block(seed: 7, series: 6)
        var bytes = BlockCodec.encode(rows[...])
        // The row count claims one row more than the columns hold.
        var reader = ByteWriter()
        reader.writeVarint(UInt64(rows.count + 1))
        var original = ByteWriter()
        original.writeVarint(UInt64(rows.count))
        bytes.replaceSubrange(0..<original.bytes.count, with: reader.bytes)
        #expect(throws: (any Error).self) {
            try bytes.withUnsafeBytes { try BlockCodec.decode($0, selection: [.numbers], wants: { $0 == 3 }) }
        }
        #expect(throws: (any Error).self) {
            try bytes.withUnsafeBytes { try BlockCodec.decode($0, selection: [.numbers]) }
        }
    }
}
