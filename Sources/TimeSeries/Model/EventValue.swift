/// The value of one row.
public enum EventValue: Sendable, Hashable {
    /// A number whose canonical text is what the charger sent (so the text is not kept).
    case number(Double)
    /// A number whose original text must be kept because the number alone would not give it
    /// back (`"0012.50"`, `"1e3"`).
    case numberWithText(Double, String)
    /// Text that is not a number, or signed meter data (kept byte for byte).
    case text(String)
    /// A connector status change. Boxed: inline, its five strings would make every value 81
    /// bytes instead of 25, and every row the memtable holds twice as large.
    indirect case status(StatusEvent)
    /// Another notification's payload (JSON text).
    case payload(String)

    /// The numeric value, if there is one.
    public var number: Double? {
        switch self {
        case .number(let value), .numberWithText(let value, _): return value
        default: return nil
        }
    }

    /// The value of a meter sample as the charger sent it: a number when its text round-trips,
    /// otherwise the number and the exact text, or only the text. `SignedData` is always text.
    /// - Parameters:
    ///   - text: The sampled value's text.
    ///   - signed: Whether the sample's format is `SignedData`.
    public static func sample(_ text: String, signed: Bool = false) -> EventValue {
        if signed { return .text(text) }
        if let decimal = plainDecimal(text) {
            return decimal.canonical ? .number(decimal.value) : .numberWithText(decimal.value, text)
        }
        return generalSample(text)
    }

    /// The general path of ``sample(_:signed:)``: parse, then compare with the canonical text.
    static func generalSample(_ text: String) -> EventValue {
        guard let number = Double(text), number.isFinite else { return .text(text) }
        return canonicalText(number) == text ? .number(number) : .numberWithText(number, text)
    }

    /// The value of `text` when it is a plain decimal, and whether it is already the canonical
    /// spelling of its number, decided without parsing to `Double` and printing it again (what
    /// meter values nearly always are: `1234.5`, `230.4`, `55`, and padded ones like `230.0`).
    ///
    /// It accepts an optional `-` and at most 15 significant digits without leading zeros, with
    /// an optional fraction of at most 18 digits. With at most 15 digits the value is exact as
    /// `mantissa / 10^k` (both exact in a `Double`, and the division is correctly rounded, as
    /// parsing is). A fraction ending in 0 is never canonical. Otherwise, from 0.001 on, the
    /// text round-trips through a `Double` and no shorter decimal maps to the same `Double`, so
    /// it is the shortest round-trip form Swift prints: canonical. Smaller values (printed in
    /// exponent form), `-0` and anything else return `nil` and take the general path.
    static func plainDecimal(_ text: String) -> (value: Double, canonical: Bool)? {
        var text = text
        return text.withUTF8 { bytes -> (value: Double, canonical: Bool)? in
            var index = 0
            let negative = bytes.first == UInt8(ascii: "-")
            if negative { index = 1 }
            let integerStart = index
            var mantissa: Int64 = 0
            var digits = 0
            while index < bytes.count, bytes[index] &- UInt8(ascii: "0") < 10 {
                mantissa = mantissa &* 10 &+ Int64(bytes[index] &- UInt8(ascii: "0"))
                index += 1
                digits += 1
            }
            let integerDigits = index - integerStart
            guard integerDigits > 0 else { return nil }
            // No leading zeros ("007"), and "0" alone only before a fraction.
            if bytes[integerStart] == UInt8(ascii: "0"), integerDigits > 1 { return nil }
            var fractionDigits = 0
            var canonical = true
            if index < bytes.count {
                guard bytes[index] == UInt8(ascii: "."), index + 1 < bytes.count else { return nil }
                index += 1
                while index < bytes.count, bytes[index] &- UInt8(ascii: "0") < 10 {
                    let digit = bytes[index] &- UInt8(ascii: "0")
                    mantissa = mantissa &* 10 &+ Int64(digit)
                    index += 1
                    fractionDigits += 1
                    digits += 1
                }
                guard index == bytes.count, fractionDigits > 0, fractionDigits <= 18 else { return nil }
                if bytes[index - 1] == UInt8(ascii: "0") {
                    // A padded fraction ("230.0") is never how a number prints: the text is
                    // kept beside the value.
                    canonical = false
                } else if mantissa < Self.powersOfTen[fractionDigits] / 1000 {
                    // Small values print in exponent form: leave them to the general path.
                    return nil
                }
            } else {
                // An integer: "-0" is spelled as such, and zero is positive.
                if negative && mantissa == 0 { return nil }
            }
            // At most 15 significant digits (and no wrap-around in the accumulation above).
            guard digits <= 18, mantissa < 1_000_000_000_000_000 else { return nil }
            let value = Double(mantissa) / Double(Self.powersOfTen[fractionDigits])
            return (negative ? -value : value, canonical)
        }
    }

    private static let powersOfTen: [Int64] = (0...18).map { exponent in
        (0..<exponent).reduce(Int64(1)) { value, _ in value * 10 }
    }

    /// The text the store regards as the canonical spelling of a number (Swift's shortest
    /// round-tripping form, without a trailing `.0` for integers).
    static func canonicalText(_ number: Double) -> String {
        if number.rounded() == number, abs(number) < 1e15 {
            return number == 0 && number.sign == .minus ? "-0" : String(Int64(number))
        }
        return number.description
    }

    /// The value as text: the original text when kept, otherwise the canonical number.
    public var text: String {
        switch self {
        case .number(let value): return Self.canonicalText(value)
        case .numberWithText(_, let text), .text(let text), .payload(let text): return text
        case .status(let status): return status.status
        }
    }
}

/// A StatusNotification as stored.
public struct StatusEvent: Sendable, Hashable {
    public var status: String
    public var errorCode: String
    public var info: String?
    public var vendorID: String?
    public var vendorErrorCode: String?

    public init(
        status: String,
        errorCode: String,
        info: String? = nil,
        vendorID: String? = nil,
        vendorErrorCode: String? = nil
    ) {
        self.status = status
        self.errorCode = errorCode
        self.info = info
        self.vendorID = vendorID
        self.vendorErrorCode = vendorErrorCode
    }
}

/// One event to store: which series, when, what, and in which charging session.
public struct EventRow: Sendable, Hashable {
    public var series: SeriesKey
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public var timestamp: Int64
    public var value: EventValue
    /// The charging session (OCPP transactionId) the row belongs to, if any.
    public var transactionID: Int?

    public init(series: SeriesKey, timestamp: Int64, value: EventValue, transactionID: Int? = nil) {
        self.series = series
        self.timestamp = timestamp
        self.value = value
        self.transactionID = transactionID
    }
}
