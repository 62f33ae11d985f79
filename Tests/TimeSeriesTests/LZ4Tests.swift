import Testing
import TimeSeries

@Suite("LZ4")
struct LZ4Tests {
    @Test("Round trip of compressible, random and empty data")
    func roundTrip() throws {
        var generator = SystemRandomNumberGenerator()
        let samples: [[UInt8]] = [
            [],
            Array(repeating: 7, count: 100_000),
            (0..<65_536).map { _ in UInt8.random(in: 0...255, using: &generator) },
            Array("Energy.Active.Import.Register".utf8),
        ]
        for sample in samples {
            let compressed = LZ4.compress(sample)
            #expect(try LZ4.decompress(compressed, originalSize: sample.count) == sample)
        }
        #expect(LZ4.compress(Array(repeating: 7, count: 100_000)).count < 1_000)
    }

    @Test("A corrupt or truncated block is an error, not a crash")
    func corrupt() {
        let original = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 * 31 % 251) }
        let compressed = LZ4.compress(original)
        #expect(throws: LZ4Error.self) {
            try LZ4.decompress(Array(compressed.prefix(compressed.count / 2)), originalSize: original.count)
        }
        #expect(throws: LZ4Error.self) { try LZ4.decompress(compressed, originalSize: original.count - 1) }
        #expect(throws: LZ4Error.self) { try LZ4.decompress([0xFF, 0xFF, 0xFF], originalSize: 100) }
    }
}
