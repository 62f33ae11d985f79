import Foundation
import Hummingbird
import HummingbirdTesting
import Ingest
import Logging
import Prometheus
import Relational
import Testing
import TimeSeries

@testable import API

/// The OpenAPI document is the API: same paths, same methods, every reference defined.
@Suite("OpenAPI document")
struct OpenAPITests {
    static func document() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json)) as? [String: Any])
    }

    /// `/db/companies/:company_id/sites` and `/db/companies/{company_id}/sites/` as one key.
    static func normalized(_ path: String) -> String {
        let segments = path.split(separator: "/").map { segment -> String in
            if segment.hasPrefix(":") { return "{\(segment.dropFirst())}" }
            if segment == "**" { return "{charge_point_id}" }
            return String(segment)
        }
        return "/" + segments.joined(separator: "/")
    }

    @Test("Its paths and methods are exactly the router's")
    func matchesRouter() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ocpp-openapi-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let timeSeries = try TimeSeriesStore(directory: directory.path)
        let relational = try await RelationalStore(url: .sqlite(.memory), logger: Logger(label: "test"))
        let ingest = OCPPIngest(timeSeries: timeSeries, relational: relational, logger: Logger(label: "test"))
        let router = APIApplication.buildRouter(
            ingest: ingest,
            timeSeries: timeSeries,
            relational: relational,
            metrics: PrometheusCollectorRegistry(),
            authentication: .disabled
        )
        try router.validate()
        let routed = Set(router.routes.map { "\($0.method.rawValue) \(Self.normalized($0.path.description))" })
        let paths = try #require(try Self.document()["paths"] as? [String: [String: Any]])
        let documented = Set(
            paths.flatMap { path, operations in
                operations.keys.map { "\($0.uppercased()) \(Self.normalized(path))" }
            }
        )
        // The WebSocket endpoint is in the description: OpenAPI cannot describe an upgrade.
        #expect(routed.contains("GET /ocpp/{charge_point_id}"))
        #expect(routed.subtracting(documented).sorted() == ["GET /ocpp/{charge_point_id}"], "routes the document lacks")
        #expect(documented.subtracting(routed).sorted() == [], "documented operations no route serves")
        #expect(documented.count > 80)
        // Every path parameter of a documented path is declared, and only those.
        for (path, operations) in paths {
            let inPath = Set(
                path.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) }
            )
            for (method, operation) in operations {
                let declared = ((operation as? [String: Any])?["parameters"] as? [[String: Any]] ?? [])
                    .filter { $0["in"] as? String == "path" }.compactMap { $0["name"] as? String }
                #expect(Set(declared) == inPath, "\(method) \(path)")
            }
        }
        await relational.shutdown()
        timeSeries.close()
    }

    @Test("Every $ref names a schema the document defines")
    func references() throws {
        let document = try Self.document()
        let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: Any])
        var missing: [String] = []
        func visit(_ node: Any) {
            if let object = node as? [String: Any] {
                if let reference = object["$ref"] as? String {
                    let name = String(reference.dropFirst("#/components/schemas/".count))
                    if schemas[name] == nil { missing.append(reference) }
                }
                object.values.forEach(visit)
            } else if let array = node as? [Any] {
                array.forEach(visit)
            }
        }
        visit(document)
        #expect(missing == [])
        #expect(document["openapi"] as? String == "3.1.0")
        // The OCPP command bodies come from the official schemas, in snake_case.
        let remoteStart = try #require(schemas["RemoteStartTransactionRequest"] as? [String: Any])
        let properties = try #require(remoteStart["properties"] as? [String: Any])
        #expect(Set(properties.keys) == ["connector_id", "id_tag", "charging_profile"])
    }

    @Test("The charge point id pattern accepts exactly what the server accepts")
    func chargePointIDPattern() throws {
        let expression = try NSRegularExpression(pattern: ChargePointID.pattern)
        for byte in UInt8(0x20)...UInt8(0x7E) {
            let text = "CP" + String(UnicodeScalar(byte))
            let matches = expression.firstMatch(in: text, range: NSRange(location: 0, length: text.utf16.count)) != nil
            let accepted = (try? ChargePointID(text)) != nil
            #expect(matches == accepted, "\(text)")
        }
    }

    @Test("/openapi.json and /docs are served")
    func served() async throws {
        let application = APIApplication.make(
            host: "127.0.0.1",
            port: 0,
            authentication: .disabled,
            logger: Logger(label: "test")
        )
        try await application.testLive { client in
            try await client.execute(uri: "/openapi.json", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                #expect(Array(buffer: response.body) == OpenAPIDocument.json)
            }
            try await client.execute(uri: "/docs", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/html") == true)
                #expect(String(buffer: response.body).contains("/openapi.json"))
            }
        }
    }
}
