/// The identity of a charge point: the last path segment of `/ocpp/{charge_point_id}`.
///
/// It is URL-decoded and then checked: 1 to 48 characters (OCPP's `chargeBoxIdentity` is a
/// CiString48), printable ASCII except characters that cannot appear in a URL path segment
/// or that break logs and file names (`/`, `\`, whitespace, quotes, `<`, `>`, `#`, `?`, `%`).
public struct ChargePointID: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The decoded identity.
    public let rawValue: String

    /// The longest identity accepted.
    public static let maximumLength = 48

    /// The rules as a regular expression (ECMA 262), for API documentation.
    public static let pattern = #"^[!$&(-.0-;=@-\[\]-~]{1,48}$"#

    /// Validates an already decoded identity.
    /// - Throws: ``ChargePointIDError`` naming the problem.
    public init(_ identity: String) throws(ChargePointIDError) {
        guard !identity.isEmpty else { throw ChargePointIDError(reason: "the charge point id is empty") }
        guard identity.utf8.count <= Self.maximumLength else {
            throw ChargePointIDError(
                reason: "the charge point id is \(identity.utf8.count) characters long, "
                    + "at most \(Self.maximumLength) are allowed"
            )
        }
        for byte in identity.utf8 {
            guard byte > 0x20, byte < 0x7F, !Self.forbidden.contains(byte) else {
                throw ChargePointIDError(
                    reason: "the charge point id '\(identity)' contains a character that is not allowed "
                        + "(allowed: printable ASCII except space / \\ \" ' < > # ? %)"
                )
            }
        }
        self.rawValue = identity
    }

    /// Decodes and validates a percent-encoded path segment.
    /// - Throws: ``ChargePointIDError`` for bad percent-encoding or an identity that is not allowed.
    public init(pathSegment: Substring) throws(ChargePointIDError) {
        var bytes: [UInt8] = []
        var iterator = pathSegment.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue)
            else {
                throw ChargePointIDError(reason: "the charge point id '\(pathSegment)' has a bad percent-escape")
            }
            bytes.append(high << 4 | low)
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw ChargePointIDError(reason: "the charge point id is not valid UTF-8")
        }
        try self.init(decoded)
    }

    private static let forbidden: Set<UInt8> = Set("/\\\"'<>#?%".utf8)

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    public static func < (lhs: ChargePointID, rhs: ChargePointID) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { rawValue }
}

/// A charge point id that is refused before the WebSocket upgrade.
public struct ChargePointIDError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong with the id.
    public let reason: String

    public var description: String { reason }
}
