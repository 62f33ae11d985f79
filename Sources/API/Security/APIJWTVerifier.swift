import Foundation
import JWTKit

/// Accepts JWTs from an identity provider: signed with ES256 or RS256 by a key of a JWKS
/// file (`API_JWKS_FILE`), with an `exp`, a `sub` (the caller's name), a role claim and
/// optionally a company claim, whose names are configurable.
public final class APIJWTVerifier: Sendable {
    private let keys: JWTKeyCollection
    /// The claim holding the role (`API_JWT_ROLE_CLAIM`, default `role`).
    public let roleClaim: String
    /// The claim holding the company id (`API_JWT_COMPANY_CLAIM`, default `company_id`).
    public let companyClaim: String

    /// The signature algorithms accepted.
    static let algorithms: Set<String> = ["ES256", "RS256"]

    /// - Parameters:
    ///   - jwks: The JSON Web Key Set: EC (P-256) and RSA public keys.
    ///   - roleClaim: The claim holding the role.
    ///   - companyClaim: The claim holding the company id.
    /// - Throws: ``APIJWTKeySetError`` when the set is not JSON, holds another kind of key, or
    ///   a key jwt-kit cannot use.
    public init(jwks: String, roleClaim: String = "role", companyClaim: String = "company_id") async throws {
        guard case .object(let set)? = JSONValue.parse(Array(jwks.utf8)), case .array(let members)? = set["keys"],
            !members.isEmpty
        else {
            throw APIJWTKeySetError(reason: "it is not a JSON Web Key Set with keys")
        }
        for member in members {
            guard case .object(let key) = member, case .string(let type)? = key["kty"], ["EC", "RSA"].contains(type)
            else {
                throw APIJWTKeySetError(reason: "every key must be an EC (ES256) or RSA (RS256) public key")
            }
            if case .string(let algorithm)? = key["alg"], !Self.algorithms.contains(algorithm) {
                throw APIJWTKeySetError(reason: "key algorithm \(algorithm) is not ES256 or RS256")
            }
            if key["d"] != nil {
                throw APIJWTKeySetError(reason: "it holds a private key; give the server the public keys only")
            }
        }
        let keys = JWTKeyCollection()
        do {
            try await keys.add(jwksJSON: jwks)
        } catch {
            throw APIJWTKeySetError(reason: "a key cannot be used: \(error)")
        }
        self.keys = keys
        self.roleClaim = roleClaim
        self.companyClaim = companyClaim
    }

    /// Whether `token` has a JWT's shape (three base64url parts, a JSON header), rather than
    /// one of the server's own tokens.
    static func looksLikeJWT(_ token: some StringProtocol) -> Bool {
        token.hasPrefix("eyJ") && token.utf8.count(where: { $0 == UInt8(ascii: ".") }) == 2
    }

    /// The caller `token` stands for, and when the token expires.
    /// - Throws: ``APIAuthenticationError`` for a token that is not a valid, current JWT of an
    ///   accepted algorithm with a known role.
    func principal(token: Substring) async throws(APIAuthenticationError) -> (APIPrincipal, expiresAt: Date) {
        let header = token.split(separator: ".", omittingEmptySubsequences: false).first ?? ""
        guard let headerBytes = Self.base64URLDecoded(header), case .object(let fields)? = JSONValue.parse(headerBytes),
            case .string(let algorithm)? = fields["alg"], Self.algorithms.contains(algorithm)
        else {
            throw .invalid("the JWT is not valid: its algorithm must be ES256 or RS256")
        }
        let claims: Claims
        do {
            claims = try await keys.verify(Array(token.utf8), as: Claims.self)
        } catch let error as Claims.Invalid {
            throw .invalid("the JWT is not valid: \(error.reason)")
        } catch {
            throw .invalid("the JWT is not valid: its signature or claims do not verify")
        }
        guard case .string(let subject)? = claims.values["sub"], !subject.isEmpty, subject.count <= 255 else {
            throw .invalid("the JWT is not valid: it has no sub")
        }
        guard case .string(let roleName)? = claims.values[roleClaim], let role = APIRole(rawValue: roleName) else {
            throw .invalid(
                "the JWT is not valid: its \(roleClaim) claim must be one of "
                    + APIRole.allCases.map(\.rawValue).joined(separator: ", ")
            )
        }
        var companyID: Int64?
        switch claims.values[companyClaim] {
        case nil, .null?: break
        case .integer(let id)?: companyID = id
        case .string(let text)?:
            guard let id = Int64(text) else {
                throw .invalid("the JWT is not valid: its \(companyClaim) claim is not a company id")
            }
            companyID = id
        default: throw .invalid("the JWT is not valid: its \(companyClaim) claim is not a company id")
        }
        return (APIPrincipal(name: subject, role: role, companyID: companyID), claims.expiresAt)
    }

    static func base64URLDecoded(_ text: some StringProtocol) -> [UInt8]? {
        var base64 = String(text).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64).map(Array.init)
    }

    /// A JWT's claims, whatever their names; `exp` is required and checked, `nbf` when present.
    struct Claims: JWTPayload {
        var values: [String: JSONValue]
        var expiresAt: Date

        struct Invalid: Error {
            var reason: String
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            guard case .object(let values) = try container.decode(JSONValue.self) else {
                throw Invalid(reason: "its claims are not a JSON object")
            }
            self.values = values
            switch values["exp"] {
            case .integer(let seconds)?: expiresAt = Date(timeIntervalSince1970: Double(seconds))
            case .number(let seconds)?: expiresAt = Date(timeIntervalSince1970: seconds)
            default: throw Invalid(reason: "it has no exp")
            }
        }

        func encode(to encoder: any Encoder) throws {
            try JSONValue.object(values).encode(to: encoder)
        }

        func verify(using algorithm: some JWTAlgorithm) async throws {
            let now = Date()
            guard now < expiresAt else { throw Invalid(reason: "it expired") }
            let notBefore: Double?
            switch values["nbf"] {
            case .integer(let seconds)?: notBefore = Double(seconds)
            case .number(let seconds)?: notBefore = seconds
            default: notBefore = nil
            }
            if let notBefore, Date(timeIntervalSince1970: notBefore) > now {
                throw Invalid(reason: "it is not valid yet (nbf)")
            }
        }
    }
}

/// A JWKS file the server cannot use.
public struct APIJWTKeySetError: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}
