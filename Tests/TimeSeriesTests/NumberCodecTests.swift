import Foundation
import Testing

@testable import TimeSeries

/// The numbers column gives back every value exactly, whichever encoding each run takes.
@Suite("Number codec")
struct NumberCodecTests {
    @Test("Runs of every shape round-trip exactly; noise around a level is bit-packed", arguments: [41, 42, 43])
    func roundTrip(seed: UInt64) throws {
        var random = DifferentialTests.SplitMix(state: seed)
        var numbers: [Double] = []
        var runs: [Range<Int>] = []
        for shape in 0..<40 {
            let count = Int.random(in: 1...300, using: &random)
            let start = numbers.count
            let level = Double(Int.random(in: -1_000_000...1_000_000, using: &random))
            for index in 0..<count {
                switch shape % 8 {
                case 0: numbers.append(level)  // constant: zero bits
                case 1: numbers.append(level + Double(Int.random(in: 0...40, using: &random)))  // noise
                case 2: numbers.append((level + Double(Int.random(in: -500...500, using: &random))) / 10)  // tenths
                case 3: numbers.append(level + Double(index * 183))  // a rising register
                case 4:
                    numbers.append(
                        Double(Int64.random(in: -8_999_999_999_999_999...8_999_999_999_999_999, using: &random))
                    )
                case 5: numbers.append(Double.random(in: -1...1, using: &random))  // no scale fits
                case 6: numbers.append(Int.random(in: 0..<4, using: &random) == 0 ? -0.0 : 0)
                default: numbers.append(Double(Int.random(in: 0...1, using: &random)) * 1e-9)
                }
            }
            runs.append(start..<numbers.count)
        }
        for version: UInt32 in [2, 3, 4] {
            try Self.expectRoundTrip(numbers, runs: runs, version: version, "seed \(seed)")
        }
        // Noise of 41 values around a level takes 6 bits a value packed, a byte as varints.
        let noise = (0..<1000).map { _ in 230_000 + Double(Int.random(in: 0...40, using: &random)) }
        let packed = BlockCodec.encodeNumbers(noise, runs: [0..<1000], version: 3)
        let unpacked = BlockCodec.encodeNumbers(noise, runs: [0..<1000], version: 2)
        #expect(packed.count <= 6 + 750 && unpacked.count >= 1000)
    }

    @Test("Stepping over varints eight bytes at a time ends where reading them one by one ends")
    func skipVarints() throws {
        var random = DifferentialTests.SplitMix(state: 19)
        var writer = ByteWriter()
        var values: [UInt64] = []
        for _ in 0..<2000 {
            // Widths of 1 to 10 bytes, short ones most often, as summaries hold them.
            var width = 1 + random.next() % 64
            if random.next() % 2 == 0 { width = min(width, 12) }
            let value = random.next() >> (64 - width)
            values.append(value)
            writer.writeVarint(value)
        }
        try writer.bytes.withUnsafeBytes { buffer in
            var ends: [Int] = [0]
            var reader = ByteReader(buffer)
            for value in values {
                #expect(try reader.readVarint() == value)
                ends.append(reader.position)
            }
            for start in stride(from: 0, to: values.count, by: 37) {
                for count in [0, 1, 7, 8, 9, 64, 200] where start + count <= values.count {
                    var skipping = ByteReader(buffer)
                    skipping.position = ends[start]
                    try skipping.skipVarints(count)
                    #expect(skipping.position == ends[start + count], "\(count) varints from varint \(start)")
                }
            }
            var past = ByteReader(buffer)
            #expect(throws: ByteReader.Truncated.self) { try past.skipVarints(values.count + 1) }
        }
    }

    /// Encodes `numbers` as format `version` writes them, decodes them (and steps over them
    /// run by run) and expects every value back bit for bit.
    static func expectRoundTrip(
        _ numbers: [Double],
        runs: [Range<Int>],
        version: UInt32,
        _ context: String
    ) throws {
        let bytes = BlockCodec.encodeNumbers(numbers, runs: runs, version: version)
        let decoded = try bytes.withUnsafeBytes { try BlockCodec.decodeNumbers($0, runs: runs) }
        #expect(decoded.count == numbers.count)
        for (index, pair) in zip(decoded, numbers).enumerated() where pair.0.bitPattern != pair.1.bitPattern {
            Issue.record("\(context), version \(version): value \(index) is \(pair.0), not \(pair.1)")
            break
        }
        let skipped = try bytes.withUnsafeBytes { buffer in
            var reader = ByteReader(buffer)
            for run in runs { try BlockCodec.skipRun(&reader, count: run.count) }
            return reader.position
        }
        #expect(skipped == bytes.count, "\(context), version \(version): skipping the runs ends where they end")
    }

    /// A charger's three hours: idle (power a few tenths of a watt, the register still), then a
    /// session (kilowatts with 3 % noise, the register rising by about 183 Wh a minute).
    static func idleThenSession(_ random: inout DifferentialTests.SplitMix) -> (power: [Double], energy: [Double]) {
        var power: [Double] = []
        var energy: [Double] = []
        var register = 4_812_003.0
        for minute in 0..<180 {
            if minute < 110 {
                power.append(Double(Int.random(in: 0...30, using: &random)) / 10)
            } else {
                let watts = 11_000 * Double.random(in: 0.97...1.03, using: &random)
                power.append((watts * 10).rounded() / 10)
                register += (watts / 60).rounded()
            }
            energy.append(register)
        }
        return (power, energy)
    }

    @Test("Miniblocks: a run of idle hours and a session takes each part's width; a register's deltas a few bits")
    func miniblocks() throws {
        var random = DifferentialTests.SplitMix(state: 7)
        let (power, energy) = Self.idleThenSession(&random)
        for (name, values) in [("power", power), ("energy", energy)] {
            let runs = [0..<values.count]
            let version3 = BlockCodec.encodeNumbers(values, runs: runs, version: 3)
            let version4 = BlockCodec.encodeNumbers(values, runs: runs, version: 4)
            #expect(version4.first == 5, "\(name): the miniblocks are chosen")
            try Self.expectRoundTrip(values, runs: runs, version: 4, name)
            // Power: a varint delta a value (1 byte idle, 2 in the session) for the whole run;
            // 5 bits (idle) or 13 (the session) in miniblocks, 17 for the one that holds both.
            // Energy: deltas of deltas a byte a value; its deltas are 0 (idle: no bits) or about
            // 183 +- 6 Wh (4 bits) in miniblocks.
            let most = name == "power" ? 0.95 : 0.6
            #expect(
                Double(version4.count) < most * Double(version3.count),
                "\(name): \(version4.count) bytes against \(version3.count)"
            )
        }
        // Every length around the miniblock's size, values at both ends of what a scale keeps,
        // constant and alternating runs.
        var numbers: [Double] = []
        var runs: [Range<Int>] = []
        for length in [1, 2, 31, 32, 33, 63, 64, 65, 97] {
            for shape in 0..<4 {
                let start = numbers.count
                for index in 0..<length {
                    switch shape {
                    case 0: numbers.append(index % 2 == 0 ? 8_999_999_999_999_999 : -8_999_999_999_999_999)
                    case 1: numbers.append(-42.5)
                    case 2: numbers.append(Double(index * 1_000_003 % 97) / 100)
                    default: numbers.append(Double(Int64.random(in: -(1 << 40)...(1 << 40), using: &random)))
                    }
                }
                runs.append(start..<numbers.count)
            }
        }
        try Self.expectRoundTrip(numbers, runs: runs, version: 4, "lengths")
    }
}
