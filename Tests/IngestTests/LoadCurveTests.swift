import Foundation
import Protocol
import TestSupport
import Testing

@testable import Ingest

/// Site and company load curves: what chargers sent over the WebSocket, folded per series and
/// summed per bucket, checked against sums computed here from the raw history.
@Suite("Load curves")
struct LoadCurveTests {
    typealias HTTP = CommandEndpointTests

    static func meterValues(_ uniqueID: String, connector: Int, _ samples: [(String, String)]) -> String {
        let values = samples.map { time, sampled in #"{"timestamp":"\#(time)","sampledValue":[\#(sampled)]}"# }
        return
            #"[2,"\#(uniqueID)","MeterValues",{"connectorId":\#(connector),"meterValue":[\#(values.joined(separator: ","))]}]"#
    }

    static func power(_ value: String, unit: String = "W", extra: String = "") -> String {
        #"{"value":"\#(value)","measurand":"Power.Active.Import","unit":"\#(unit)"\#(extra)}"#
    }

    @Test(
        "A site's and a company's curve are the folded series summed; errors are clear",
        arguments: TestBackend.allCases
    )
    func curves(backend: TestBackend) async throws {
        let server = try await IngestTestServer.start(backend: backend)
        func json(_ method: String, _ path: String, _ body: String? = nil) async throws -> [String: Any] {
            try await server.json(method, path, body)
        }
        let company = try #require(try await json("POST", "/db/companies", #"{"name":"Curves"}"#)["id"] as? Int)
        let other = try #require(try await json("POST", "/db/companies", #"{"name":"Others"}"#)["id"] as? Int)
        let site = try #require(
            try await json("POST", "/db/sites", #"{"company_id":\#(company),"name":"Depot"}"#)["id"] as? Int
        )
        let otherSite = try #require(
            try await json("POST", "/db/sites", #"{"company_id":\#(other),"name":"Elsewhere"}"#)["id"] as? Int
        )
        var chargerIDs: [String: Int] = [:]
        for (name, siteID) in [("CP-LA", site), ("CP-LB", site), ("CP-LC", otherSite)] {
            let charger = try await server.connect(name)
            _ = try await charger.call("b", "BootNotification", #"{"chargePointVendor":"V","chargePointModel":"M"}"#)
            let list = try await json("GET", "/db/chargers/?charge_point_id=\(name)")
            let id = try #require((list["items"] as? [[String: Any]])?.first?["id"] as? Int)
            chargerIDs[name] = id
            _ = try await json("PATCH", "/db/chargers/\(id)", #"{"site_id":\#(siteID)}"#)
            let frames: [String]
            switch name {
            case "CP-LA":
                frames = [
                    Self.meterValues(
                        "1",
                        connector: 1,
                        [
                            ("2026-02-01T10:00:00Z", Self.power("1000")),
                            ("2026-02-01T10:05:00Z", Self.power("2000")),
                            ("2026-02-01T10:20:00Z", Self.power("3000")),
                            // Not summed: a phase, the grid side, another measurand.
                            ("2026-02-01T10:00:00Z", Self.power("333", extra: #","phase":"L1""#)),
                            ("2026-02-01T10:01:00Z", Self.power("777", extra: #","location":"Inlet""#)),
                            ("2026-02-01T10:02:00Z", #"{"value":"230","measurand":"Voltage","unit":"V"}"#),
                        ]
                    ),
                    Self.meterValues(
                        "2",
                        connector: 2,
                        [("2026-02-01T10:01:00Z", Self.power("500")), ("2026-02-01T10:16:00Z", Self.power("700"))]
                    ),
                    // The main meter counts the connectors again: summed only when asked for.
                    Self.meterValues("3", connector: 0, [("2026-02-01T10:00:00Z", Self.power("99999"))]),
                    // Two days later: a wide range for the bucket limit.
                    Self.meterValues("4", connector: 1, [("2026-02-03T10:00:00Z", Self.power("1"))]),
                ]
            case "CP-LB":
                frames = [
                    Self.meterValues(
                        "1",
                        connector: 1,
                        [
                            ("2026-02-01T10:02:00Z", Self.power("7.5", unit: "kW")),
                            ("2026-02-01T10:17:00Z", Self.power("11", unit: "kW")),
                        ]
                    )
                ]
            default:
                frames = [Self.meterValues("1", connector: 1, [("2026-02-01T10:00:00Z", Self.power("5000"))])]
            }
            for frame in frames {
                try await charger.send(frame)
                #expect(try await charger.nextText().hasPrefix("[3,"))
            }
            await charger.close()
        }

        let range = "from=2026-02-01T10:00:00Z&to=2026-02-01T10:30:00Z"
        func items(_ path: String) async throws -> [[String: Any]] {
            try await json("GET", path)["items"] as? [[String: Any]] ?? []
        }
        func values(_ path: String) async throws -> [Double] {
            try await items(path).compactMap { $0["value"] as? Double }
        }

        // By hand: bucket 10:00 is A1 avg(1000, 2000) + A2 500 + B1 7.5 kW; 10:15 is 3000 + 700 + 11 kW.
        let curve = try await json("GET", "/db/sites/\(site)/meter-values?\(range)")
        #expect(curve["measurand"] as? String == "Power.Active.Import")
        #expect(
            curve["unit"] as? String == "W" && curve["bucket"] as? String == "15m" && curve["agg"] as? String == "avg"
        )
        #expect(curve["chargers"] as? Int == 2)
        let points = curve["items"] as? [[String: Any]] ?? []
        #expect(
            points.map { $0["bucket_start"] as? String } == ["2026-02-01T10:00:00.000Z", "2026-02-01T10:15:00.000Z"]
        )
        #expect(points.map { $0["value"] as? Double } == [9500, 14700])
        #expect(points.map { $0["chargers"] as? Int } == [2, 2])
        #expect(points.map { $0["series"] as? Int } == [3, 3])

        // From the raw history of each charger, for every aggregate.
        func expected(_ aggregate: String) async throws -> [Double] {
            var series: [String: [Int64: [Double]]] = [:]
            for name in ["CP-LA", "CP-LB"] {
                let rows = try await items(
                    "/db/chargers/\(chargerIDs[name]!)/meter-values?measurand=Power.Active.Import&\(range)"
                )
                for row in rows {
                    let connector = row["connector_id"] as? Int ?? 0
                    let location = row["location"] as? String
                    guard row["phase"] is NSNull, connector >= 1, location == nil || location == "Outlet" else {
                        continue
                    }
                    let unit = row["unit"] as? String ?? ""
                    let factor = unit.hasPrefix("k") && aggregate != "count" ? 1000.0 : 1
                    let time = OCPPTimestamp(iso8601: row["timestamp"] as! String)!.millisecondsSince1970
                    series["\(name)|\(connector)|\(unit)", default: [:]][time / 900_000 * 900_000, default: []]
                        .append((row["value"] as! Double) * factor)
                }
            }
            var sums: [Int64: Double] = [:]
            for buckets in series.values {
                for (start, values) in buckets {
                    let folded: Double
                    switch aggregate {
                    case "max": folded = values.max()!
                    case "min": folded = values.min()!
                    case "sum": folded = values.reduce(0, +)
                    case "count": folded = Double(values.count)
                    case "first": folded = values.first!
                    case "last": folded = values.last!
                    default: folded = values.reduce(0, +) / Double(values.count)
                    }
                    sums[start, default: 0] += folded
                }
            }
            return sums.keys.sorted().map { sums[$0]! }
        }
        for aggregate in ["avg", "min", "max", "first", "last", "sum", "count"] {
            let path = "/db/sites/\(site)/meter-values?\(range)&agg=\(aggregate)&measurand=Power.Active.Import"
            #expect(try await values(path) == (try await expected(aggregate)), "\(aggregate)")
        }
        #expect(try await values("/db/sites/\(site)/meter-values?\(range)&agg=max") == [10000, 14700])

        // The company's curve is its one site's; the other company sees only its charger.
        #expect(try await values("/db/companies/\(company)/meter-values?\(range)") == [9500, 14700])
        let others = try await items("/db/companies/\(other)/meter-values?\(range)")
        #expect(others.map { $0["value"] as? Double } == [5000] && others.first?["chargers"] as? Int == 1)
        // Asked for: the main meters, one phase; a five-minute bucket; CSV.
        #expect(try await values("/db/sites/\(site)/meter-values?\(range)&connector_id=0") == [99999])
        #expect(try await values("/db/sites/\(site)/meter-values?\(range)&phase=L1") == [333])
        #expect(try await values("/db/sites/\(site)/meter-values?\(range)&bucket=5m") == [9000, 2000, 11700, 3000])
        let csv = try await HTTP.http(server.port, "GET", "/db/sites/\(site)/meter-values?\(range)&format=csv")
        #expect(
            csv.body
                == "bucket_start,value,chargers,series\n2026-02-01T10:00:00.000Z,9500,2,3\n2026-02-01T10:15:00.000Z,14700,2,3\n"
        )

        // Bounds and errors: 172,801 one-second buckets from 10:00 on the first to the third.
        let tooMany = try await HTTP.http(server.port, "GET", "/db/sites/\(site)/meter-values?bucket=1s")
        #expect(tooMany.status == 422 && tooMany.body.contains(#"["query","bucket"]"#), "\(tooMany.body)")
        #expect(try await HTTP.http(server.port, "GET", "/db/sites/\(site)/meter-values?bucket=2s").status == 200)
        for (query, parameter) in [
            ("measurand=Voltage&measurand=SoC", "measurand"), ("measurand=", "measurand"), ("bucket=5x", "bucket"),
            ("agg=median", "agg"), ("limit=5", "limit"), ("from=yesterday", "from"),
            ("connector_id=-1", "connector_id"),
        ] {
            let answer = try await HTTP.http(server.port, "GET", "/db/sites/\(site)/meter-values?\(query)")
            #expect(
                answer.status == 422 && answer.body.contains(#"["query","\#(parameter)"]"#),
                "\(query): \(answer.body)"
            )
        }
        #expect(try await HTTP.http(server.port, "GET", "/db/sites/999999/meter-values").status == 404)
        #expect(try await HTTP.http(server.port, "GET", "/db/companies/999999/meter-values").status == 404)
        await server.stop()
    }
}
