import CivilCalendar

/// An instant in UTC with millisecond precision: the value of every OCPP `date-time` field.
///
/// Parsed from RFC 3339 / ISO 8601 (`2024-01-31T13:45:00Z`, with or without fractional
/// seconds, `Z` or an offset such as `+02:00`), normalized to UTC, and written as
/// `YYYY-MM-DDTHH:MM:SS.sssZ`. Fractional digits beyond milliseconds are truncated.
public struct OCPPTimestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public var millisecondsSince1970: Int64

    /// - Parameter millisecondsSince1970: Milliseconds since 1970-01-01T00:00:00Z.
    public init(millisecondsSince1970: Int64) {
        self.millisecondsSince1970 = millisecondsSince1970
    }

    public static func < (lhs: OCPPTimestamp, rhs: OCPPTimestamp) -> Bool {
        lhs.millisecondsSince1970 < rhs.millisecondsSince1970
    }

    /// Parses an RFC 3339 date-time; `nil` if `text` is not one.
    public init?(iso8601 text: String) {
        var text = text
        guard let parsed = text.withUTF8({ OCPPTimestamp(iso8601: UnsafeRawBufferPointer($0)) }) else { return nil }
        self = parsed
    }

    /// Parses an RFC 3339 date-time from UTF-8 bytes; `nil` if they are not one.
    public init?(iso8601 bytes: UnsafeRawBufferPointer) {
        // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM|+HHMM|-HHMM)
        guard bytes.count >= 20 else { return nil }
        func digits(_ start: Int, _ count: Int) -> Int? {
            var value = 0
            for position in start..<start + count {
                let byte = bytes[position]
                guard byte.isASCIIDigit else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = digits(0, 4), bytes[4] == UInt8(ascii: "-"),
            let month = digits(5, 2), bytes[7] == UInt8(ascii: "-"),
            let day = digits(8, 2),
            bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t"),
            let hour = digits(11, 2), bytes[13] == UInt8(ascii: ":"),
            let minute = digits(14, 2), bytes[16] == UInt8(ascii: ":"),
            let second = digits(17, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= Gregorian.daysIn(month: month, year: year),
            hour <= 23, minute <= 59, second <= 60
        else { return nil }

        var position = 19
        var milliseconds = 0
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            let fractionStart = position
            while position < bytes.count, bytes[position].isASCIIDigit {
                if position - fractionStart < 3 {
                    milliseconds = milliseconds * 10 + Int(bytes[position] - UInt8(ascii: "0"))
                }
                position += 1
            }
            let fractionDigits = position - fractionStart
            guard fractionDigits > 0 else { return nil }
            var scale = fractionDigits
            while scale < 3 {
                milliseconds *= 10
                scale += 1
            }
        }
        guard position < bytes.count else { return nil }
        var offsetMinutes = 0
        switch bytes[position] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            position += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign = bytes[position] == UInt8(ascii: "-") ? -1 : 1
            position += 1
            let remaining = bytes.count - position
            guard remaining == 5 || remaining == 4 else { return nil }
            guard let offsetHours = digits(position, 2) else { return nil }
            let minuteStart = remaining == 5 ? position + 3 : position + 2
            if remaining == 5 { guard bytes[position + 2] == UInt8(ascii: ":") else { return nil } }
            guard let offsetMinute = digits(minuteStart, 2), offsetHours <= 23, offsetMinute <= 59 else { return nil }
            offsetMinutes = sign * (offsetHours * 60 + offsetMinute)
            position = bytes.count
        default:
            return nil
        }
        guard position == bytes.count else { return nil }

        let days = Gregorian.daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetMinutes * 60)
        self.millisecondsSince1970 = seconds * 1000 + Int64(milliseconds)
    }

    /// The proleptic Gregorian date of a day count since 1970-01-01.
    public static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        Gregorian.civilFromDays(days)
    }

    /// Appends `YYYY-MM-DDTHH:MM:SS.sssZ` (without building a `String`).
    public func appendISO8601(to bytes: inout [UInt8]) {
        let milliseconds = Int(floorModulo(millisecondsSince1970, 1000))
        let totalSeconds = Int((millisecondsSince1970 - Int64(milliseconds)) / 1000)
        let secondsOfDay = floorModulo(totalSeconds, 86_400)
        let days = (totalSeconds - secondsOfDay) / 86_400
        let date = Gregorian.civilFromDays(days)
        func append(_ value: Int, width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            var remaining = value
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(remaining / divisor % 10))
                remaining %= divisor
                divisor /= 10
            }
        }
        append(date.year, width: 4)
        bytes.append(UInt8(ascii: "-"))
        append(date.month, width: 2)
        bytes.append(UInt8(ascii: "-"))
        append(date.day, width: 2)
        bytes.append(UInt8(ascii: "T"))
        append(secondsOfDay / 3600, width: 2)
        bytes.append(UInt8(ascii: ":"))
        append(secondsOfDay / 60 % 60, width: 2)
        bytes.append(UInt8(ascii: ":"))
        append(secondsOfDay % 60, width: 2)
        bytes.append(UInt8(ascii: "."))
        append(milliseconds, width: 3)
        bytes.append(UInt8(ascii: "Z"))
    }

    /// `YYYY-MM-DDTHH:MM:SS.sssZ`.
    public var iso8601: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        appendISO8601(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    public var description: String { iso8601 }
}

/// Modulo that is never negative (floor division's remainder).
private func floorModulo<Value: BinaryInteger>(_ lhs: Value, _ rhs: Value) -> Value {
    let remainder = lhs % rhs
    return remainder < 0 ? remainder + rhs : remainder
}
