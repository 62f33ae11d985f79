import Crypto
public import Foundation

/// A bearer token of the REST API as the store keeps it: everything but the token.
public struct APITokenRecord: Sendable, Hashable, Codable {
    public var id: Int64
    /// Who or what holds it, for people and the audit log.
    public var name: String
    /// `admin`, `operator`, `analyst` or `integration` (the API's roles).
    public var role: String
    /// The company it is scoped to; `nil`: every company.
    public var companyID: Int64?
    /// When it stops working; `nil`: never.
    public var expiresAt: Date?
    public var createdAt: Date
    /// When it was revoked; it works no more from then on.
    public var revokedAt: Date?
    /// When it last authenticated a request, to within a minute; `nil`: never.
    public var lastUsedAt: Date?

    /// Whether it authenticates requests at `now`: not revoked, not expired.
    public func isActive(at now: Date) -> Bool {
        revokedAt == nil && (expiresAt.map { now < $0 } ?? true)
    }

    /// The columns a record is read from (never the hash).
    static let columns = [
        "id", "name", "role", "company_id", "expires_at", "created_at", "revoked_at", "last_used_at",
    ]
}

/// The text of a new bearer token: `ocpp_` and 32 random bytes in unpadded base64url.
public enum APITokenSecret {
    /// What every token this server makes starts with, so that one found in a log or a
    /// repository is recognisable.
    public static let prefix = "ocpp_"
    /// How many random bytes a token carries.
    public static let byteCount = 32

    /// A new token from the system's secure random number generator.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<byteCount).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let base64 = Data(bytes).base64EncodedString()
        var text = prefix
        text.reserveCapacity(prefix.count + base64.count)
        for character in base64 {
            switch character {
            case "+": text.append("-")
            case "/": text.append("_")
            case "=": continue
            default: text.append(character)
            }
        }
        return text
    }
}

/// The SHA-256 digest of a bearer token's text: what the store keeps and looks tokens up by.
///
/// A plain, unsalted digest is sound here because a token is 32 bytes from a secure random
/// number generator: finding a token from its digest means searching 2^256 inputs, however
/// fast the hash, so neither a salt (which defends guessable inputs such as passwords against
/// precomputed tables) nor a slow key-derivation function would add anything. Being
/// deterministic, the digest is a unique, indexed column: a request's token is found with one
/// lookup instead of being checked against every stored one, and an in-memory cache can be
/// keyed by it. Comparing digests in variable time leaks nothing useful: learning a prefix of
/// a digest does not help to find a token that has it.
public struct APITokenHash: Sendable, Hashable, CustomStringConvertible {
    private let words: (UInt64, UInt64, UInt64, UInt64)

    /// The digest of `token`.
    public init(token: some StringProtocol) {
        var utf8 = String(token)
        let digest = utf8.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
        words = digest.withUnsafeBytes { raw in
            (
                UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
                UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
                UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
            )
        }
    }

    /// The digest as 64 lower-case hexadecimal digits: the `token_hash` column.
    public var hex: String {
        [words.0, words.1, words.2, words.3].map { word in
            let digits = String(word, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }.joined()
    }

    public var description: String { hex }

    public static func == (lhs: APITokenHash, rhs: APITokenHash) -> Bool {
        lhs.words == rhs.words
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}
