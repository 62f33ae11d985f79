import API
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Relational
import TestSupport
import Testing

/// The audit log: every write through the API is appended with who, what and the answer's
/// status before the answer; admins read it at `GET /db/audit_log`; nothing changes it.
/// Over a real socket, on SQLite and PostgreSQL.
@Suite("Audit log")
struct AuditLogTests {
    typealias Answer = DatabaseEndpointTests.Answer

    struct Client: Sendable {
        let client: LiveClient
        var token: String?

        /// The same client, sending `token` as its bearer token.
        func bearer(_ token: String?) -> Client { Client(client: client, token: token) }

        func callAsFunction(_ method: HTTPRequest.Method, _ uri: String, _ json: String? = nil) async throws -> Answer {
            var headers: HTTPFields = [:]
            if json != nil { headers[.contentType] = "application/json" }
            if let token { headers[.authorization] = "Bearer \(token)" }
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
    }

    /// Runs `body` with a client of an API on a fresh database of `backend`, without
    /// authentication unless `authenticated`.
    static func withAPI(
        _ backend: TestBackend,
        authenticated: Bool = false,
        _ body: @escaping @Sendable (_ call: Client, _ store: RelationalStore) async throws -> Void
    ) async throws {
        try await backend.withStore { store in
            let application = APIApplication.make(
                host: "127.0.0.1",
                port: 0,
                relational: store,
                authentication: authenticated ? .bearer(APIAuthenticator(store: store)) : .disabled,
                logger: TestBackend.logger
            )
            try await application.testLive { client in
                try await body(Client(client: client), store)
            }
        }
    }

    /// Every entry, oldest first.
    static func entries(_ store: RelationalStore) async throws -> [AuditEntry] {
        try await store.auditLog(limit: 1000).entries
    }

    /// The fields of `entry` that the API shows, as one text (to search for what must not be there).
    static func text(_ entry: AuditEntry) -> String {
        [
            entry.actor, entry.role ?? "", entry.method, entry.route, entry.path, entry.target ?? "",
            entry.detail ?? "",
        ].joined(separator: "|")
    }

