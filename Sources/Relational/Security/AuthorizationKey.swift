import Crypto

/// An OCPP AuthorizationKey: the HTTP Basic password of a charger at security profile 1 or 2
/// (OCPP 1.6 Security Whitepaper, edition 3).
///
/// A key is 16 to 20 bytes. It travels to the charger hex-encoded (ChangeConfiguration's
/// value, at most 40 characters); ``hex`` writes it in upper case and ``init(hex:)`` reads
/// either case. The server keeps only its ``AuthorizationKeyHash``; the key itself is shown
/// once, to whoever set it, and its description never shows the bytes.
public struct AuthorizationKey: Sendable, Hashable, CustomStringConvertible {
    /// How many bytes a key has.
    public static let byteCounts: ClosedRange<Int> = 16...20
    /// How many hexadecimal digits a key's text has.
    public static let hexLengths: ClosedRange<Int> = 32...40
    /// How many bytes ``generate()`` draws.
    public static let generatedByteCount = 20

    /// The key's bytes: the password on the wire.
    public let bytes: [UInt8]

    /// A key of `bytes`.
    /// - Throws: ``AuthorizationKeyError`` unless there are 16 to 20 of them.
    public init(bytes: some Collection<UInt8>) throws(AuthorizationKeyError) {
        guard Self.byteCounts.contains(bytes.count) else {
            throw AuthorizationKeyError(reason: "an authorization key is 16 to 20 bytes, got \(bytes.count)")
        }
        self.bytes = Array(bytes)
    }

    /// The key that `hex` writes: 32 to 40 hexadecimal digits, an even number, either case.
    /// - Throws: ``AuthorizationKeyError`` saying what is wrong with the text.
    public init(hex: String) throws(AuthorizationKeyError) {
        let digits = Array(hex.utf8)
        guard Self.hexLengths.contains(digits.count), digits.count.isMultiple(of: 2) else {
            throw AuthorizationKeyError(
                reason: "an authorization key is 16 to 20 bytes written as 32 to 40 hexadecimal digits "
                    + "(an even number), got \(hex.unicodeScalars.count) characters"
            )
        }
        guard let bytes = Self.decodeHex(digits) else {
            throw AuthorizationKeyError(reason: "an authorization key may contain only the digits 0-9, a-f and A-F")
        }
        self.bytes = bytes
    }

