import Testing

@testable import TimeSeries

@Suite("CRC-32C")
struct CRC32CTests {
    @Test("The standard check value, by instructions and by tables")
    func checkValue() {
        let bytes = Array("123456789".utf8)
        #expect(CRC32C.checksum(bytes) == 0xE306_9283)
        #expect(bytes.withUnsafeBytes { CRC32C.software($0) } == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
    }

    @Test("Instructions and tables agree on every length, alignment and seed")
    func agree() {
        var generator = SystemRandomNumberGenerator()
        let data = (0..<4_096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        data.withUnsafeBytes { all in
            for start in 0..<9 {
                for length in [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1_000, 4_000] {
                    let slice = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
                    let seed = UInt32.random(in: 0...UInt32.max, using: &generator)
                    #expect(CRC32C.checksum(slice, seed: seed) == CRC32C.software(slice, seed: seed))
                }
            }
        }
        // Continuing from a seed is the checksum of the whole.
        let whole = CRC32C.checksum(data)
        let first = CRC32C.checksum(Array(data[..<1_234]))
        #expect(CRC32C.checksum(Array(data[1_234...]), seed: first) == whole)
    }
}
