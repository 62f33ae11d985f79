/// A row as the store keeps it: the series by its dictionary id. Producers that already know
/// the id (``TimeSeriesStore/seriesID(of:)``) append such rows directly
/// (``AppendBatch/resolved(_:)``).
///
/// A row is identified by (series, timestamp, transaction): a later row with all three equal
/// replaces the earlier one (retried messages and replays are idempotent), while rows of two
/// sessions at the same millisecond in the same series (one session's stop and the next one's
/// start) are both kept, as they were when the transaction was part of the series.
public struct StoredRow: Sendable, Hashable {
    public var seriesID: UInt32
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public var timestamp: Int64
    public var value: EventValue
    /// The charging session the row belongs to, if any.
    public var transactionID: Int?

    public init(seriesID: UInt32, timestamp: Int64, value: EventValue, transactionID: Int? = nil) {
        self.seriesID = seriesID
        self.timestamp = timestamp
        self.value = value
        self.transactionID = transactionID
    }
}

/// Transactions as stored: a varint code, the zigzag of the id plus one, where 0 is followed
/// by a byte telling none (0) from the one id whose code wraps to 0, `Int.min` (1); and the
/// order rows of equal series and timestamp take (none first, then by id).
enum TransactionCode {
    static func write(_ transactionID: Int?, to writer: inout ByteWriter) {
        let code = encode(transactionID)
        writer.writeVarint(code)
        if code == 0 { writer.write(UInt8(transactionID == nil ? 0 : 1)) }
    }

    static func read(from reader: inout ByteReader) throws -> Int? {
        let code = try reader.readVarint()
        guard code == 0 else { return decode(code) }
        switch try reader.readByte() {
        case 0: return nil
        case 1: return Int.min
        default: throw ByteReader.Truncated()
        }
    }

    @inline(__always)
    private static func encode(_ transactionID: Int?) -> UInt64 {
        guard let transactionID else { return 0 }
        let value = Int64(transactionID)
        return UInt64(bitPattern: (value << 1) ^ (value >> 63)) &+ 1
    }

    @inline(__always)
    private static func decode(_ code: UInt64) -> Int {
        let zigzag = code &- 1
        return Int(Int64(bitPattern: zigzag >> 1) ^ -Int64(bitPattern: zigzag & 1))
    }

    /// Whether `lhs` sorts before `rhs`.
    @inline(__always)
    static func precedes(_ lhs: Int?, _ rhs: Int?) -> Bool {
        switch (lhs, rhs) {
        case (nil, .some): return true
        case (.some(let left), .some(let right)): return left < right
        default: return false
        }
    }
}

/// Rows to append, in one of two forms.
public enum AppendBatch: Sendable {
    /// Rows naming their series by key: the writer looks each key up, and gives a new series
    /// its id.
    case keyed([EventRow])
    /// Rows naming series the store already holds by their ids: no key object travels with
    /// them (no reference counting across threads), and the writer looks nothing up.
    case resolved([StoredRow])

    public var count: Int {
        switch self {
        case .keyed(let rows): rows.count
        case .resolved(let rows): rows.count
        }
    }

    public var isEmpty: Bool { count == 0 }
}

/// How values are laid out on disk: a kind byte, a number, and bytes for text.
///
/// A number whose text is the number written with a fixed count of decimals (`"15.90"`,
/// `"230.0"`: chargers pad their values) is stored as the number and that count, in the kind
/// byte, instead of its text: the text is rebuilt exactly from them.
enum ValueCodec {
    static let kindNumber: UInt8 = 0
    static let kindNumberWithText: UInt8 = 1
    static let kindText: UInt8 = 2
    static let kindStatus: UInt8 = 3
    static let kindPayload: UInt8 = 4
    /// `kindFixedDecimals + k`: a number written with k decimals (k up to 9).
    static let kindFixedDecimals: UInt8 = 16
    static let maximumFixedDecimals = 9

    @inline(__always)
    static func isNumeric(_ kind: UInt8) -> Bool {
        kind <= kindNumberWithText || kind >= kindFixedDecimals
    }

    @inline(__always)
    static func hasText(_ kind: UInt8) -> Bool {
        kind >= kindNumberWithText && kind <= kindPayload
    }

