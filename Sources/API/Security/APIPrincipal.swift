/// What a caller of the REST API may do (``APIAccessPolicy`` has the table).
public enum APIRole: String, Sendable, Hashable, CaseIterable, Codable {
    /// Everything, including tokens and the audit log.
    case admin
    /// Commands to chargers and the database's resources (not tokens, not the audit log).
    case `operator`
    /// Reading: lists, meter and status history, summaries, events, connected chargers, metrics.
    case analyst
    /// Only the OCPP-DB relay, `POST /db/ocpp/*`.
    case integration
}

/// Who made a request, as authentication found out: a stored token's holder or a JWT's subject.
public struct APIPrincipal: Sendable, Hashable {
    /// The token's name, or the JWT's `sub`.
    public var name: String
    public var role: APIRole
    /// The company the caller is limited to; `nil`: every company.
    public var companyID: Int64?
    /// The stored token's id; `nil` for a JWT.
    public var tokenID: Int64?

    public init(name: String, role: APIRole, companyID: Int64? = nil, tokenID: Int64? = nil) {
        self.name = name
        self.role = role
        self.companyID = companyID
        self.tokenID = tokenID
    }
}
