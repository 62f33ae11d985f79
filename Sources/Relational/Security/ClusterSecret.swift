import Crypto

/// The secret the nodes of a cluster share (`CLUSTER_SECRET`): a node calls a peer's internal
/// API with it, and the peer answers only a caller that sends it.
///
/// Its description never shows the text. ``matches(_:)`` compares in constant time: both
/// sides are reduced to an HMAC-SHA256 under a key drawn when the secret is made, and the
/// digests are compared by Crypto's constant-time check, so neither the offered text's
/// length nor its first differing byte shows in the time taken.
public struct ClusterSecret: Sendable, Equatable, CustomStringConvertible {
    /// The fewest characters a secret has.
    public static let minimumLength = 32

    /// The secret's text, as a node sends it to its peers.
    public let text: String
    private let key: SymmetricKey
    private let digest: [UInt8]

    /// - Throws: ``ClusterSecretError`` when `text` is shorter than ``minimumLength`` characters.
    public init(_ text: String) throws(ClusterSecretError) {
        guard text.count >= Self.minimumLength else {
            throw ClusterSecretError(
                reason: "CLUSTER_SECRET has \(text.count) characters; it needs at least \(Self.minimumLength)"
            )
        }
        self.text = text
        key = SymmetricKey(size: .bits256)
        digest = Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key))
    }

    /// Whether `offered` is the secret; constant time in its content.
    public func matches(_ offered: some StringProtocol) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(digest, authenticating: Array(offered.utf8), using: key)
    }

    public var description: String { "ClusterSecret(redacted)" }

    public static func == (lhs: ClusterSecret, rhs: ClusterSecret) -> Bool {
        lhs.matches(rhs.text)
    }
}

/// Why a text is not a ``ClusterSecret``; it never repeats the text.
public struct ClusterSecretError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong.
    public let reason: String

    public var description: String { reason }
}
