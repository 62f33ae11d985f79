import Foundation
public import Relational

/// Whether a charger may connect, by the OCPP 1.6 security profiles (Security Whitepaper,
/// edition 3): a charger is accepted only at its own profile or higher.
///
/// - Profile 0: anything.
/// - Profile 1: HTTP Basic credentials (user name = charge point id, password = the
///   AuthorizationKey, current or pending) over `ws://` or `wss://`.
/// - Profile 2: TLS and Basic credentials.
/// - Profile 3: TLS with a client certificate whose subject common name is the charge point id.
///
/// A client certificate with the charger's id as its common name satisfies every profile
/// (it is profile 3's proof); one with another common name proves nothing and is ignored
/// below profile 3. Refusals: wrong or missing credentials 401 with a Basic challenge;
/// plain TCP for profile 2 or 3, and a missing or mismatched certificate for profile 3, 403
/// (no HTTP authentication scheme can fix them).
///
/// Pure: the upgrader looks the charger up and acts on the decision.
public enum ChargerAuthentication: Sendable, Hashable {
    /// Upgrade. `promotePendingKey`: the charger authenticated with its pending key, which
    /// becomes its current one.
    case accept(promotePendingKey: Bool)
    /// Answer with the refusal's status and do not upgrade.
    case refuse(Refusal)

    /// The `WWW-Authenticate` challenge of a 401.
    public static let challenge = #"Basic realm="OCPP", charset="UTF-8""#

    /// Why a charger was refused.
    public struct Refusal: Sendable, Hashable {
        /// The HTTP status: 401, 403 or 503.
        public var status: Int
        /// The metric label (`ocpp_charger_auth_failures_total{reason}`), a fixed word.
        public var reason: String
        /// What the answer's body says (never a credential).
        public var detail: String
        /// The security event type stored for a charger the database knows; `nil` when
        /// none is stored (the database did not answer).
        public var securityEvent: String?

        /// Whether the answer carries the Basic challenge (401 only).
        public var challengesBasic: Bool { status == 401 }

        static func credentials(_ reason: String, _ detail: String) -> Refusal {
            Refusal(status: 401, reason: reason, detail: detail, securityEvent: SecurityEventType.invalidCredentials)
        }
    }

    /// The security event types the server stores (action `ServerSecurityEvent`).
    public enum SecurityEventType {
        /// Missing or wrong Basic credentials.
        public static let invalidCredentials = "InvalidChargePointCredentials"
        /// Plain TCP for a charger whose profile requires TLS.
        public static let tlsRequired = "TLSRequired"
        /// No client certificate, or one of another charge point, for a profile-3 charger.
        public static let invalidCertificate = "InvalidChargePointCertificate"
    }

    /// The refusal when the charger could not be looked up: the server cannot tell what it
    /// requires, so it admits nobody (503).
    public static let databaseUnavailable = Refusal(
        status: 503,
        reason: "database_unavailable",
        detail: "the charger's credentials cannot be read now; try again later",
        securityEvent: nil
    )

    /// Decides about one upgrade request.
    /// - Parameters:
    ///   - chargePointID: The id in the request's path.
    ///   - credentials: The charger's credentials, `nil` when the database does not know it.
    ///   - defaultProfile: The profile of a charger the database does not know.
    ///   - transport: How the connection arrived.
    ///   - authorization: The request's `Authorization` header, if any.
    public static func decide(
        chargePointID: String,
        credentials: ChargerCredentials?,
        defaultProfile: Int,
        transport: ChargerTransport,
        authorization: String?
    ) -> ChargerAuthentication {
        let profile = credentials?.securityProfile ?? defaultProfile
        let commonName: String?
        switch transport {
        case .plain: commonName = nil
        case .tls(let name): commonName = name
        }
        if commonName == chargePointID { return .accept(promotePendingKey: false) }
        if profile <= 0 {
            // Legacy chargers: anything goes, but a rotated key still becomes current once used.
            if case .pending = basic(chargePointID: chargePointID, credentials: credentials, authorization) {
                return .accept(promotePendingKey: true)
            }
            return .accept(promotePendingKey: false)
        }
        if profile >= 2, !transport.isTLS {
            return .refuse(
                Refusal(
                    status: 403,
                    reason: "tls_required",
                    detail: "security profile \(profile) requires TLS (wss://)",
                    securityEvent: SecurityEventType.tlsRequired
                )
            )
        }
        if profile >= 3 {
            let detail =
                commonName == nil
                ? "security profile 3 requires a client certificate"
                : "the client certificate's common name is not the charge point id"
            return .refuse(
                Refusal(
                    status: 403,
                    reason: commonName == nil ? "client_certificate_required" : "client_certificate_mismatch",
                    detail: detail,
                    securityEvent: SecurityEventType.invalidCertificate
                )
            )
        }
        switch basic(chargePointID: chargePointID, credentials: credentials, authorization) {
        case .current: return .accept(promotePendingKey: false)
        case .pending: return .accept(promotePendingKey: true)
        case .refused(let refusal): return .refuse(refusal)
        }
    }

    private enum BasicOutcome {
        case current
        case pending
        case refused(Refusal)
    }

    /// Checks `Authorization: Basic base64(id:password)` against the charger's keys. The
    /// user name is matched as the id followed by a colon, so an id holding a colon works.
    /// Base64 text with the `=` padding some firmwares leave out.
    private static func padded(_ text: String) -> String {
        let remainder = text.utf8.count % 4
        return remainder == 0 ? text : text + String(repeating: "=", count: 4 - remainder)
    }

    /// One answer for every wrong credential, so it does not tell which part was wrong.
    private static let wrong = "wrong user name or password"

    private static func basic(
        chargePointID: String,
        credentials: ChargerCredentials?,
        _ authorization: String?
    ) -> BasicOutcome {
        guard let authorization else {
            return .refused(.credentials("missing_credentials", "HTTP Basic credentials are required"))
        }
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let decoded = Data(base64Encoded: padded(parts[1].trimmingCharacters(in: .whitespaces)))
        else {
            return .refused(.credentials("malformed_credentials", "the Authorization header is not HTTP Basic"))
        }
        let user = Array(chargePointID.utf8) + [UInt8(ascii: ":")]
        let bytes = [UInt8](decoded)
        guard bytes.count >= user.count, bytes.prefix(user.count).elementsEqual(user) else {
            return .refused(.credentials("wrong_user", wrong))
        }
        let password = bytes.dropFirst(user.count)
        guard let credentials else { return .refused(.credentials("unknown_charger", wrong)) }
        guard credentials.current != nil || credentials.pending != nil else {
            return .refused(.credentials("no_key", wrong))
        }
        switch credentials.match(password: password) {
        case .current: return .current
        case .pending: return .pending
        case nil: return .refused(.credentials("wrong_password", wrong))
        }
    }
}
