public import Foundation
public import Relational
import Synchronization

/// Whether and how the REST API authenticates its callers.
public struct APIAuthentication: Sendable {
    /// Checks bearer tokens; `nil`: authentication is off.
    let authenticator: APIAuthenticator?
    /// Whether `/metrics` is answered without a token (`METRICS_PUBLIC`).
    let metricsPublic: Bool

    /// No authentication: every route answers everyone, no request has a principal. For
    /// tests, and for a server that listens on loopback only (`API_AUTH_DISABLED`).
    public static let disabled = APIAuthentication(authenticator: nil, metricsPublic: true)

    /// Every route but the public ones needs `Authorization: Bearer <token>`, checked by
    /// `authenticator`; ``APIAccessPolicy`` then decides by the caller's role.
    public static func bearer(_ authenticator: APIAuthenticator, metricsPublic: Bool = false) -> APIAuthentication {
        APIAuthentication(authenticator: authenticator, metricsPublic: metricsPublic)
    }

    /// Whether requests are authenticated.
    public var isEnabled: Bool { authenticator != nil }

    /// Forgets what this node cached about the token `id`: called when it is revoked, so that
    /// it stops working here at once (other servers notice within the cache's lifetime).
    func forget(tokenID id: Int64) {
        authenticator?.forget(tokenID: id)
    }
}

/// Finds out who sent a bearer token: a stored token, looked up by its ``APITokenHash``, or
/// a JWT, checked by an ``APIJWTVerifier``.
///
/// What a token resolved to is cached for a few seconds (the unknown and the revoked too),
/// so that a request costs a SHA-256 and a dictionary lookup rather than a database query.
/// Expiry is checked on every request; a revocation through this server takes effect here
/// at once, one through another server or the command line within the cache's lifetime.
public final class APIAuthenticator: Sendable {
    private let store: RelationalStore
    private let jwt: APIJWTVerifier?
    private let cacheLifetime: Duration
    private let now: @Sendable () -> Date
    private let cache = Mutex<[APITokenHash: CachedToken]>([:])

    /// The most tokens the cache holds; past it, stale entries go, then all.
    static let cacheCapacity = 10_000

    private struct CachedToken: Sendable {
        var outcome: Result<APIPrincipal, APIAuthenticationError>
        var expiresAt: Date?
        var tokenID: Int64?
        var freshUntil: ContinuousClock.Instant
    }

    /// - Parameters:
    ///   - store: Where tokens are kept.
    ///   - jwt: Checks JWTs, when the server accepts them (`API_JWKS_FILE`).
    ///   - cacheLifetime: How long a token's state is taken from memory before the store is asked again.
    ///   - now: The wall clock expiry is checked against (tests move it by hand).
    public init(
        store: RelationalStore,
        jwt: APIJWTVerifier? = nil,
        cacheLifetime: Duration = .seconds(5),
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.store = store
        self.jwt = jwt
        self.cacheLifetime = cacheLifetime
        self.now = now
    }

    /// The caller a bearer token stands for.
    /// - Throws: ``APIAuthenticationError`` (401) for an unknown, expired or revoked token or
    ///   an invalid JWT; ``RelationalStoreError`` when the store cannot be asked.
    public func principal(bearer token: Substring) async throws -> APIPrincipal {
        let hash = APITokenHash(token: token)
        let now = ContinuousClock.now
        if let cached = cache.withLock({ $0[hash] }), now < cached.freshUntil {
            return try check(cached)
        }
        if let jwt, APIJWTVerifier.looksLikeJWT(token) {
            var entry = CachedToken(
                outcome: .failure(.invalid("")),
                expiresAt: nil,
                tokenID: nil,
                freshUntil: now + cacheLifetime
            )
            do {
                let (principal, expiresAt) = try await jwt.principal(token: token)
                entry.outcome = .success(principal)
                entry.expiresAt = expiresAt
            } catch {
                entry.outcome = .failure(error)
            }
            remember(entry, hash: hash, now: now)
            return try check(entry)
        }
        let record = try await store.apiToken(hash: hash)
        var entry = CachedToken(
            outcome: .failure(.invalid("the bearer token is not valid")),
            expiresAt: nil,
            tokenID: record?.id,
            freshUntil: now + cacheLifetime
        )
        if let record {
            if record.revokedAt != nil {
                entry.outcome = .failure(.invalid("the bearer token was revoked"))
            } else if let role = APIRole(rawValue: record.role) {
                entry.outcome = .success(
                    APIPrincipal(name: record.name, role: role, companyID: record.companyID, tokenID: record.id)
                )
                entry.expiresAt = record.expiresAt
            }
        }
        remember(entry, hash: hash, now: now)
        return try check(entry)
    }

    private func remember(_ entry: CachedToken, hash: APITokenHash, now: ContinuousClock.Instant) {
        cache.withLock { cache in
            if cache.count >= Self.cacheCapacity {
                cache = cache.filter { now < $0.value.freshUntil }
                if cache.count >= Self.cacheCapacity { cache.removeAll() }
            }
            cache[hash] = entry
        }
    }

    private func check(_ entry: CachedToken) throws(APIAuthenticationError) -> APIPrincipal {
        let principal = try entry.outcome.get()
        if let expiresAt = entry.expiresAt, now() >= expiresAt {
            throw .invalid("the bearer token expired at \(APITimestamp.text(expiresAt))")
        }
        return principal
    }

    /// Drops the cached state of token `id`.
    func forget(tokenID id: Int64) {
        cache.withLock { cache in
            cache = cache.filter { $0.value.tokenID != id }
        }
    }
}

/// A 401: no credentials, or credentials that do not authenticate, with `WWW-Authenticate: Bearer`.
public struct APIAuthenticationError: Error, Sendable, Equatable {
    /// Why, for the `detail` of the answer.
    public let reason: String
    /// Whether a token was sent (RFC 6750's `invalid_token`) or none was.
    let tokenSent: Bool

    static func missing(_ reason: String) -> APIAuthenticationError {
        APIAuthenticationError(reason: reason, tokenSent: false)
    }

    static func invalid(_ reason: String) -> APIAuthenticationError {
        APIAuthenticationError(reason: reason, tokenSent: true)
    }

    /// The `WWW-Authenticate` challenge.
    var challenge: String {
        tokenSent ? #"Bearer realm="ocpp-server", error="invalid_token""# : #"Bearer realm="ocpp-server""#
    }
}

/// Times in messages, as the API writes them.
enum APITimestamp {
    static func text(_ date: Date) -> String { ResourceCoding.timestamp(date) }
}
