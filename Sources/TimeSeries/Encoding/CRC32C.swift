import CRC32CHardware

/// CRC-32C (Castagnoli), the checksum of every WAL record, segment block and footer: by the
/// processor's instructions where it has them, else by slicing-by-8 tables (eight bytes per
/// step).
enum CRC32C {
    private static let tables: [[UInt32]] = {
        var tables = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            tables[0][byte] = crc
        }
        for byte in 0..<256 {
            for slice in 1..<8 {
                let previous = tables[slice - 1][byte]
                tables[slice][byte] = (previous >> 8) ^ tables[0][Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    /// Whether the processor's CRC-32C instructions are used (x86-64 with SSE 4.2, AArch64
    /// with CRC): about ten times the speed of the tables, which every block read and WAL
    /// record otherwise pays for.
    static let hardware = crc32c_hardware_available() != 0

    /// The checksum of `bytes`, continuing from `seed` (the checksum of what came before).
    static func checksum(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        guard hardware, let base = bytes.baseAddress else { return software(bytes, seed: seed) }
        return ~crc32c_hardware_update(~seed, base.assumingMemoryBound(to: UInt8.self), bytes.count)
    }

    /// The checksum by tables (slicing by 8), where the processor has no CRC-32C instructions.
    static func software(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        var crc = ~seed
        var position = 0
        let count = bytes.count
        tables.withUnsafeBufferPointer { tables in
            let t0 = tables[0], t1 = tables[1], t2 = tables[2], t3 = tables[3]
            let t4 = tables[4], t5 = tables[5], t6 = tables[6], t7 = tables[7]
            while position + 8 <= count {
                let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
                let low = UInt32(truncatingIfNeeded: word) ^ crc
                let high = UInt32(truncatingIfNeeded: word >> 32)
                crc =
                    t7[Int(low & 0xFF)] ^ t6[Int((low >> 8) & 0xFF)] ^ t5[Int((low >> 16) & 0xFF)]
                    ^ t4[Int(low >> 24)] ^ t3[Int(high & 0xFF)] ^ t2[Int((high >> 8) & 0xFF)]
                    ^ t1[Int((high >> 16) & 0xFF)] ^ t0[Int(high >> 24)]
                position += 8
            }
            while position < count {
                crc = (crc >> 8) ^ t0[Int((crc ^ UInt32(bytes[position])) & 0xFF)]
                position += 1
            }
        }
        return ~crc
    }

    static func checksum(_ bytes: [UInt8], seed: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, seed: seed) }
    }
}