    /// The kind byte, number and text bytes (if any) the value is stored as.
    static func parts(of value: EventValue) -> (kind: UInt8, number: Double, text: [UInt8]?) {
        switch value {
        case .number(let number):
            return (kindNumber, number, nil)
        case .numberWithText(let number, let text):
            if let decimals = fixedDecimals(number, text) {
                return (kindFixedDecimals + UInt8(decimals), number, nil)
            }
            return (kindNumberWithText, number, Array(text.utf8))
        case .text(let text):
            return (kindText, 0, Array(text.utf8))
        case .payload(let text):
            return (kindPayload, 0, Array(text.utf8))
        case .status(let status):
            var writer = ByteWriter()
            writer.writeString(status.status)
            writer.writeString(status.errorCode)
            writer.writeOptionalString(status.info)
            writer.writeOptionalString(status.vendorID)
            writer.writeOptionalString(status.vendorErrorCode)
            return (kindStatus, 0, writer.bytes)
        }
    }

    static func value(kind: UInt8, number: Double, text: UnsafeRawBufferPointer?) throws -> EventValue {
        if kind >= kindFixedDecimals {
            let decimals = Int(kind - kindFixedDecimals)
            guard decimals <= maximumFixedDecimals, let text = fixedText(number, decimals: decimals) else {
                throw ByteReader.Truncated()
            }
            return .numberWithText(number, text)
        }
        let string = String(decoding: text ?? .init(start: nil, count: 0), as: UTF8.self)
        switch kind {
        case kindNumber: return .number(number)
        case kindNumberWithText: return .numberWithText(number, string)
        case kindText: return .text(string)
        case kindPayload: return .payload(string)
        case kindStatus:
            guard let text else { throw ByteReader.Truncated() }
            var reader = ByteReader(text)
            return .status(
                StatusEvent(
                    status: try reader.readString(),
                    errorCode: try reader.readString(),
                    info: try reader.readOptionalString(),
                    vendorID: try reader.readOptionalString(),
                    vendorErrorCode: try reader.readOptionalString()
                )
            )
        default: throw ByteReader.Truncated()
        }
    }

    private static let powersOfTen: [Int64] = (0...maximumFixedDecimals).map { exponent in
        var value: Int64 = 1
        for _ in 0..<exponent { value *= 10 }
        return value
    }

    /// The count of decimals `text` writes `number` with, if writing `number` with that
    /// many decimals gives back exactly `text`. Checked on the digits, without building text:
    /// it runs for every stored sample.
    static func fixedDecimals(_ number: Double, _ text: String) -> Int? {
        var text = text
        return text.withUTF8 { bytes -> Int? in
            guard !bytes.isEmpty, bytes.count <= 20, number.isFinite else { return nil }
            var position = 0
            let negative = bytes[0] == UInt8(ascii: "-")
            if negative { position = 1 }
            guard negative == (number.sign == .minus) else { return nil }
            var integer: Int64 = 0
            var digits = 0
            var decimals: Int?
            let integerStart = position
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: ".") {
                    // One dot, with digits on both sides.
                    guard decimals == nil, digits > 0, position + 1 < bytes.count else { return nil }
                    decimals = 0
                } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                    // No leading zeros ("0012.5" keeps its text).
                    if decimals == nil && digits == 1 && bytes[integerStart] == UInt8(ascii: "0") { return nil }
                    integer = integer * 10 + Int64(byte - UInt8(ascii: "0"))
                    digits += 1
                    if let count = decimals { decimals = count + 1 }
                    guard digits <= 17 else { return nil }
                } else {
                    return nil
                }
                position += 1
            }
            let count = decimals ?? 0
            guard digits > 0, count <= maximumFixedDecimals else { return nil }
            let scaled = (abs(number) * Double(powersOfTen[count])).rounded()
            guard scaled < 9.0e15, Int64(scaled) == integer else { return nil }
            return count
        }
    }

    /// `number` written with exactly `decimals` decimals, or `nil` if it is too large.
    static func fixedText(_ number: Double, decimals: Int) -> String? {
        let factor = powersOfTen[decimals]
        let scaled = (abs(number) * Double(factor)).rounded()
        guard number.isFinite, scaled < 9.0e15 else { return nil }
        let integer = Int64(scaled)
        var text = number.sign == .minus ? "-" : ""
        text += String(integer / factor)
        if decimals > 0 {
            let fraction = String(integer % factor)
            text += "." + String(repeating: "0", count: decimals - fraction.count) + fraction
        }
        return text
    }
}