    @Test(
        "Each kind of write is logged with actor, route, target and status; reads are not",
        arguments: TestBackend.allCases
    )
    func writesAreLogged(backend: TestBackend) async throws {
        try await Self.withAPI(backend) { call, store in
            let created = try await call(.post, "/db/companies", #"{"name":"ACME"}"#)
            #expect(created.status == 201)
            let id = created.id
            #expect(try await call(.put, "/db/companies/\(id)", #"{"name":"ACME 2"}"#).status == 200)
            #expect(try await call(.patch, "/db/companies/\(id)", #"{"name":"ACME 3"}"#).status == 200)
            let site = try await call(.post, "/db/companies/\(id)/sites", #"{"name":"Depot"}"#)
            #expect(site.status == 201)
            #expect(try await call(.post, "/db/companies", #"{"name":""}"#).status == 422)
            #expect(try await call(.delete, "/db/companies/987654").status == 404)
            #expect(try await call(.delete, "/db/companies/\(id)?cascade=true").status == 204)
            #expect(try await call(.post, "/no/such/route", "{}").status == 404)
            // Reads are not audited.
            #expect(try await call(.get, "/db/companies").status == 200)
            #expect(try await call(.get, "/db/companies/\(id)").status == 404)
            #expect(try await call(.get, "/db/audit_log").status == 200)

            let entries = try await Self.entries(store)
            let expected: [(String, String, String, String?, Int)] = [
                ("POST", "/db/companies", "/db/companies", "id=\(id)", 201),
                ("PUT", "/db/companies/{company_id}", "/db/companies/\(id)", "company_id=\(id)", 200),
                ("PATCH", "/db/companies/{company_id}", "/db/companies/\(id)", "company_id=\(id)", 200),
                (
                    "POST", "/db/companies/{company_id}/sites", "/db/companies/\(id)/sites",
                    "company_id=\(id),id=\(site.id)", 201
                ),
                ("POST", "/db/companies", "/db/companies", nil, 422),
                ("DELETE", "/db/companies/{company_id}", "/db/companies/987654", "company_id=987654", 404),
                ("DELETE", "/db/companies/{company_id}", "/db/companies/\(id)", "company_id=\(id)", 204),
                ("POST", "(no route)", "/no/such/route", nil, 404),
            ]
            #expect(entries.count == expected.count, "\(entries)")
            for (entry, (method, route, path, target, status)) in zip(entries, expected) {
                #expect(entry.method == method, "\(entry)")
                #expect(entry.route == route, "\(entry)")
                #expect(entry.path == path, "\(entry)")
                #expect(entry.target == target, "\(entry)")
                #expect(entry.status == status, "\(entry)")
                #expect(entry.actor == "anonymous")
                #expect(entry.role == nil)
                #expect(entry.actorTokenID == nil)
                #expect(entry.detail?.hasPrefix("request_id=") == true, "\(entry)")
                #expect(abs(entry.at.timeIntervalSinceNow) < 60)
            }
            #expect(entries[4].detail?.hasSuffix("; invalid: body.name (string_too_short)") == true, "\(entries[4])")
            #expect(entries[6].detail?.hasSuffix("; query: cascade=true") == true, "\(entries[6])")
            #expect(entries.map(\.id) == entries.map(\.id).sorted())
            #expect(Set(entries.map(\.id)).count == entries.count)
        }
    }

    @Test(
        "With tokens: the token's name, id and role; 403s logged, 401s and reads not",
        arguments: TestBackend.allCases
    )
    func authenticatedActors(backend: TestBackend) async throws {
        try await Self.withAPI(backend, authenticated: true) { anonymous, store in
            let admin = try await store.createAPIToken(name: "ops admin", role: "admin")
            let analyst = try await store.createAPIToken(name: "dashboards", role: "analyst")
            let call = anonymous.bearer(admin.token)
            let created = try await call(.post, "/db/companies", #"{"name":"ACME"}"#)
            #expect(created.status == 201, "\(created.body)")
            let refused = try await anonymous.bearer(analyst.token)(
                .patch,
                "/db/companies/\(created.id)",
                #"{"name":"X"}"#
            )
            #expect(refused.status == 403, "\(refused.body)")
            #expect(try await anonymous(.post, "/db/companies", #"{"name":"B"}"#).status == 401)
            #expect(
                try await anonymous.bearer("ocpp_not-a-token")(.post, "/db/companies", #"{"name":"B"}"#).status == 401
            )
            // The log is for admins.
            #expect(try await anonymous.bearer(analyst.token)(.get, "/db/audit_log").status == 403)
            #expect(try await anonymous(.get, "/db/audit_log").status == 401)

            let log = try await call(.get, "/db/audit_log")
            #expect(log.status == 200, "\(log.body)")
            let items = log.items
            #expect(items.count == 2, "\(log.body)")
            #expect(items.map { $0["actor"] as? String } == ["ops admin", "dashboards"])
            #expect(items.map { $0["actor_token_id"] as? Int } == [Int(admin.record.id), Int(analyst.record.id)])
            #expect(items.map { $0["role"] as? String } == ["admin", "analyst"])
            #expect(items.map { $0["status"] as? Int } == [201, 403])
            #expect(items.map { $0["target"] as? String } == ["id=\(created.id)", "company_id=\(created.id)"])
            // No token ever appears.
            for token in [admin.token, analyst.token] {
                #expect(!log.body.contains(token))
                #expect(!log.body.contains(String(token.dropFirst(5).prefix(12))))
            }
        }
    }

    @Test("No authorization key, given, generated or invalid, appears in any entry", arguments: TestBackend.allCases)
    func secretsAreNotLogged(backend: TestBackend) async throws {
        try await Self.withAPI(backend) { call, store in
            let charger = try await call(.post, "/db/chargers", #"{"charge_point_id":"CP-S","security_profile":1}"#)
            let given = "00112233445566778899aabbccddeeff01234567"
            let set = try await call(
                .post,
                "/db/chargers/\(charger.id)/authorization_key",
                #"{"authorization_key":"\#(given)"}"#
            )
            #expect(set.status == 200, "\(set.body)")
            let generated = try await call(.post, "/db/chargers/\(charger.id)/authorization_key", "{}")
            #expect(generated.status == 200, "\(generated.body)")
            let generatedKey = try #require(generated.object["authorization_key"] as? String)
            let invalid = "0011223344556677889900112233445566778899zz"
            let refused = try await call(
                .post,
                "/db/chargers/\(charger.id)/authorization_key",
                #"{"authorization_key":"\#(invalid)"}"#
            )
            #expect(refused.status == 422)
            // A key in the query is ignored by the route, and only its name is logged.
            let queried = try await call(
                .post,
                "/db/chargers/\(charger.id)/authorization_key?authorization_key=\(given)",
                #"{"authorization_key":"\#(given)"}"#
            )
            #expect(queried.status == 200)

            let entries = try await Self.entries(store)
            #expect(entries.map(\.status) == [201, 200, 200, 422, 200])
            #expect(entries.last?.detail?.hasSuffix("; query: authorization_key") == true, "\(entries)")
            for entry in entries.dropFirst() {
                #expect(entry.route == "/db/chargers/{charger_id}/authorization_key")
                #expect(entry.target == "charger_id=\(charger.id)")
            }
            for entry in entries {
                let text = Self.text(entry).lowercased()
                for secret in [given, generatedKey, invalid] {
                    #expect(!text.contains(secret.lowercased()), "\(entry)")
                    #expect(!text.contains(String(secret.lowercased().prefix(16))), "\(entry)")
                }
            }
            // Nor in what the API answers.
            let log = try await call(.get, "/db/audit_log")
            for secret in [given, generatedKey, invalid] {
                #expect(!log.body.lowercased().contains(secret.lowercased()))
            }
        }
    }

    @Test("Pages by cursor, filters by time range, 422 for bad parameters", arguments: TestBackend.allCases)
    func readingTheLog(backend: TestBackend) async throws {
        try await Self.withAPI(backend) { call, store in
            let start = Date(timeIntervalSince1970: 1_600_000_000)
            for minute in 0..<5 {
                try await store.appendAudit(
                    AuditEntry(
                        at: start.addingTimeInterval(Double(minute) * 60),
                        actor: "ops-\(minute)",
                        actorTokenID: Int64(minute + 1),
                        role: "operator",
                        method: "POST",
                        route: "/charge_points/{charge_point_id}/reset",
                        path: "/charge_points/CP-\(minute)/reset",
                        target: "charge_point_id=CP-\(minute)",
                        status: 200
                    )
                )
            }
            let first = try await call(.get, "/db/audit_log/?limit=2")
            #expect(first.status == 200, "\(first.body)")
            #expect(first.items.map { $0["actor"] as? String } == ["ops-0", "ops-1"])
            let item = try #require(first.items.first)
            #expect(
                Set(item.keys) == [
                    "id", "at", "actor", "actor_token_id", "role", "method", "route", "path", "target", "status",
                    "detail",
                ]
            )
            #expect(item["at"] as? String == "2020-09-13T12:26:40.000Z")
            #expect(item["actor_token_id"] as? Int == 1)
            #expect(item["role"] as? String == "operator")
            #expect(item["method"] as? String == "POST")
            #expect(item["route"] as? String == "/charge_points/{charge_point_id}/reset")
            #expect(item["path"] as? String == "/charge_points/CP-0/reset")
            #expect(item["target"] as? String == "charge_point_id=CP-0")
            #expect(item["status"] as? Int == 200)
            #expect(item["detail"] is NSNull)
            let cursor = try #require(first.object["next_cursor"] as? String)
            let second = try await call(.get, "/db/audit_log?limit=2&cursor=\(cursor)")
            #expect(second.items.map { $0["actor"] as? String } == ["ops-2", "ops-3"])
            let third = try await call(
                .get,
                "/db/audit_log?limit=2&cursor=\(second.object["next_cursor"] as? String ?? "")"
            )
            #expect(third.items.map { $0["actor"] as? String } == ["ops-4"])
            #expect(third.object["next_cursor"] is NSNull)
            let all = try await call(.get, "/db/audit_log")
            #expect(all.items.count == 5)
            #expect(all.object["next_cursor"] is NSNull)

            // [from, to): the second and third minute.
            let range = try await call(.get, "/db/audit_log?from=2020-09-13T12:27:40Z&to=2020-09-13T14:29:40%2B02:00")
            #expect(range.items.map { $0["actor"] as? String } == ["ops-1", "ops-2"], "\(range.body)")
            let paged = try await call(.get, "/db/audit_log?from=2020-09-13T12:27:40Z&limit=1")
            #expect(paged.items.map { $0["actor"] as? String } == ["ops-1"])
            let rest = try await call(
                .get,
                "/db/audit_log?from=2020-09-13T12:27:40Z&to=2020-09-13T12:30:00Z&cursor=\(paged.object["next_cursor"] as? String ?? "")"
            )
            #expect(rest.items.map { $0["actor"] as? String } == ["ops-2", "ops-3"])
            #expect(try await call(.get, "/db/audit_log?to=2020-09-13T12:26:40Z").items.isEmpty)
            // A range that is not after its start is empty.
            for range in [
                "from=2020-09-13T12:27:40Z&to=2020-09-13T12:27:40Z",
                "from=2020-09-13T12:28:40Z&to=2020-09-13T12:27:40Z",
            ] {
                let empty = try await call(.get, "/db/audit_log?\(range)")
                #expect(empty.status == 200)
                #expect(empty.items.isEmpty)
                #expect(empty.object["next_cursor"] is NSNull)
            }
            #expect(try await call(.get, "/db/audit_log?limit=2.0").items.count == 2)

            let invalid: [(String, String, String)] = [
                ("limit=0", "limit", "int_parsing"), ("limit=1001", "limit", "int_parsing"),
                ("limit=x", "limit", "int_parsing"), ("limit=1.5", "limit", "int_parsing"),
                ("cursor=abc", "cursor", "value_error"),
                ("cursor=0", "cursor", "value_error"), ("cursor=-3", "cursor", "value_error"),
                ("cursor=1234567890123456789", "cursor", "value_error"),
                ("from=yesterday", "from", "datetime_parsing"), ("to=2020-09-13", "to", "datetime_parsing"),
                ("actor=ops-1", "actor", "extra_forbidden"),
            ]
            for (query, parameter, type) in invalid {
                let answer = try await call(.get, "/db/audit_log?\(query)")
                #expect(answer.status == 422, "\(query): \(answer.body)")
                #expect(answer.invalid?.loc == ["query", parameter], "\(query)")
                #expect(answer.invalid?.type == type, "\(query)")
            }
            #expect(try await call(.get, "/db/audit_log?limit=1000").status == 200)
        }
    }

    @Test("No route and no SQL statement changes or deletes an entry", arguments: TestBackend.allCases)
    func appendOnly(backend: TestBackend) async throws {
        try await Self.withAPI(backend) { call, store in
            #expect(try await call(.post, "/db/companies", #"{"name":"ACME"}"#).status == 201)
            let before = try await Self.entries(store)
            #expect(before.count == 1)
            let id = try #require(before.first?.id)
            for (method, path) in [
                (HTTPRequest.Method.delete, "/db/audit_log"), (.delete, "/db/audit_log/\(id)"),
                (.put, "/db/audit_log/\(id)"), (.patch, "/db/audit_log/\(id)"), (.post, "/db/audit_log"),
                (.put, "/db/audit_log"), (.patch, "/db/audit_log"), (.get, "/db/audit_log/\(id)"),
            ] {
                let answer = try await call(method, path, method == .get ? nil : #"{"status":200}"#)
                #expect([404, 405].contains(answer.status), "\(method) \(path): \(answer.status)")
            }
            let after = try await Self.entries(store)
            // The attempts are writes too: appended, after the untouched first entry.
            #expect(after.first == before.first)
            #expect(after.count == 8)
            #expect(after.dropFirst().allSatisfy { [404, 405].contains($0.status) })

            for statement in [
                "UPDATE audit_log SET status = 200",
                "UPDATE audit_log SET actor = 'someone else' WHERE id = \(id)",
                "DELETE FROM audit_log",
                "DELETE FROM audit_log WHERE id = \(id)",
            ] + (backend == .postgres ? ["TRUNCATE audit_log"] : []) {
                await #expect(throws: (any Error).self, "\(statement)") {
                    try await store.executeRawSQL(statement)
                }
            }
            #expect(try await Self.entries(store) == after)
        }
    }

    @Test("A write whose entry cannot be appended is answered 503", arguments: TestBackend.allCases)
    func unavailableLog(backend: TestBackend) async throws {
        try await Self.withAPI(backend) { call, store in
            try await store.executeRawSQL("ALTER TABLE audit_log RENAME TO audit_log_elsewhere")
            let answer = try await call(.post, "/db/companies", #"{"name":"ACME"}"#)
            #expect(answer.status == 503, "\(answer.body)")
            #expect((answer.object["detail"] as? String)?.contains("audit log") == true)
            // The entry is written after the write: the company exists, unreported.
            let companies = try await call(.get, "/db/companies")
            #expect(companies.items.map { $0["name"] as? String } == ["ACME"])
            // Reads go on.
            #expect(companies.status == 200)
            try await store.executeRawSQL("ALTER TABLE audit_log_elsewhere RENAME TO audit_log")
            #expect(try await call(.post, "/db/companies", #"{"name":"B"}"#).status == 201)
            #expect(try await Self.entries(store).map(\.status) == [201])
        }
    }

    @Test("An entry's text is cut to its bounds")
    func bounds() {
        let long = String(repeating: "é", count: 5000)
        let entry = AuditEntry(
            actor: long,
            role: long,
            method: long,
            route: long,
            path: long,
            target: long,
            status: 200,
            detail: long
        )
        #expect(entry.actor.unicodeScalars.count == AuditEntry.maximumFieldLength)
        #expect(entry.role?.unicodeScalars.count == AuditEntry.maximumFieldLength)
        #expect(entry.route.unicodeScalars.count == AuditEntry.maximumFieldLength)
        #expect(entry.target?.unicodeScalars.count == AuditEntry.maximumFieldLength)
        #expect(entry.path.unicodeScalars.count == AuditEntry.maximumTextLength)
        #expect(entry.detail?.unicodeScalars.count == AuditEntry.maximumTextLength)
        #expect(AuditEntry(actor: "a", method: "POST", route: "/", path: "/x", status: 200).path == "/x")
    }

    @Test("Long paths are stored cut, on both databases", arguments: TestBackend.allCases)
    func longPath(backend: TestBackend) async throws {
        try await Self.withAPI(backend) { call, store in
            let path = "/db/companies/" + String(repeating: "9", count: 3000)
            #expect(try await call(.delete, path).status != 204)
            let entries = try await Self.entries(store)
            #expect(entries.count == 1)
            #expect(entries.first?.path == String(path.prefix(AuditEntry.maximumTextLength)))
        }
    }
}
