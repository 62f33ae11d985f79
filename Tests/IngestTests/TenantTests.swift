import API
import Foundation
import Hummingbird
import Relational
import Synchronization
import TestSupport
import Testing

@testable import Ingest

/// Company tenants: every route of the OpenAPI document, called by each role limited to
/// company A, on company A's rows and on company B's, with both companies' chargers
/// connected. A's rows answer as for an unlimited caller; B's answer as rows that do not
/// exist (404; lists and totals without them), and nothing of B changes or is sent to B.
@Suite("Company tenants", .serialized)
struct TenantTests {
    typealias HTTP = CommandEndpointTests

    /// One company's rows.
    struct World: Sendable {
        var name: String
        var company: Int64
        var site: Int64
        var charger: Int64
        var connector: Int64
        var driver: Int64
        var card: Int64
        var session: Int64
        var reservation: Int64
        var profile: Int64
        var chargePointID: String { "\(name)-CP" }

        /// `template` with its path parameters naming this company's rows.
        func uri(_ template: String, token: Int64) -> String {
            let values: [String: String] = [
                "company_id": "\(company)", "site_id": "\(site)", "charger_id": "\(charger)",
                "connector_id": "\(connector)", "driver_id": "\(driver)", "rfid_card_id": "\(card)",
                "charge_session_id": "\(session)", "reservation_record_id": "\(reservation)",
                "charging_profile_record_id": "\(profile)", "charge_point_id": chargePointID,
                "api_token_id": "\(token)",
            ]
            var uri = template
            for (name, value) in values { uri = uri.replacingOccurrences(of: "{\(name)}", with: value) }
            return uri
        }
    }

    static func world(_ store: RelationalStore, _ name: String) async throws -> World {
        let company = try await store.create(Company.self, .init(name: "Company \(name)"))
        let site = try await store.create(Site.self, .init(companyID: company.id, name: "\(name) site"))
        let charger = try await store.create(Charger.self, .init(siteID: site.id, chargePointID: "\(name)-CP"))
        let connector = try await store.create(Connector.self, .init(chargerID: charger.id, connectorID: 1))
        let driver = try await store.create(Driver.self, .init(companyID: company.id, name: "\(name) driver"))
        let card = try await store.create(
            RFIDCard.self,
            .init(idTag: "\(name)-TAG", driverID: driver.id, companyID: company.id)
        )
        let session = try await store.create(
            ChargeSession.self,
            .init(chargerID: charger.id, connectorID: 1, idTag: "\(name)-TAG", meterStart: 0, startTime: Date())
        )
        try await store.recordReservation(
            chargePointID: "\(name)-CP",
            reservationID: 5,
            connectorID: 1,
            idTag: "\(name)-TAG",
            parentIDTag: nil,
            expiryDate: Date() + 3600,
            responseStatus: "Accepted"
        )
        try await store.recordChargingProfile(
            chargePointID: "\(name)-CP",
            connectorID: 1,
            chargingProfileID: 3,
            stackLevel: 0,
            purpose: "TxDefaultProfile",
            kind: "Absolute",
            transactionID: nil,
            profile: "{}",
            responseStatus: "Accepted"
        )
        let chargerFilter = ListQuery(filters: [.init("charger_id", .integer(charger.id))])
        return World(
            name: name,
            company: company.id,
            site: site.id,
            charger: charger.id,
            connector: connector.id,
            driver: driver.id,
            card: card.id,
            session: session.id,
            reservation: try #require(try await store.list(Reservation.self, chargerFilter).items.first).id,
            profile: try #require(try await store.list(ChargingProfileRecord.self, chargerFilter).items.first).id
        )
    }

    /// A connected charger that answers every CALL with a CALLERROR and records the actions.
    final class Responder: Sendable {
        final class Actions: Sendable {
            let list = Mutex<[String]>([])
            func withLock<R>(_ body: (inout [String]) -> R) -> R { list.withLock { body(&$0) } }
            func append(_ action: String) { list.withLock { $0.append(action) } }
        }

        let actions: Actions
        let task: Task<Void, Never>

        init(_ charger: TestChargePoint) {
            let actions = Actions()
            self.actions = actions
            task = Task {
                while let text = try? await charger.nextText(timeout: .seconds(3600)) {
                    guard let frame = try? parse(text), frame.first as? Int == 2, let id = frame[1] as? String,
                        let action = frame[2] as? String
                    else { continue }
                    actions.append(action)
                    try? await charger.send(#"[4,"\#(id)","NotImplemented","not in this test",{}]"#)
                }
            }
        }
    }

