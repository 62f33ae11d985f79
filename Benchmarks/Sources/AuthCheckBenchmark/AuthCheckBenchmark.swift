import API
import Crypto
import Foundation
import HTTPTypes
import Logging
import Relational

/// What the server does for authentication on every request, in nanoseconds per request: the
/// route's rule (public or not), the credential's principal (a stored token's digest and the
/// 5 s cache; a JWT's, cached alike after its first verification) and the role's rule, as
/// the authentication and authorization middlewares run them, for `GET /db/chargers/{id}`.
/// Single thread, one warm-up pass, then `rounds` timed passes of `iterations` each; prints
/// the median per mode. Compare with the server's CPU per request (scripts/benchmark-auth.sh).
///
/// Usage: AuthCheckBenchmark [iterations, 200000] [rounds, 5]
/// Run it built in release mode: `swift run -c release AuthCheckBenchmark`.
@main
enum AuthCheckBenchmark {
    static func main() async throws {
        let arguments = CommandLine.arguments.dropFirst()
        let iterations = arguments.first.flatMap(Int.init) ?? 200_000
        let rounds = arguments.dropFirst().first.flatMap(Int.init) ?? 5
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("auth-check-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var logger = Logger(label: "auth-check")
        logger.logLevel = .warning
        let store = try await RelationalStore(
            url: .sqlite(.file(path: directory.appendingPathComponent("ocpp.db").path)),
            logger: logger
        )
        try await store.migrate()
        let company = try await store.create(Company.self, .init(name: "Bench"))
        let token = try await store.createAPIToken(name: "bench", role: "analyst").token
        let tenant = try await store.createAPIToken(name: "tenant", role: "analyst", companyID: company.id).token

        // A P-256 JWKS and an ES256 JWT signed by its key.
        let key = P256.Signing.PrivateKey()
        func base64URL(_ bytes: some DataProtocol) -> String {
            Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        let point = key.publicKey.x963Representation
        let jwks = #"""
            {"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","kid":"b","x":"\#(base64URL(point[1..<33]))","y":"\#(base64URL(point[33..<65]))"}]}
            """#
        let header = base64URL(Data(#"{"alg":"ES256","typ":"JWT","kid":"b"}"#.utf8))
        let expiry = Int(Date().timeIntervalSince1970) + 86_400
        let claims = base64URL(Data(#"{"sub":"bench","exp":\#(expiry),"role":"analyst"}"#.utf8))
        let signature = try key.signature(for: Data("\(header).\(claims)".utf8))
        let jwt = "\(header).\(claims).\(base64URL(signature.rawRepresentation))"

        let authenticator = APIAuthenticator(store: store, jwt: try await APIJWTVerifier(jwks: jwks))
        let route = "/db/chargers/{charger_id}"
        print("GET \(route): \(iterations) checks per round, \(rounds) rounds, one thread")
        print("| Credential | ns per request (median) | rounds |")
        print("|---|---:|---|")
        for (name, credential) in [("stored token", token), ("JWT (ES256)", jwt), ("token with a company", tenant)] {
            let bearer = "Bearer \(credential)"
            let samples = try await measure(authenticator, bearer, route, iterations: iterations, rounds: rounds)
            let sorted = samples.sorted()
            let runs = samples.map { String(format: "%.0f", $0) }.joined(separator: ", ")
            print("| \(name) | \(String(format: "%.0f", sorted[sorted.count / 2])) | \(runs) |")
        }
        await store.shutdown()
    }

    /// The timed rounds for one credential, in ns per request. Not on the main actor (as
    /// `main` is): on the generic executor, as the server's request tasks, so that awaiting
    /// the authenticator costs no hop between threads.
    static func measure(
        _ authenticator: APIAuthenticator,
        _ bearer: String,
        _ route: String,
        iterations: Int,
        rounds: Int
    ) async throws -> [Double] {
        var samples: [Double] = []
        for round in 0...rounds {
            let start = ContinuousClock.now
            for _ in 0..<iterations {
                guard !APIAccessPolicy.isPublic(method: .get, path: route, metricsPublic: false) else {
                    fatalError("the route is protected")
                }
                let parts = bearer.split(separator: " ", maxSplits: 1)
                let principal = try await authenticator.principal(bearer: parts[1])
                guard
                    APIAccessPolicy.allows(
                        principal.role,
                        scoped: principal.companyID != nil,
                        method: .get,
                        path: route
                    )
                else { fatalError("an analyst reads chargers") }
            }
            let elapsed = ContinuousClock.now - start
            let nanoseconds =
                Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
            // Round 0 warms the cache (and verifies the JWT once).
            if round > 0 { samples.append(nanoseconds / Double(iterations)) }
        }
        return samples
    }
}
