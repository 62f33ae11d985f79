/// Where a string's contents lie in the buffer (between the quotes).
struct StringSpan {
    var start: Int
    var count: Int
    var hasEscapes: Bool
    var isASCII: Bool
}

/// Where a number's text lies in the buffer.
struct NumberSpan {
    var start: Int
    var end: Int
    /// No fraction and no exponent.
    var isInteger: Bool
}

extension JSONReader {
    /// Scans a string starting at its opening quote; leaves the reader after the closing quote.
    mutating func scanString() throws(OCPPError) -> StringSpan {
        // A local position (written back once) lets the loop keep it in a register.
        var position = index &+ 1
        let start = position
        let count = bytes.count
        var hasEscapes = false
        var isASCII = true
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        while true {
            // Eight bytes at a time: find the first quote, backslash, control character or
            // non-ASCII byte. The lowest flagged byte is exact (borrows only run upwards).
            while position &+ 8 <= count {
                let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
                let quotes = word ^ (ones &* 0x22)
                let backslashes = word ^ (ones &* 0x5C)
                let special =
                    (((quotes &- ones) & ~quotes) | ((backslashes &- ones) & ~backslashes)
                        | ((word &- ones &* 0x20) & ~word) | word) & highs
                if special != 0 {
                    position &+= special.trailingZeroBitCount &>> 3
                    break
                }
                position &+= 8
            }
            guard position < count else { break }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                index = position &+ 1
                return StringSpan(start: start, count: position &- start, hasEscapes: hasEscapes, isASCII: isASCII)
            }
            if byte == UInt8(ascii: "\\") {
                hasEscapes = true
                position &+= 2
            } else if byte < 0x20 {
                index = position
                throw syntaxError("unescaped control character in string")
            } else {
                if byte >= 0x80 { isASCII = false }
                position &+= 1
            }
        }
        index = count
        throw syntaxError("unterminated string")
    }

    /// The text of a scanned string, with escapes resolved and UTF-8 validated.
    func decodeString(_ span: StringSpan) throws(OCPPError) -> String {
        let raw = UnsafeRawBufferPointer(rebasing: bytes[span.start..<span.start + span.count])
        if !span.hasEscapes {
            if span.isASCII {
                return String(decoding: raw, as: UTF8.self)
            }
            guard let text = String(validating: raw, as: UTF8.self) else {
                throw .formation("string is not valid UTF-8")
            }
            return text
        }
        var unescaped: [UInt8] = []
        unescaped.reserveCapacity(span.count)
        var position = 0
        while position < raw.count {
            let byte = raw[position]
            guard byte == UInt8(ascii: "\\") else {
                unescaped.append(byte)
                position += 1
                continue
            }
            guard position + 1 < raw.count else { throw .formation("not valid JSON: dangling escape in string") }
            let escaped = raw[position + 1]
            position += 2
            switch escaped {
            case UInt8(ascii: "\""): unescaped.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): unescaped.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "/"): unescaped.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): unescaped.append(0x08)
            case UInt8(ascii: "f"): unescaped.append(0x0C)
            case UInt8(ascii: "n"): unescaped.append(0x0A)
            case UInt8(ascii: "r"): unescaped.append(0x0D)
            case UInt8(ascii: "t"): unescaped.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try Self.hex4(raw, at: position)
                position += 4
                if (0xD800...0xDBFF).contains(scalar) {
                    guard position + 6 <= raw.count, raw[position] == UInt8(ascii: "\\"),
                        raw[position + 1] == UInt8(ascii: "u")
                    else { throw .formation("not valid JSON: unpaired surrogate in string") }
                    let low = try Self.hex4(raw, at: position + 2)
                    guard (0xDC00...0xDFFF).contains(low) else {
                        throw .formation("not valid JSON: unpaired surrogate in string")
                    }
                    position += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw .formation("not valid JSON: unpaired surrogate in string")
                }
                guard let unicode = Unicode.Scalar(scalar) else {
                    throw .formation("not valid JSON: invalid \\u escape")
                }
                unescaped.append(contentsOf: UTF8.encode(unicode)!)
            default:
                throw .formation("not valid JSON: invalid escape '\\\(Character(Unicode.Scalar(escaped)))'")
            }
        }
        guard let text = String(validating: unescaped, as: UTF8.self) else {
            throw .formation("string is not valid UTF-8")
        }
        return text
    }

    private static func hex4(_ raw: UnsafeRawBufferPointer, at position: Int) throws(OCPPError) -> UInt32 {
        guard position + 4 <= raw.count else { throw .formation("not valid JSON: short \\u escape") }
        var value: UInt32 = 0
        for offset in 0..<4 {
            let byte = raw[position + offset]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw .formation("not valid JSON: invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// Scans a number per the JSON grammar; leaves the reader after it.
    mutating func scanNumber() throws(OCPPError) -> NumberSpan {
        let start = index
        var isInteger = true
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw syntaxError("invalid number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw syntaxError("invalid number") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard index < bytes.count, isDigit(bytes[index]) else { throw syntaxError("invalid number") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        return NumberSpan(start: start, end: index, isInteger: isInteger)
    }

    @inline(__always)
    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    func numberText(_ number: NumberSpan) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[number.start..<number.end]), as: UTF8.self)
    }

    /// The value of a scanned number, correctly rounded.
    func parseDouble(_ number: NumberSpan) -> Double {
        if let fast = NumberRules.fastDouble(UnsafeRawBufferPointer(rebasing: bytes[number.start..<number.end])) {
            return fast
        }
        return Double(numberText(number)) ?? .nan
    }
}