    @Test(
        "Route x role x own/other company: own rows as for an unlimited caller, the other company's as absent",
        arguments: TestBackend.allCases
    )
    func matrix(backend: TestBackend) async throws {
        let server = try await IngestTestServer.start(backend: backend, authenticated: true)
        let store = server.relational
        let own = try await Self.world(store, "A")
        let other = try await Self.world(store, "B")
        let admin = try await store.createAPIToken(name: "fleet", role: "admin")
        var tokens: [APIRole: String] = [:]
        for role in APIRole.allCases {
            tokens[role] = try await store.createAPIToken(
                name: "A-\(role)",
                role: role.rawValue,
                companyID: own.company
            )
            .token
        }
        let ownCharger = try await server.connect(own.chargePointID)
        let otherCharger = try await server.connect(other.chargePointID)
        _ = try await ownCharger.call("1", "Heartbeat", "{}")
        _ = try await otherCharger.call("1", "Heartbeat", "{}")
        let ownResponder = Responder(ownCharger)
        let otherResponder = Responder(otherCharger)
        let call = Caller(port: server.port, admin: admin.token)
        // B's heartbeat is written a moment later (coalesced): B's rows are compared from then on.
        try await server.eventually(timeout: .seconds(30), "B's heartbeat is stored") {
            (try? await store.get(Charger.self, id: other.charger).lastHeartbeatAt) != nil
        }
        let before = try await call.snapshot(other)

        let document = try object(
            try JSONSerialization.jsonObject(with: Data(try await call(.get, "/openapi.json").body.utf8))
        )
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var checked = 0
        for (template, operations) in paths.sorted(by: { $0.key < $1.key }) {
            for method in operations.keys.sorted() {
                let method = Method(rawValue: method.uppercased())!
                let route = template.hasSuffix("/") ? String(template.dropLast()) : template
                if APIAccessPolicy.isPublic(
                    method: HTTPRequest.Method(method.rawValue)!,
                    path: route,
                    metricsPublic: false
                ) {
                    continue
                }
                // The test server keeps no metrics: the table alone says a company's caller may not read them.
                if route == "/metrics" {
                    for role in APIRole.allCases {
                        #expect(!APIAccessPolicy.allows(role, scoped: true, method: .get, path: route))
                        #expect(APIAccessPolicy.allows(role, method: .get, path: route) == (role != .integration))
                    }
                    continue
                }
                for role in APIRole.allCases {
                    let token = tokens[role]!
                    let label = "\(role) \(method) \(template)"
                    let answers = try await Self.check(template, method, call, token, own, other, admin.record.id)
                    guard
                        APIAccessPolicy.allows(
                            role,
                            scoped: true,
                            method: HTTPRequest.Method(method.rawValue)!,
                            path: route
                        )
                    else {
                        #expect(answers.own.status == 403, "\(label) own: \(answers.own.body)")
                        #expect(answers.other.status == 403, "\(label) other: \(answers.other.body)")
                        checked += 1
                        continue
                    }
                    #expect(answers.own.status == answers.expectedOwn, "\(label) own: \(answers.own.body)")
                    #expect(answers.other.status == answers.expectedOther, "\(label) other: \(answers.other.body)")
                    checked += 1
                }
            }
        }
        #expect(checked >= 4 * 60)

        // Lists and totals count only the company's rows.
        for collection in [
            "companies", "sites", "chargers", "connectors", "drivers", "rfid_cards", "charge_sessions",
            "reservations", "charging_profiles",
        ] {
            let owners = try await call.owners(collection)
            let expected = Set(owners.filter { $0.value == own.company }.map(\.key))
            for role in [APIRole.admin, .operator, .analyst] {
                let page = try object(
                    try JSONSerialization.jsonObject(
                        with: Data(try await call(.get, "/db/\(collection)/?limit=1000", token: tokens[role]).body.utf8)
                    )
                )
                let ids = Set(
                    (page["items"] as? [[String: Any]] ?? []).compactMap { ($0["id"] as? Int).map(Int64.init) }
                )
                #expect(ids == expected, "\(role) \(collection)")
                #expect(page["total"] as? Int == expected.count, "\(role) \(collection)")
            }
        }
        // A write cannot move a row of the company into another one, nor point it at another's row.
        let operatorToken = tokens[.operator]
        let moves = [
            ("/db/chargers/\(own.charger)", #"{"site_id":\#(other.site)}"#),
            ("/db/sites/\(own.site)", #"{"company_id":\#(other.company)}"#),
            ("/db/rfid_cards/\(own.card)", #"{"driver_id":\#(other.driver)}"#),
            ("/db/rfid_cards/\(own.card)", #"{"company_id":null}"#),
            ("/db/charge_sessions/\(own.session)", #"{"charger_id":\#(other.charger)}"#),
        ]
        for (uri, body) in moves {
            let before = try await call(.get, uri).body
            let answer = try await call(.patch, uri, token: operatorToken, body: body)
            #expect(answer.status == 409, "\(uri) \(body): \(answer.body)")
            #expect(try await call(.get, uri).body == before, "\(uri) changed")
        }
        // A card made without a company is the token's company's.
        let card = try await call(.post, "/db/rfid_cards/", token: operatorToken, body: #"{"id_tag":"A-NEW"}"#)
        #expect(card.status == 201, "\(card.body)")
        #expect(card.body.contains(#""company_id":\#(own.company)"#), "\(card.body)")

        let connected = try await call(.get, "/charge_points", token: tokens[.analyst])
        #expect(connected.body.contains(own.chargePointID))
        #expect(!connected.body.contains(other.chargePointID), "\(connected.body)")

        // Nothing of company B changed, and its charger was sent nothing.
        let after = try await call.snapshot(other)
        for (old, new) in zip(before, after) { #expect(old == new) }
        #expect(otherResponder.actions.withLock { $0 }.isEmpty)
        #expect(!ownResponder.actions.withLock { $0 }.isEmpty)
        ownResponder.task.cancel()
        otherResponder.task.cancel()
        await ownCharger.close()
        await otherCharger.close()
        await server.stop()
    }

    enum Method: String {
        case get = "GET", post = "POST", put = "PUT", patch = "PATCH", delete = "DELETE"
    }

    /// The answers to one operation on the own and the other company's rows, and the statuses expected.
    struct Answers {
        var own: HTTP.HTTPResponse
        var other: HTTP.HTTPResponse
        var expectedOwn: Int
        var expectedOther: Int
    }

    /// Calls the API as the unlimited admin or with a token.
    struct Caller: Sendable {
        let port: Int
        let admin: String

        func callAsFunction(
            _ method: Method,
            _ uri: String,
            token: String? = nil,
            body: String? = nil
        ) async throws -> HTTP.HTTPResponse {
            try await HTTP.http(port, method.rawValue, uri, body: body, token: token ?? admin)
        }

        func json(_ uri: String) async throws -> [String: Any] {
            try object(try JSONSerialization.jsonObject(with: Data(try await self(.get, uri).body.utf8)))
        }

        /// Every row of `collection` and the company it belongs to (0: none), followed
        /// through the references as the data model defines them.
        func owners(_ collection: String) async throws -> [Int64: Int64] {
            func rows(_ collection: String) async throws -> [[String: Any]] {
                try await json("/db/\(collection)/?limit=1000")["items"] as? [[String: Any]] ?? []
            }
            func map(_ rows: [[String: Any]], _ key: String, _ through: [Int64: Int64]?) -> [Int64: Int64] {
                var owners: [Int64: Int64] = [:]
                for row in rows {
                    guard let id = (row["id"] as? Int).map(Int64.init) else { continue }
                    let reference = (row[key] as? Int).map(Int64.init)
                    owners[id] = reference.map { through?[$0] ?? $0 } ?? 0
                }
                return owners
            }
            switch collection {
            case "companies": return map(try await rows("companies"), "id", nil)
            case "sites", "drivers", "rfid_cards": return map(try await rows(collection), "company_id", nil)
            case "chargers":
                return map(try await rows("chargers"), "site_id", map(try await rows("sites"), "company_id", nil))
            default:
                let chargers = map(
                    try await rows("chargers"),
                    "site_id",
                    map(try await rows("sites"), "company_id", nil)
                )
                return map(try await rows(collection), "charger_id", chargers)
            }
        }

        /// Company B's rows as the unlimited admin reads them.
        func snapshot(_ world: World) async throws -> [String] {
            var bodies: [String] = []
            for uri in [
                "/db/companies/\(world.company)", "/db/sites/\(world.site)", "/db/chargers/\(world.charger)",
                "/db/connectors/\(world.connector)", "/db/drivers/\(world.driver)", "/db/rfid_cards/\(world.card)",
                "/db/charge_sessions/\(world.session)", "/db/reservations/\(world.reservation)",
                "/db/charging_profiles/\(world.profile)",
            ] {
                bodies.append(try await self(.get, uri).body)
            }
            return bodies
        }
    }
}
