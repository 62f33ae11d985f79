/// Appends little-endian integers, varints and bytes to a growing byte array.
struct ByteWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    @inline(__always)
    mutating func write(_ value: UInt8) { bytes.append(value) }

    @inline(__always)
    mutating func write(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    @inline(__always)
    mutating func write(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    @inline(__always)
    mutating func write(_ value: Int64) { write(UInt64(bitPattern: value)) }

    @inline(__always)
    mutating func write(_ value: Double) { write(value.bitPattern) }

    /// LEB128.
    @inline(__always)
    mutating func writeVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    /// Zigzag, then LEB128: small magnitudes of either sign take few bytes.
    @inline(__always)
    mutating func writeSignedVarint(_ value: Int64) {
        writeVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    mutating func writeBytes(_ value: some Collection<UInt8>) {
        writeVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func writeString(_ value: String) { writeBytes(value.utf8) }

    mutating func writeOptionalString(_ value: String?) {
        if let value {
            write(UInt8(1))
            writeString(value)
        } else {
            write(UInt8(0))
        }
    }
}

/// Reads what ``ByteWriter`` wrote, failing (not trapping) on truncated or malformed input.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    struct Truncated: Error {}

    var remaining: Int { bytes.count - position }
    var isAtEnd: Bool { position >= bytes.count }

    @inline(__always)
    mutating func readByte() throws(Truncated) -> UInt8 {
        guard position < bytes.count else { throw Truncated() }
        defer { position += 1 }
        return bytes[position]
    }

    @inline(__always)
    mutating func readUInt32() throws(Truncated) -> UInt32 {
        guard position + 4 <= bytes.count else { throw Truncated() }
        defer { position += 4 }
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self))
    }

    @inline(__always)
    mutating func readUInt64() throws(Truncated) -> UInt64 {
        guard position + 8 <= bytes.count else { throw Truncated() }
        defer { position += 8 }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
    }

    mutating func readInt64() throws(Truncated) -> Int64 { Int64(bitPattern: try readUInt64()) }

    mutating func readDouble() throws(Truncated) -> Double { Double(bitPattern: try readUInt64()) }

    @inline(__always)
    mutating func readVarint() throws(Truncated) -> UInt64 {
        // Fast path: a varint is at most 10 bytes; with that many left, no per-byte bounds check.
        if bytes.count - position >= 10 {
            let base = bytes.baseAddress.unsafelyUnwrapped + position
            var result: UInt64 = 0
            var shift: UInt64 = 0
            var offset = 0
            while offset < 10 {
                let byte = base.load(fromByteOffset: offset, as: UInt8.self)
                result |= UInt64(byte & 0x7F) &<< shift
                offset &+= 1
                if byte < 0x80 {
                    position &+= offset
                    return result
                }
                shift &+= 7
            }
            throw Truncated()
        }
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < bytes.count, shift < 64 else { throw Truncated() }
            let byte = bytes[position]
            position += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
    }

    @inline(__always)
    mutating func readSignedVarint() throws(Truncated) -> Int64 {
        let raw = try readVarint()
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    /// Steps over `count` varints without decoding them.
    mutating func skipVarints(_ count: Int) throws(Truncated) {
        var left = count
        var position = self.position
        // Eight bytes at a time while at least eight varints are left: each byte without its
        // high bit ends one.
        while left >= 8, bytes.count - position >= 8 {
            let word = bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self)
            left &-= (~word & 0x8080_8080_8080_8080).nonzeroBitCount
            position &+= 8
        }
        while left > 0 {
            guard position < bytes.count else { throw Truncated() }
            if bytes[position] < 0x80 { left &-= 1 }
            position &+= 1
        }
        self.position = position
    }

    /// Steps over `count` bytes.
    mutating func skip(_ count: Int) throws(Truncated) {
        guard count >= 0, count <= remaining else { throw Truncated() }
        position += count
    }

    mutating func readBytes() throws(Truncated) -> UnsafeRawBufferPointer {
        let count = try readVarint()
        guard count <= UInt64(remaining) else { throw Truncated() }
        defer { position += Int(count) }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<position + Int(count)])
    }

    mutating func readString() throws(Truncated) -> String {
        String(decoding: try readBytes(), as: UTF8.self)
    }

    mutating func readOptionalString() throws(Truncated) -> String? {
        try readByte() == 0 ? nil : try readString()
    }
}