/// Number rules shared by the reader and the writer.
enum NumberRules {
    private static let powersOfTen: [Double] = (0...22).map { exponent in
        var value = 1.0
        for _ in 0..<exponent { value *= 10 }
        return value
    }

    /// Clinger's fast path: exact when the mantissa has at most 15 digits and the decimal
    /// exponent is small, because both operands and the single division/multiplication
    /// are then exactly representable or correctly rounded. `nil` otherwise.
    static func fastDouble(_ text: UnsafeRawBufferPointer) -> Double? {
        var position = 0
        var negative = false
        if position < text.count, text[position] == UInt8(ascii: "-") {
            negative = true
            position += 1
        }
        var mantissa: UInt64 = 0
        var digits = 0
        var exponent = 0
        var inFraction = false
        while position < text.count {
            let byte = text[position]
            if byte == UInt8(ascii: ".") {
                inFraction = true
            } else if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                if mantissa != 0 || byte != UInt8(ascii: "0") { digits += 1 }
                if digits > 15 { return nil }
                mantissa = mantissa * 10 + UInt64(byte - UInt8(ascii: "0"))
                if inFraction { exponent -= 1 }
            } else {
                break
            }
            position += 1
        }
        if position < text.count {
            // Exponent part.
            position += 1
            var exponentNegative = false
            if position < text.count, text[position] == UInt8(ascii: "+") || text[position] == UInt8(ascii: "-") {
                exponentNegative = text[position] == UInt8(ascii: "-")
                position += 1
            }
            var explicit = 0
            while position < text.count {
                explicit = explicit * 10 + Int(text[position] - UInt8(ascii: "0"))
                if explicit > 400 { return nil }
                position += 1
            }
            exponent += exponentNegative ? -explicit : explicit
        }
        var value = Double(mantissa)
        if exponent < 0 {
            guard -exponent <= 22 else { return nil }
            value /= powersOfTen[-exponent]
        } else if exponent > 0 {
            guard exponent <= 22 else { return nil }
            value *= powersOfTen[exponent]
        }
        return negative ? -value : value
    }

    /// Whether `value` is a multiple of `divisor`, tolerating binary rounding of decimal input
    /// (so that 0.3 counts as a multiple of 0.1).
    static func isMultiple(_ value: Double, of divisor: Double) -> Bool {
        let quotient = value / divisor
        return abs(quotient - quotient.rounded()) <= 1e-9 * max(1, abs(quotient))
    }
}

/// URI syntax as far as the schemas' `format: uri` needs it.
enum URISyntax {
    /// Whether `text` starts with an RFC 3986 scheme (`ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"`)
    /// followed by something, and holds no whitespace.
    static func hasScheme(_ text: String) -> Bool {
        let utf8 = Array(text.utf8)
        guard let colon = utf8.firstIndex(of: UInt8(ascii: ":")), colon > 0, colon + 1 < utf8.count else {
            return false
        }
        guard utf8[0].isASCIILetter else { return false }
        for byte in utf8[1..<colon]
        where
            !(byte.isASCIILetter || byte.isASCIIDigit || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
            || byte == UInt8(ascii: "."))
        {
            return false
        }
        return !utf8.contains { $0 <= 0x20 }
    }
}

extension UInt8 {
    var isASCIILetter: Bool {
        (self >= UInt8(ascii: "a") && self <= UInt8(ascii: "z"))
            || (self >= UInt8(ascii: "A") && self <= UInt8(ascii: "Z"))
    }

    var isASCIIDigit: Bool {
        self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9")
    }
}
