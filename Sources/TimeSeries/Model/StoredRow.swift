/// A row as the store keeps it: the series by its dictionary id.
struct StoredRow: Sendable, Hashable {
    var seriesID: UInt32
    var timestamp: Int64
    var value: EventValue
}

/// How values are laid out on disk: a kind byte, a number, and bytes for text.
enum ValueCodec {
    static let kindNumber: UInt8 = 0
    static let kindNumberWithText: UInt8 = 1
    static let kindText: UInt8 = 2
    static let kindStatus: UInt8 = 3
    static let kindPayload: UInt8 = 4

    static func kind(of value: EventValue) -> UInt8 {
        switch value {
        case .number: return kindNumber
        case .numberWithText: return kindNumberWithText
        case .text: return kindText
        case .status: return kindStatus
        case .payload: return kindPayload
        }
    }

    static func number(of value: EventValue) -> Double {
        value.number ?? 0
    }

    /// The bytes of the value's text column, or `nil` for a plain number.
    static func textBytes(of value: EventValue) -> [UInt8]? {
        switch value {
        case .number: return nil
        case .numberWithText(_, let text), .text(let text), .payload(let text): return Array(text.utf8)
        case .status(let status):
            var writer = ByteWriter()
            writer.writeString(status.status)
            writer.writeString(status.errorCode)
            writer.writeOptionalString(status.info)
            writer.writeOptionalString(status.vendorID)
            writer.writeOptionalString(status.vendorErrorCode)
            return writer.bytes
        }
    }

    static func value(
        kind: UInt8,
        number: Double,
        text: UnsafeRawBufferPointer?
    ) throws
        -> EventValue
    {
        switch kind {
        case kindNumber: return .number(number)
        case kindNumberWithText:
            return .numberWithText(number, String(decoding: text ?? .init(start: nil, count: 0), as: UTF8.self))
        case kindText: return .text(String(decoding: text ?? .init(start: nil, count: 0), as: UTF8.self))
        case kindPayload: return .payload(String(decoding: text ?? .init(start: nil, count: 0), as: UTF8.self))
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
}
