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
        for packed in [true, false] {
            let bytes = BlockCodec.encodeNumbers(numbers, runs: runs, packed: packed)
            let decoded = try bytes.withUnsafeBytes { try BlockCodec.decodeNumbers($0, runs: runs) }
            #expect(decoded.count == numbers.count)
            for (index, pair) in zip(decoded, numbers).enumerated() where pair.0.bitPattern != pair.1.bitPattern {
                Issue.record("seed \(seed), packed \(packed): value \(index) is \(pair.0), not \(pair.1)")
                break
            }
        }
        // Noise of 41 values around a level takes 6 bits a value packed, a byte as varints.
        let noise = (0..<1000).map { _ in 230_000 + Double(Int.random(in: 0...40, using: &random)) }
        let packed = BlockCodec.encodeNumbers(noise, runs: [0..<1000], packed: true)
        let unpacked = BlockCodec.encodeNumbers(noise, runs: [0..<1000], packed: false)
        #expect(packed.count <= 6 + 750 && unpacked.count >= 1000)
    }
}