    /// A new key of 20 bytes from the system's secure random number generator.
    public static func generate() -> AuthorizationKey {
        var generator = SystemRandomNumberGenerator()
        return AuthorizationKey(
            unchecked: (0..<generatedByteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        )
    }

    private init(unchecked bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The key as upper-case hexadecimal digits: what ChangeConfiguration(AuthorizationKey)
    /// sends and what the REST API answers once.
    public var hex: String {
        let digits = Array("0123456789ABCDEF".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Says how long the key is, never what it is.
    public var description: String { "AuthorizationKey(\(bytes.count) bytes)" }

    /// The bytes that hexadecimal `digits` (either case, an even number of them) write, or
    /// nil when they are not such digits.
    static func decodeHex(_ digits: some Collection<UInt8>) -> [UInt8]? {
        guard digits.count.isMultiple(of: 2) else { return nil }
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var high: UInt8?
        for digit in digits {
            guard let nibble = value(digit) else { return nil }
            if let first = high {
                bytes.append(first << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return bytes
    }
}

/// Why a text or byte string is not an ``AuthorizationKey``.
public struct AuthorizationKeyError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong, for people (it never repeats the offered key).
    public let reason: String

    public var description: String { reason }
}

/// What the server stores of an ``AuthorizationKey``: a random 16-byte salt and the
/// HMAC-SHA256 of the key's bytes keyed by that salt.
///
/// A keyed hash rather than a slow password hash: keys the server generates are 20 random
/// bytes (160 bits), far beyond guessing, and every charger of a reconnect storm is verified
/// once; a deliberately slow hash would cost seconds of CPU per thousand chargers. The salt
/// makes equal keys of two chargers hash differently.
///
/// Password rule (``matches(_:)``): the HTTP Basic password matches when its bytes are the
/// key's bytes (what the whitepaper prescribes), or when they are the key's hexadecimal
/// text, in either case (what some firmwares send): a password of 32 to 40 hexadecimal
/// digits is also tried hex-decoded. Digests are compared in constant time, and both
/// readings are always computed, whichever matches.
public struct AuthorizationKeyHash: Sendable, Hashable, CustomStringConvertible {
    /// The name of the scheme, the first part of ``encoded``.
    public static let scheme = "hmac-sha256"
    static let saltByteCount = 16

    let salt: [UInt8]
    let digest: [UInt8]

    /// The hash of `key` with a new random salt.
    public init(key: AuthorizationKey) {
        var generator = SystemRandomNumberGenerator()
        self.init(
            key: key,
            salt: (0..<Self.saltByteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        )
    }

    init(key: AuthorizationKey, salt: [UInt8]) {
        self.salt = salt
        self.digest = Array(HMAC<SHA256>.authenticationCode(for: key.bytes, using: SymmetricKey(data: salt)))
    }

    /// Whether the HTTP Basic password `password` is the key: its bytes, or its hexadecimal
    /// text in either case (see the type's password rule). Constant time in the digest.
    public func matches(_ password: some Collection<UInt8>) -> Bool {
        let raw = Array(password)
        let salt = SymmetricKey(data: self.salt)
        let rawMatches = HMAC<SHA256>.isValidAuthenticationCode(digest, authenticating: raw, using: salt)
        var hexMatches = false
        if AuthorizationKey.hexLengths.contains(raw.count), let decoded = AuthorizationKey.decodeHex(raw) {
            hexMatches = HMAC<SHA256>.isValidAuthenticationCode(digest, authenticating: decoded, using: salt)
        }
        return rawMatches || hexMatches
    }

    /// The same as ``matches(_:)``.
    public func matches(password: some Collection<UInt8>) -> Bool {
        matches(password)
    }

    /// Whether `key` is the key this hash was made of.
    public func matches(_ key: AuthorizationKey) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(digest, authenticating: key.bytes, using: SymmetricKey(data: salt))
    }

    /// The stored text: `hmac-sha256:<salt, 32 hex digits>:<digest, 64 hex digits>`.
    public var encoded: String {
        func hex(_ bytes: [UInt8]) -> String {
            bytes.map { byte in
                let text = String(byte, radix: 16)
                return byte < 16 ? "0" + text : text
            }.joined()
        }
        return "\(Self.scheme):\(hex(salt)):\(hex(digest))"
    }

    /// The hash that ``encoded`` wrote, or nil when `encoded` is not such a text.
    public init?(encoded: String) {
        let parts = encoded.utf8.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].elementsEqual(Self.scheme.utf8),
            let salt = AuthorizationKey.decodeHex(parts[1]), salt.count == Self.saltByteCount,
            let digest = AuthorizationKey.decodeHex(parts[2]), digest.count == SHA256.byteCount
        else { return nil }
        self.salt = salt
        self.digest = digest
    }

    /// Names the scheme, never the salt or digest.
    public var description: String { "AuthorizationKeyHash(\(Self.scheme))" }
}

/// Which of a charger's keys a password matched.
public enum AuthorizationKeyMatch: Sendable, Hashable {
    /// The current key.
    case current
    /// The pending key: sent to the charger and accepted; promote it
    /// (``RelationalStore/promotePendingAuthorizationKey(chargePointID:ifPending:)``).
    case pending
}

/// What the WebSocket upgrade needs to authenticate a charger, read in one query.
public struct ChargerCredentials: Sendable, Hashable {
    /// `Accepted`, `Pending` or `Rejected`.
    public var registrationStatus: String
    /// 0 (none), 1 (Basic authentication), 2 (TLS and Basic authentication) or 3 (TLS with
    /// a client certificate).
    public var securityProfile: Int
    /// The key the charger authenticates with, if one was set.
    public var current: AuthorizationKeyHash?
    /// A key the charger accepted (ChangeConfiguration) and has not authenticated with yet;
    /// until it does, both keys are accepted.
    public var pending: AuthorizationKeyHash?

    public init(
        registrationStatus: String,
        securityProfile: Int,
        current: AuthorizationKeyHash? = nil,
        pending: AuthorizationKeyHash? = nil
    ) {
        self.registrationStatus = registrationStatus
        self.securityProfile = securityProfile
        self.current = current
        self.pending = pending
    }

    /// Which key `password` is, by the password rule of ``AuthorizationKeyHash``: `nil` when
    /// neither (or no key is set). Both keys are always checked, so the time taken does not
    /// say which one matched.
    public func match(password: some Collection<UInt8>) -> AuthorizationKeyMatch? {
        let bytes = Array(password)
        let currentMatches = current?.matches(bytes) ?? false
        let pendingMatches = pending?.matches(bytes) ?? false
        if currentMatches { return .current }
        if pendingMatches { return .pending }
        return nil
    }
}
