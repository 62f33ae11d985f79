/// An upgrade request the server refuses: the HTTP status, the reason it answers in the
/// body, and for a 401 the `WWW-Authenticate` challenge.
public struct UpgradeRefusal: Sendable, Hashable {
    /// The HTTP status.
    public var status: Int
    /// The reason, for the answer's body.
    public var reason: String
    /// The `WWW-Authenticate` header's value, if the answer carries one.
    public var authenticate: String?

    /// - Parameters:
    ///   - status: The HTTP status.
    ///   - reason: The reason, for the answer's body.
    ///   - authenticate: The `WWW-Authenticate` header's value.
    public init(status: Int, reason: String, authenticate: String? = nil) {
        self.status = status
        self.reason = reason
        self.authenticate = authenticate
    }
}
