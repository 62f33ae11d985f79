import Foundation
import Hummingbird
import HummingbirdTesting
import Ingest
import JWTKit
import Logging
import Prometheus
import Relational
import Synchronization
import TestSupport
import Testing
import TimeSeries
import _CryptoExtras

@testable import API

/// Bearer tokens, the role table and their administration, over real sockets.
@Suite("Authentication and roles")
struct AuthenticationTests {
    struct Answer: Sendable {
        var status: Int
        var body: String
        var headers: HTTPFields

        var object: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
        }
        var detail: String { object["detail"] as? String ?? "" }
    }

    struct Client: Sendable {
        let client: LiveClient

        func callAsFunction(
            _ method: HTTPRequest.Method,
            _ uri: String,
            token: String? = nil,
            json: String? = nil
        ) async throws -> Answer {
            var headers: HTTPFields = [:]
            if let token { headers[.authorization] = "Bearer \(token)" }
            if json != nil { headers[.contentType] = "application/json" }
            return try await client.execute(
                uri: uri,
                method: method,
                headers: headers,
                body: json.map { ByteBuffer(string: $0) }
            ) { response in
                Answer(
                    status: Int(response.status.code),
                    body: String(buffer: response.body),
                    headers: response.headers
                )
            }
        }

        func callAsFunction(
            _ method: HTTPRequest.Method,
            _ uri: String,
            headers: HTTPFields
        ) async throws -> Answer {
            try await client.execute(uri: uri, method: method, headers: headers) { response in
                Answer(
                    status: Int(response.status.code),
                    body: String(buffer: response.body),
                    headers: response.headers
                )
            }
        }
    }

    /// The whole API (database, history, commands, relay, metrics) on a fresh database of
    /// `backend`, with authentication on.
    static func withAPI(
        _ backend: TestBackend = .sqlite,
        cacheLifetime: Duration = .seconds(5),
        metricsPublic: Bool = false,
        jwt: APIJWTVerifier? = nil,
        now: @escaping @Sendable () -> Date = { Date() },
        _ body: @escaping @Sendable (_ call: Client, _ store: RelationalStore) async throws -> Void
    ) async throws {
        try await backend.withStore { store in
            try await withStack(store) { ingest, timeSeries in
                let application = APIApplication.make(
                    host: "127.0.0.1",
                    port: 0,
                    ingest: ingest,
                    timeSeries: timeSeries,
                    relational: store,
                    metrics: PrometheusCollectorRegistry(),
                    authentication: .bearer(
                        APIAuthenticator(store: store, jwt: jwt, cacheLifetime: cacheLifetime, now: now),
                        metricsPublic: metricsPublic
                    ),
                    logger: TestBackend.logger
                )
                try await application.testLive { client in
                    try await body(Client(client: client), store)
                }
            }
        }
    }

    /// A time-series store in a temporary directory and the OCPP front end over `store`.
    static func withStack(
        _ store: RelationalStore,
        _ body: (OCPPIngest, TimeSeriesStore) async throws -> Void
    ) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ocpp-auth-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let timeSeries = try TimeSeriesStore(directory: directory.path)
        let ingest = OCPPIngest(timeSeries: timeSeries, relational: store, logger: TestBackend.logger)
        do {
            try await body(ingest, timeSeries)
        } catch {
            timeSeries.close()
            throw error
        }
        timeSeries.close()
    }

    static func token(_ store: RelationalStore, _ role: APIRole, expiresAt: Date? = nil) async throws -> String {
        try await store.createAPIToken(name: "test-\(role.rawValue)", role: role.rawValue, expiresAt: expiresAt).token
    }

    // MARK: - 401

    @Test("Without a valid bearer token a protected route answers 401 with WWW-Authenticate: Bearer")
    func unauthenticated() async throws {
        try await Self.withAPI { call, store in
            let admin = try await Self.token(store, .admin)
            let refusals: [(HTTPFields, String)] = [
                ([:], "authentication required"),
                ([.authorization: "Basic dXNlcjpwYXNz"], "must be Bearer"),
                ([.authorization: "Bearer"], "must be Bearer"),
                ([.authorization: "Bearer ocpp_not-a-token"], "not valid"),
                ([.authorization: "Bearer \(admin)x"], "not valid"),
                ([.authorization: "Bearer \(admin) \(admin)"], "not valid"),
            ]
            for (headers, reason) in refusals {
                for uri in ["/db/chargers/", "/db/api_tokens/", "/charge_points", "/metrics", "/no/such/route"] {
                    let answer = try await call(.get, uri, headers: headers)
                    #expect(answer.status == 401, "\(uri) \(headers)")
                    #expect(answer.detail.contains(reason), "\(uri): \(answer.body)")
                    #expect(answer.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                    #expect(answer.headers[.contentType] == "application/json")
                }
            }
            let invalid = try await call(.get, "/db/chargers/", token: "ocpp_unknown")
            #expect(invalid.headers[.wwwAuthenticate] == #"Bearer realm="ocpp-server", error="invalid_token""#)
            // The scheme is case-insensitive; a valid token opens the route; an unknown route is then a 404.
            #expect(try await call(.get, "/db/chargers/", headers: [.authorization: "bearer \(admin)"]).status == 200)
            #expect(try await call(.get, "/no/such/route", token: admin).status == 404)
            // The public routes need no token.
            #expect(try await call(.get, "/health").status == 200)
            #expect(try await call(.get, "/ready").status == 200)
            #expect(try await call(.get, "/openapi.json").status == 200)
            #expect(try await call(.get, "/docs").status == 200)
            #expect(try await call(.get, "/ocpp/CP-1").status == 426)
        }
    }

    @Test("METRICS_PUBLIC opens /metrics and nothing else")
    func metricsPublic() async throws {
        try await Self.withAPI(metricsPublic: true) { call, _ in
            let metrics = try await call(.get, "/metrics")
            #expect(metrics.status == 200)
            #expect(try await call(.get, "/db/chargers/").status == 401)
        }
    }

    @Test("An expired token is refused from its expiry on, even while cached")
    func expiry() async throws {
        // The authenticator's wall clock is moved by hand: no sleeping, no race with a loaded machine.
        let clock = Mutex(Date())
        try await Self.withAPI(now: { clock.withLock { $0 } }) { call, store in
            let expiresAt = Date().addingTimeInterval(3600)
            let token = try await Self.token(store, .analyst, expiresAt: expiresAt)
            #expect(try await call(.get, "/db/chargers/", token: token).status == 200)
            // The store keeps times to the millisecond or second: a second either side.
            clock.withLock { $0 = expiresAt.addingTimeInterval(-1) }
            #expect(try await call(.get, "/db/chargers/", token: token).status == 200)
            clock.withLock { $0 = expiresAt.addingTimeInterval(1) }
            let answer = try await call(.get, "/db/chargers/", token: token)
            #expect(answer.status == 401)
            #expect(answer.detail.contains("expired"), "\(answer.body)")
            // Created already expired: refused by the store.
            await #expect(throws: RelationalStoreError.self) {
                _ = try await Self.token(store, .analyst, expiresAt: Date().addingTimeInterval(-1))
            }
        }
    }

    @Test("A token revoked through the API stops at once; one revoked elsewhere within the cache's lifetime")
    func revocation() async throws {
        try await Self.withAPI(cacheLifetime: .milliseconds(300)) { call, store in
            let admin = try await Self.token(store, .admin)
            let created = try await store.createAPIToken(name: "victim", role: "operator")
            #expect(try await call(.get, "/db/chargers/", token: created.token).status == 200)
            #expect(try await call(.delete, "/db/api_tokens/\(created.record.id)", token: admin).status == 204)
            let refused = try await call(.get, "/db/chargers/", token: created.token)
            #expect(refused.status == 401)
            #expect(refused.detail.contains("revoked"))
            // Revoked in the database (the command line, another server): cached for at most its lifetime.
            let other = try await store.createAPIToken(name: "other", role: "analyst")
            #expect(try await call(.get, "/db/chargers/", token: other.token).status == 200)
            try await store.revokeAPIToken(id: other.record.id)
            try await Task.sleep(for: .milliseconds(400))
            #expect(try await call(.get, "/db/chargers/", token: other.token).status == 401)
            // Revoking again keeps the first revocation's time; an unknown id is a 404.
            let first = try await store.apiToken(id: other.record.id).revokedAt
            #expect(try await call(.delete, "/db/api_tokens/\(other.record.id)", token: admin).status == 204)
            #expect(try await store.apiToken(id: other.record.id).revokedAt == first)
            #expect(try await call(.delete, "/db/api_tokens/999999", token: admin).status == 404)
        }
    }

    // MARK: - JWTs

    /// Claims as an identity provider would issue them, with the claim names the test configures.
    struct IssuedClaims: JWTPayload {
        var sub: String?
        var exp: Int?
        var ocppRole: String?
        var tenant: Int64?

        enum CodingKeys: String, CodingKey {
            case sub, exp, tenant
            case ocppRole = "ocpp_role"
        }

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    @Test("A JWT signed by a key of the JWKS authenticates with its sub, role and company; any other is refused")
    func jwt() async throws {
        let key = ES256PrivateKey()
        let parameters = try #require(key.publicKey.parameters)
        let jwks =
            #"{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","kid":"k1","x":"\#(parameters.x)","y":"\#(parameters.y)"}]}"#
        let verifier = try await APIJWTVerifier(jwks: jwks, roleClaim: "ocpp_role", companyClaim: "tenant")
        let issuer = await JWTKeyCollection().add(ecdsa: key, kid: "k1")
        let impostor = await JWTKeyCollection().add(ecdsa: ES256PrivateKey(), kid: "k1")
        let inAnHour = Int(Date().timeIntervalSince1970) + 3600
        func sign(_ claims: IssuedClaims, with keys: JWTKeyCollection? = nil) async throws -> String {
            try await (keys ?? issuer).sign(claims, kid: "k1")
        }
        let analyst = try await sign(IssuedClaims(sub: "grafana@idp", exp: inAnHour, ocppRole: "analyst", tenant: 7))
        let (principal, expiresAt) = try await verifier.principal(token: analyst[...])
        #expect(principal == APIPrincipal(name: "grafana@idp", role: .analyst, companyID: 7, tokenID: nil))
        #expect(Int(expiresAt.timeIntervalSince1970) == inAnHour)

        let refused: [(String, String)] = [
            (try await sign(IssuedClaims(sub: "x", exp: inAnHour - 7200, ocppRole: "admin")), "expired"),
            (try await sign(IssuedClaims(sub: "x", exp: nil, ocppRole: "admin")), "exp"),
            (try await sign(IssuedClaims(sub: nil, exp: inAnHour, ocppRole: "admin")), "sub"),
            (try await sign(IssuedClaims(sub: "x", exp: inAnHour, ocppRole: "root")), "ocpp_role"),
            (try await sign(IssuedClaims(sub: "x", exp: inAnHour, ocppRole: nil)), "ocpp_role"),
            (try await sign(IssuedClaims(sub: "x", exp: inAnHour, ocppRole: "admin"), with: impostor), "signature"),
            // HS256 with the public key as the secret: the classic algorithm confusion.
            (
                "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ4Iiwib2NwcF9yb2xlIjoiYWRtaW4ifQ."
                    + "c2lnbmF0dXJlLWJ5LWEtc2hhcmVkLXNlY3JldA",
                "ES256 or RS256"
            ),
        ]
        let admin = try await sign(IssuedClaims(sub: "ops@idp", exp: inAnHour, ocppRole: "admin"))
        try await Self.withAPI(jwt: verifier) { call, _ in
            #expect(try await call(.get, "/db/chargers/", token: analyst).status == 200)
            #expect(try await call(.post, "/db/companies/", token: analyst, json: #"{"name":"X"}"#).status == 403)
            #expect(try await call(.get, "/db/api_tokens/", token: admin).status == 200)
            for (token, reason) in refused {
                let answer = try await call(.get, "/db/chargers/", token: token)
                #expect(answer.status == 401, "\(reason)")
                #expect(answer.detail.contains("JWT is not valid"), "\(reason): \(answer.body)")
                // jwt-kit reports a bad signature, exp and decoding failures alike; the server's own checks say which.
                #expect(
                    answer.detail.contains(reason) || ["signature", "expired", "exp"].contains(reason),
                    "\(answer.body)"
                )
            }
        }
        // A set with a secret key, a private key or another algorithm is refused at start.
        for set in [
            #"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#,
            #"{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","x":"\#(parameters.x)","y":"\#(parameters.y)","d":"AA"}]}"#,
            #"{"keys":[{"kty":"RSA","alg":"PS256","n":"AQAB","e":"AQAB"}]}"#, #"{"keys":[]}"#, "not json",
        ] {
            await #expect(throws: APIJWTKeySetError.self, "\(set)") { _ = try await APIJWTVerifier(jwks: set) }
        }
    }

    @Test("An RS256 JWT signed by an RSA key of the JWKS authenticates; another RSA key's does not")
    func rs256() async throws {
        func jwk(_ key: JWTKit.Insecure.RSA.PrivateKey) throws -> String {
            let (modulus, exponent) = try key.publicKey.getKeyPrimitives()
            func base64URL(_ data: Data) -> String {
                data.base64EncodedString().replacingOccurrences(of: "+", with: "-")
                    .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            }
            return #"{"kty":"RSA","alg":"RS256","kid":"r1","n":"\#(base64URL(modulus))","e":"\#(base64URL(exponent))"}"#
        }
        let key = try JWTKit.Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
        let other = try JWTKit.Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
        let verifier = try await APIJWTVerifier(jwks: #"{"keys":[\#(try jwk(key))]}"#, roleClaim: "ocpp_role")
        let inAnHour = Int(Date().timeIntervalSince1970) + 3600
        let claims = IssuedClaims(sub: "bi@idp", exp: inAnHour, ocppRole: "analyst")
        let token = try await JWTKeyCollection().add(rsa: key, digestAlgorithm: .sha256, kid: "r1")
            .sign(claims, kid: "r1")
        let forged = try await JWTKeyCollection().add(rsa: other, digestAlgorithm: .sha256, kid: "r1")
            .sign(claims, kid: "r1")
        let (principal, _) = try await verifier.principal(token: token[...])
        #expect(principal == APIPrincipal(name: "bi@idp", role: .analyst))
        await #expect(throws: APIAuthenticationError.self) { try await verifier.principal(token: forged[...]) }
    }

    // MARK: - Token administration

    @Test(
        "Admins create, list, read and revoke tokens over REST; the token is shown once",
        arguments: TestBackend.allCases
    )
    func tokenEndpoints(backend: TestBackend) async throws {
        try await Self.withAPI(backend) { call, store in
            let admin = try await Self.token(store, .admin)
            let company = try await store.create(Company.self, .init(name: "ACME"))
            let created = try await call(
                .post,
                "/db/api_tokens/",
                token: admin,
                json:
                    #"{"name":"grafana","role":"analyst","company_id":\#(company.id),"expires_in":86400}"#
            )
            #expect(created.status == 201, "\(created.body)")
            let token = try #require(created.object["token"] as? String)
            #expect(token.hasPrefix("ocpp_") && token.count == 48)
            #expect(created.object["role"] as? String == "analyst")
            #expect(created.object["company_id"] as? Int == Int(company.id))
            #expect(created.object["expires_at"] is String)
            let id = try #require(created.object["id"] as? Int)
            #expect(created.headers[.location] == "/db/api_tokens/\(id)")
            // It works, with its role.
            #expect(try await call(.get, "/db/chargers/", token: token).status == 200)
            #expect(try await call(.post, "/db/companies/", token: token, json: #"{"name":"X"}"#).status == 403)
            // Listed and read without the token or its hash.
            let list = try await call(.get, "/db/api_tokens/?limit=10", token: admin)
            #expect(list.status == 200)
            #expect(list.object["total"] as? Int == 2)
            #expect(!list.body.contains(token))
            #expect(!list.body.contains(APITokenHash(token: token).hex))
            let one = try await call(.get, "/db/api_tokens/\(id)", token: admin)
            #expect(one.status == 200)
            #expect(one.object["token"] == nil)
            #expect(one.object["name"] as? String == "grafana")
            #expect(one.object["last_used_at"] is String, "used once: \(one.body)")
            #expect(one.object["revoked_at"] is NSNull)
            // Invalid creations.
            let invalid: [(String, String)] = [
                (#"{"role":"admin"}"#, "name"),
                (#"{"name":"x","role":"root"}"#, "role"),
                (#"{"name":"","role":"admin"}"#, "name"),
                (#"{"name":"x","role":"admin","token":"mine"}"#, "token"),
                (#"{"name":"x","role":"admin","expires_in":0}"#, "expires_in"),
                (#"{"name":"x","role":"admin","expires_in":"tomorrow"}"#, "expires_in"),
                (#"{"name":"x","role":"admin","expires_at":"2099-01-01T00:00:00Z"}"#, "expires_at"),
                (#"["x"]"#, "body"),
            ]
            for (body, field) in invalid {
                let answer = try await call(.post, "/db/api_tokens/", token: admin, json: body)
                #expect(answer.status == 422, "\(body): \(answer.body)")
                #expect(answer.body.contains(#""\#(field)""#), "\(body): \(answer.body)")
            }
            let unknownCompany = try await call(
                .post,
                "/db/api_tokens/",
                token: admin,
                json: #"{"name":"x","role":"admin","company_id":999999}"#
            )
            #expect(unknownCompany.status == 409, "\(unknownCompany.body)")
            #expect(try await call(.get, "/db/api_tokens/?limit=0", token: admin).status == 422)
            #expect(try await call(.get, "/db/api_tokens/?role=admin", token: admin).status == 422)
            #expect(try await call(.get, "/db/api_tokens/999999", token: admin).status == 404)
            // Revoked: listed with its time, refused.
            #expect(try await call(.delete, "/db/api_tokens/\(id)", token: admin).status == 204)
            #expect(try await call(.get, "/db/api_tokens/\(id)", token: admin).object["revoked_at"] is String)
            #expect(try await call(.get, "/db/chargers/", token: token).status == 401)
            // Deleting the company takes its tokens along: a token never outlives its scope.
            _ = try await store.createAPIToken(name: "scoped", role: "operator", companyID: company.id)
            try await store.delete(Company.self, id: company.id)
            #expect(try await store.apiTokens().items.map(\.name) == ["test-admin"])
        }
    }

    // MARK: - The role table

    /// The rules the issue states, written independently of ``APIAccessPolicy``.
    static func expectedAllowed(_ role: APIRole, _ method: HTTPRequest.Method, _ route: String) -> Bool {
        // Who the caller is: anyone with a token may ask.
        if route == "/whoami" { return true }
        let adminOnly = route.hasPrefix("/db/api_tokens") || route.hasPrefix("/db/audit_log")
        let relay = route.hasPrefix("/db/ocpp/")
        switch role {
        case .admin:
            return true
        case .operator:
            return !adminOnly && !relay
                && (route.hasPrefix("/db/") || route.hasPrefix("/charge_points") || route == "/metrics")
        case .analyst:
            return method == .get && !adminOnly && !relay && !route.hasSuffix("/configuration")
                && (route.hasPrefix("/db/") || route == "/charge_points" || route == "/metrics")
        case .integration:
            return relay && method == .post
        }
    }

    static func router(
        _ store: RelationalStore,
        ingest: OCPPIngest,
        timeSeries: TimeSeriesStore
    ) -> Router<
        APIRequestContext
    > {
        APIApplication.buildRouter(
            ingest: ingest,
            timeSeries: timeSeries,
            relational: store,
            metrics: PrometheusCollectorRegistry(),
            authentication: .disabled
        )
    }

    @Test("Every route the router serves has a rule in the role table")
    func everyRouteHasARule() async throws {
        try await TestBackend.sqlite.withStore { store in
            try await Self.withStack(store) { ingest, timeSeries in
                let routes = Self.router(store, ingest: ingest, timeSeries: timeSeries).routes
                #expect(routes.count > 80)
                for route in routes {
                    let rule = APIAccessPolicy.rule(method: route.method, path: route.path.description)
                    #expect(rule != nil, "no rule for \(route.method) \(route.path)")
                }
                // The public routes are exactly the probes, the document, its page, the console's page and files,
                // and the WebSocket endpoint.
                let open = routes.filter {
                    APIAccessPolicy.isPublic(method: $0.method, path: $0.path.description, metricsPublic: false)
                }.map { "\($0.method) \($0.path)" }.sorted()
                // /docs and the Swagger UI files it loads.
                #expect(open.contains("GET /docs"))
                #expect(open.filter { $0.hasPrefix("GET /console/") }.count == 1)
                #expect(
                    open.filter { !$0.hasPrefix("GET /docs") && !$0.hasPrefix("GET /console/") }
                        == ["GET /", "GET /health", "GET /ocpp/**", "GET /openapi.json", "GET /ready"]
                )
            }
        }
    }

    /// A request to `route` (a registered pattern) with every parameter filled in.
    static func concrete(_ route: String) -> String {
        let path = route.split(separator: "/").map { segment -> String in
            if segment == "{charge_point_id}" || segment == "**" { return "CP-1" }
            // An id no row has: nothing is found, so nothing is changed.
            return segment.hasPrefix("{") ? "987654" : String(segment)
        }.reduce("") { $0 + "/" + $1 }
        return path.isEmpty ? "/" : path
    }

    @Test("Route x role: each role gets 403 exactly where the table refuses it, else what authentication-off answers")
    func roleMatrix() async throws {
        try await TestBackend.sqlite.withStore { store in
            try await Self.withStack(store) { ingest, timeSeries in
                let routes = Self.router(store, ingest: ingest, timeSeries: timeSeries).routes.map {
                    (method: $0.method, path: $0.path.description)
                }
                var roleTokens: [APIRole: String] = [:]
                for role in APIRole.allCases { roleTokens[role] = try await Self.token(store, role) }
                let tokens = roleTokens
                let open = APIApplication.make(
                    host: "127.0.0.1",
                    port: 0,
                    ingest: ingest,
                    timeSeries: timeSeries,
                    relational: store,
                    metrics: PrometheusCollectorRegistry(),
                    authentication: .disabled,
                    logger: TestBackend.logger
                )
                let guarded = APIApplication.make(
                    host: "127.0.0.1",
                    port: 0,
                    ingest: ingest,
                    timeSeries: timeSeries,
                    relational: store,
                    metrics: PrometheusCollectorRegistry(),
                    authentication: .bearer(APIAuthenticator(store: store)),
                    logger: TestBackend.logger
                )
                try await open.testLive { openClient in
                    try await guarded.testLive { guardedClient in
                        let openCall = Client(client: openClient)
                        let guardedCall = Client(client: guardedClient)
                        var checked = 0
                        for route in routes {
                            let path = route.path
                            // A live stream that opens never ends: a kind no stream has answers 422 instead.
                            let uri = Self.concrete(path) + (path.hasSuffix("/stream") ? "?kind=none" : "")
                            // A body no route accepts, so that nothing is written and every answer stays the same.
                            let json = route.method == .get || route.method == .delete ? nil : "{}"
                            let reference = try await openCall(route.method, uri, json: json)
                            let isPublic = APIAccessPolicy.isPublic(
                                method: route.method,
                                path: path,
                                metricsPublic: false
                            )
                            let anonymous = try await guardedCall(route.method, uri, json: json)
                            #expect(anonymous.status == (isPublic ? reference.status : 401), "anonymous \(route)")
                            for role in APIRole.allCases {
                                let answer = try await guardedCall(route.method, uri, token: tokens[role], json: json)
                                let allowed = isPublic || Self.expectedAllowed(role, route.method, path)
                                if allowed {
                                    #expect(answer.status == reference.status, "\(role) \(route): \(answer.body)")
                                } else {
                                    #expect(answer.status == 403, "\(role) \(route): \(answer.body)")
                                    #expect(answer.detail.hasPrefix("role \(role.rawValue) may not"), "\(answer.body)")
                                }
                                checked += 1
                            }
                        }
                        #expect(checked >= 4 * 80)
                    }
                }
            }
        }
    }

    @Test(
        "The OpenAPI document declares the bearer scheme, 401 and 403 on every protected operation, none on the public ones"
    )
    func openAPISecurity() throws {
        let document = try OpenAPITests.document()
        let components = try #require(document["components"] as? [String: Any])
        let schemes = try #require(components["securitySchemes"] as? [String: Any])
        let bearer = try #require(schemes["bearer"] as? [String: Any])
        #expect(bearer["type"] as? String == "http")
        #expect(bearer["scheme"] as? String == "bearer")
        #expect((document["security"] as? [[String: Any]])?.first?["bearer"] as? [Any] != nil)
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var public_: [String] = []
        for (path, operations) in paths {
            for (method, value) in operations {
                let operation = try #require(value as? [String: Any])
                let responses = try #require(operation["responses"] as? [String: Any])
                if let security = operation["security"] as? [Any] {
                    #expect(security.isEmpty)
                    public_.append("\(method.uppercased()) \(path)")
                    #expect(responses["401"] == nil, "\(method) \(path)")
                } else {
                    #expect(responses["401"] != nil, "\(method) \(path)")
                    #expect(responses["403"] != nil, "\(method) \(path)")
                    #expect((operation["x-roles"] as? [String])?.first == "admin", "\(method) \(path)")
                }
            }
        }
        // /docs and the Swagger UI files it loads are public too, and so are the console's page and files.
        #expect(public_.contains("GET /docs"))
        #expect(
            public_.filter { !$0.hasPrefix("GET /docs") }.sorted() == [
                "GET /", "GET /console/{file}", "GET /health", "GET /openapi.json", "GET /ready",
            ]
        )
        for name in ["APIToken", "APITokenPage", "CreatedAPIToken", "APITokenCreate"] {
            #expect((components["schemas"] as? [String: Any])?[name] != nil, "\(name)")
        }
    }
}
