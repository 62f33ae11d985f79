import API
import Foundation
import Hummingbird
import HummingbirdTesting
import Relational
import TestSupport
import Testing
import TimeSeries

/// The OpenAPI document's bounds and enums are what the server accepts: ids and parameters
/// out of their declared range are 422, in range they are served, and every enum value the
/// document lists is taken.
@Suite("Contract: bounds and enums")
struct ContractTests {
    typealias Call = DatabaseEndpointTests.Client

    /// Runs `body` with a client of an API (database and history) on a fresh database of `backend`.
    static func withAPI(_ backend: TestBackend, _ body: @escaping @Sendable (Call) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ocpp-contract-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let timeSeries = try TimeSeriesStore(directory: directory.path)
        defer { timeSeries.close() }
        try await backend.withStore { store in
            let application = APIApplication.make(
                host: "127.0.0.1",
                port: 0,
                timeSeries: timeSeries,
                relational: store,
                authentication: .disabled,
                logger: TestBackend.logger
            )
            try await application.testLive { client in
                try await body(Call(client: client))
            }
        }
    }

    /// The served document.
    static func document(_ call: Call) async throws -> [String: Any] {
        let answer = try await call(.get, "/openapi.json")
        return try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])
    }

    static func parameter(_ document: [String: Any], _ path: String, _ method: String, _ name: String) -> [String: Any]?
    {
        let paths = document["paths"] as? [String: Any]
        let operation = (paths?[path] as? [String: Any])?[method] as? [String: Any]
        let parameters = operation?["parameters"] as? [[String: Any]] ?? []
        return parameters.first { $0["name"] as? String == name }?["schema"] as? [String: Any]
    }

    static func schema(_ document: [String: Any], _ name: String) -> [String: Any]? {
        ((document["components"] as? [String: Any])?["schemas"] as? [String: Any])?[name] as? [String: Any]
    }

    static func property(_ schema: [String: Any]?, _ name: String) -> [String: Any]? {
        (schema?["properties"] as? [String: Any])?[name] as? [String: Any]
    }

    @Test("Ids and integer parameters are declared with the bounds the server applies", arguments: TestBackend.allCases)
    func declaredBounds(backend: TestBackend) async throws {
        try await Self.withAPI(backend) { call in
            let document = try await Self.document(call)
            let companyID = Self.parameter(document, "/db/companies/{company_id}", "get", "company_id")
            #expect(companyID?["minimum"] as? Int == 1)
            #expect(companyID?["maximum"] as? Int == Int(Int64.max))
            let sessionID = Self.parameter(
                document,
                "/db/charge_sessions/{charge_session_id}",
                "get",
                "charge_session_id"
            )
            #expect(sessionID?["maximum"] as? Int == Int(Int32.max))
            let offset = Self.parameter(document, "/db/companies/", "get", "offset")
            #expect(offset?["minimum"] as? Int == 0)
            #expect(offset?["maximum"] as? Int == Int(Int64.max))
            let connectorFilter = Self.parameter(document, "/db/connectors/", "get", "connector_id")
            #expect(connectorFilter?["minimum"] as? Int == 0)
            #expect(connectorFilter?["maximum"] as? Int == Int(Int32.max))
            let history = Self.parameter(document, "/db/chargers/{charger_id}/status-history", "get", "connector_id")
            #expect(history?["maximum"] as? Int == Int(Int32.max))
            // Stored values: never above what the document declares.
            let connector = Self.property(Self.schema(document, "Connector"), "connector_id")
            #expect(connector?["maximum"] as? Int == Int(Int32.max))
            let event = Self.property(Self.schema(document, "StatusEvent"), "connector_id")
            #expect(event?["maximum"] as? Int == Int(Int32.max))
            // OCPP integers: 32 bits, connector ids 0 or more; relayed strings without NUL.
            let relayed = Self.schema(document, "RelayedStatusNotificationRequest")
            #expect(Self.property(relayed, "connector_id")?["minimum"] as? Int == 0)
            #expect(Self.property(relayed, "connector_id")?["maximum"] as? Int == Int(Int32.max))
            #expect(Self.property(relayed, "info")?["pattern"] as? String == "^[^\\u0000]*$")
            let reserve = Self.schema(document, "ReserveNowRequest")
            #expect(Self.property(reserve, "reservation_id")?["minimum"] as? Int == Int(Int32.min))
            // The WebSocket endpoint is described, not an operation (a valid request is upgraded).
            #expect((document["paths"] as? [String: Any])?["/ocpp/{charge_point_id}"] == nil)
        }
    }

    @Test(
        "Out-of-range ids and parameters are 422 naming them; in range they are served",
        arguments: TestBackend.allCases
    )
    func outOfRange(backend: TestBackend) async throws {
        try await Self.withAPI(backend) { call in
            let charger = try await call(.post, "/db/chargers/", #"{"charge_point_id":"CP-1"}"#).id
            let refused: [(String, [String], String)] = [
                ("/db/companies/0", ["path", "company_id"], "greater_than_equal"),
                ("/db/companies/-3", ["path", "company_id"], "greater_than_equal"),
                ("/db/companies/9223372036854775808", ["path", "company_id"], "int_parsing"),
                ("/db/companies/0x10", ["path", "company_id"], "int_parsing"),
                ("/db/charge_sessions/2147483648", ["path", "charge_session_id"], "less_than_equal"),
                ("/db/charge_sessions/2147483648/summary", ["path", "charge_session_id"], "less_than_equal"),
                ("/db/sites/?company_id=0", ["query", "company_id"], "greater_than_equal"),
                ("/db/charge_sessions/?driver_id=-58800", ["query", "driver_id"], "greater_than_equal"),
                ("/db/connectors/?connector_id=-1", ["query", "connector_id"], "greater_than_equal"),
                ("/db/connectors/?connector_id=2147483648", ["query", "connector_id"], "less_than_equal"),
                ("/db/reservations/?reservation_id=2147483648", ["query", "reservation_id"], "less_than_equal"),
                ("/db/companies/?offset=9223372036854775808", ["query", "offset"], "int_parsing"),
                ("/db/companies/?limit=+5", ["query", "limit"], "int_parsing"),
                (
                    "/db/chargers/\(charger)/status-history?connector_id=2147483648", ["query", "connector_id"],
                    "int_parsing"
                ),
                ("/db/chargers/\(charger)/status-history?cursor=", ["query", "cursor"], "value_error"),
                ("/db/chargers/\(charger)/status-history?cursor=%2B1.2", ["query", "cursor"], "value_error"),
                ("/db/chargers/\(charger)/events?cursor=1.4294967296", ["query", "cursor"], "value_error"),
                ("/db/chargers/\(charger)/meter-values?cursor=1.02", ["query", "cursor"], "value_error"),
                ("/db/chargers/\(charger)/meter-values?bucket=01m", ["query", "bucket"], "value_error"),
            ]
            for (uri, location, type) in refused {
                let answer = try await call(.get, uri)
                #expect(answer.status == 422, "\(uri): \(answer.body)")
                #expect(answer.invalid?.loc == location, "\(uri): \(answer.body)")
                #expect(answer.invalid?.type == type, "\(uri): \(answer.body)")
            }
            let served: [(String, Int)] = [
                ("/db/companies/9223372036854775807", 404),
                ("/db/companies/1.0", 404),
                ("/db/charge_sessions/2147483647", 404),
                ("/db/charge_sessions/?driver_id=null", 200),
                ("/db/connectors/?connector_id=2147483647", 200),
                ("/db/connectors/?connector_id=498478449.0", 200),
                ("/db/companies/?offset=9223372036854775807", 200),
                ("/db/chargers/\(charger)", 200),
                ("/db/chargers/\(charger).0", 200),
                ("/db/chargers/\(charger)/status-history?connector_id=2147483647&cursor=-5.4294967295", 200),
                ("/db/chargers/\(charger)/events?cursor=0.0&from=2020-01-02T00:00:00Z&to=2020-01-01T00:00:00Z", 200),
                ("/db/chargers/\(charger)/meter-values?cursor=1777000000000.12&bucket=15m", 200),
            ]
            for (uri, status) in served {
                let answer = try await call(.get, uri)
                #expect(answer.status == status, "\(uri): \(answer.body)")
            }
            // A reference to a row that does not exist is a conflict, not an invalid request.
            let dangling = try await call(.post, "/db/drivers/", #"{"company_id":19777240,"name":"D"}"#)
            #expect(dangling.status == 409, "\(dangling.body)")
            let tooLarge = try await call(.post, "/db/drivers/", #"{"company_id":9223372036854775808,"name":"D"}"#)
            #expect(tooLarge.status == 422, "\(tooLarge.body)")
        }
    }

    @Test("Every enum value the document lists for sort and cascade is accepted", arguments: TestBackend.allCases)
    func enums(backend: TestBackend) async throws {
        try await Self.withAPI(backend) { call in
            let document = try await Self.document(call)
            let paths = try #require(document["paths"] as? [String: Any])
            var checked = 0
            for path in paths.keys.sorted() where path.hasPrefix("/db/") && path.hasSuffix("/") && !path.contains("{") {
                guard let sort = Self.parameter(document, path, "get", "sort"), let values = sort["enum"] as? [String]
                else { continue }
                for value in values {
                    let answer = try await call(.get, "\(path)?sort=\(value)")
                    #expect(answer.status == 200, "\(path)?sort=\(value): \(answer.body)")
                    checked += 1
                }
                let outside = try await call(.get, "\(path)?sort=colour")
                #expect(outside.status == 422, "\(path)")
            }
            #expect(checked > 100)
            let cascade = Self.parameter(document, "/db/companies/{company_id}", "delete", "cascade")
            for value in cascade?["enum"] as? [String] ?? [] {
                let company = try await call(.post, "/db/companies/", #"{"name":"C-\#(value)"}"#).id
                let answer = try await call(.delete, "/db/companies/\(company)?cascade=\(value)")
                #expect(answer.status == 204, "cascade=\(value): \(answer.body)")
            }
            #expect((cascade?["enum"] as? [String])?.count == 2)
        }
    }
}
