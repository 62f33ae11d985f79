import NIOCore

/// Byte work on a client frame's payload: unmasking and UTF-8 validation.
enum WebSocketPayload {
    /// XORs the readable bytes with the repeating 4-byte mask (its bytes in memory order),
    /// eight bytes at a time (NIO's own unmasking goes byte by byte, and was 7 % of the
    /// server's time under load).
    /// - Returns: Whether every unmasked byte is ASCII (then the text is valid UTF-8 with no
    ///   further pass over it).
    @discardableResult
    static func unmask(_ buffer: inout ByteBuffer, mask mask32: UInt32) -> Bool {
        let mask64 = UInt64(mask32) | UInt64(mask32) << 32
        return buffer.withUnsafeMutableReadableBytes { bytes in
            let count = bytes.count
            var index = 0
            var seen: UInt64 = 0
            while index + 8 <= count {
                let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) ^ mask64
                bytes.storeBytes(of: word, toByteOffset: index, as: UInt64.self)
                seen |= word
                index += 8
            }
            var tail: UInt8 = 0
            while index < count {
                bytes[index] ^= withUnsafeBytes(of: mask32) { $0[index & 3] }
                tail |= bytes[index]
                index += 1
            }
            return seen & 0x8080_8080_8080_8080 == 0 && tail & 0x80 == 0
        }
    }

    /// Whether the readable bytes are well-formed UTF-8 (RFC 3629: no overlong forms, no
    /// surrogates, nothing above U+10FFFF), without building a string.
    static func isValidUTF8(_ buffer: ByteBuffer) -> Bool {
        buffer.withUnsafeReadableBytes { isValidUTF8($0) }
    }

    /// Whether `bytes` are well-formed UTF-8.
    static func isValidUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let count = bytes.count
        var index = 0
        while index < count {
            while index + 8 <= count,
                bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 == 0
            {
                index += 8
            }
            guard index < count else { return true }
            let lead = bytes[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            let length: Int
            var lowest: UInt8 = 0x80
            var highest: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0:
                length = 3
                lowest = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED:
                length = 3
                highest = 0x9F
            case 0xF0:
                length = 4
                lowest = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4:
                length = 4
                highest = 0x8F
            default: return false
            }
            guard index + length <= count else { return false }
            let second = bytes[index + 1]
            guard second >= lowest, second <= highest else { return false }
            var offset = 2
            while offset < length {
                guard bytes[index + offset] & 0xC0 == 0x80 else { return false }
                offset += 1
            }
            index += length
        }
        return true
    }

    /// Whether the text's first byte other than JSON whitespace opens an array, as an
    /// OCPP-J frame does.
    static func opensJSONArray(_ buffer: ByteBuffer) -> Bool {
        buffer.withUnsafeReadableBytes { bytes in
            for byte in bytes {
                switch byte {
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): continue
                default: return byte == UInt8(ascii: "[")
                }
            }
            return false
        }
    }
}
