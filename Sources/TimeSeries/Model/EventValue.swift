/// The value of one row.
public enum EventValue: Sendable, Hashable {
    /// A number whose canonical text is what the charger sent (so the text is not kept).
    case number(Double)
    /// A number whose original text must be kept because the number alone would not give it
    /// back (`"0012.50"`, `"1e3"`).
    case numberWithText(Double, String)
    /// Text that is not a number, or signed meter data (kept byte for byte).
    case text(String)
    /// A connector status change.
    case status(StatusEvent)
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
        guard let number = Double(text), number.isFinite else { return .text(text) }
        return canonicalText(number) == text ? .number(number) : .numberWithText(number, text)
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

/// One event to store: which series, when, what.
public struct EventRow: Sendable, Hashable {
    public var series: SeriesKey
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public var timestamp: Int64
    public var value: EventValue

    public init(series: SeriesKey, timestamp: Int64, value: EventValue) {
        self.series = series
        self.timestamp = timestamp
        self.value = value
    }
}
