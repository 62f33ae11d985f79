import Foundation
import Protocol
import Relational
import TestSupport
import Testing
import TimeSeries

@testable import API
@testable import Ingest

/// History from any node of a cluster: a charger that moved from node A to node B reads back
/// as one history, with the same pages, cursors and buckets from either node; nodes that
/// cannot answer are named; the internal route needs the cluster secret.
@Suite("Cluster history", .serialized)
struct ClusterHistoryTests {
    /// An HTTP answer with its headers (names in lower case) and its body (unchunked).
    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: String

        var json: [String: Any] {
            get throws { try object(JSONSerialization.jsonObject(with: Data(body.utf8))) }
        }
    }

    static func get(_ port: Int, _ path: String, headers: [String: String] = [:]) async throws -> Answer {
        var text = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { text += "\(name): \(value)\r\n" }
        let raw = try await rawHTTP(port: port, text + "\r\n")
        guard let split = raw.range(of: "\r\n\r\n"), let statusLine = raw.split(separator: "\r\n").first,
            let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "")
        else { throw TestFailure("not an HTTP response: \(raw)") }
        var fields: [String: String] = [:]
        for line in raw[..<split.lowerBound].split(separator: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = String(raw[split.upperBound...])
        if fields["transfer-encoding"] == "chunked" {
            var bytes = Array(body.utf8)[...]
            var decoded: [UInt8] = []
            while let lineEnd = bytes.firstIndex(of: UInt8(ascii: "\r")),
                let size = Int(String(decoding: bytes[bytes.startIndex..<lineEnd], as: UTF8.self), radix: 16), size > 0
            {
                decoded += bytes[(lineEnd + 2)..<(lineEnd + 2 + size)]
                bytes = bytes[(lineEnd + 2 + size + 2)...]
            }
            body = String(decoding: decoded, as: UTF8.self)
        }
        return Answer(status: status, headers: fields, body: body)
    }

    /// Charger timestamps: ten seconds apart from a minute 30 minutes ago, within the window
    /// the store and the history routing regard as plausible.
    static let base: Int64 = {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        return (now - 30 * 60_000) / 60_000 * 60_000
    }()

    static func time(_ index: Int) -> String {
        OCPPTimestamp(millisecondsSince1970: base + Int64(index) * 10_000).iso8601
    }

    /// A sample as the test sends it and expects it back.
    struct Sample: Hashable {
        var index: Int
        var measurand: String
        var value: Int
    }

    /// Three series per timestamp: the register, power and L1 voltage.
    static func samples(_ indexes: ClosedRange<Int>) -> [Sample] {
        indexes.flatMap { index in
            [
                Sample(index: index, measurand: "Energy.Active.Import.Register", value: 1000 + index),
                Sample(index: index, measurand: "Power.Active.Import", value: 100 * index),
                Sample(index: index, measurand: "Voltage", value: 230 + index),
            ]
        }
    }

    static func meterValues(_ samples: [Sample]) -> String {
        let byTime = Dictionary(grouping: samples, by: \.index).sorted { $0.key < $1.key }
        let values = byTime.map { index, samples in
            let sampled = samples.map { sample in
                let unit = sample.measurand == "Voltage" ? #","unit":"V","phase":"L1""# : ""
                return #"{"value":"\#(sample.value)","measurand":"\#(sample.measurand)"\#(unit)}"#
            }
            return #"{"timestamp":"\#(time(index))","sampledValue":[\#(sampled.joined(separator: ","))]}"#
        }
        return #"{"connectorId":1,"meterValue":[\#(values.joined(separator: ","))]}"#
    }

    static func status(_ status: String, at index: Int) -> String {
        #"{"connectorId":1,"errorCode":"NoError","status":"\#(status)","timestamp":"\#(time(index))"}"#
    }

    /// What node A ingests (indexes 0...9, statuses at 0 and 5), then node B (the register
    /// at 9 again, as a message retried after the move would, a current sample at 9, then
    /// 10...19, statuses at 12 and 15).
    static let onA = samples(0...9)
    static let onB =
        [
            Sample(index: 9, measurand: "Energy.Active.Import.Register", value: 1009),
            Sample(index: 9, measurand: "Current.Import", value: 16),
        ] + samples(10...19)
    static let expected = Set(onA + onB)
    static let statuses = [(0, "Available"), (5, "Charging"), (12, "Finishing"), (15, "Available")]

    /// Ingests the moving charger `CP-MOVE`: on A, then on B, and waits until both intervals
    /// are recorded. Returns its database id and its connection to B (still open).
    static func ingestMovingCharger(
        _ a: IngestTestServer,
        _ b: IngestTestServer
    ) async throws -> (id: Int64, connection: TestChargePoint) {
        let first = try await a.connect("CP-MOVE")
        _ = try await first.call("b1", "BootNotification", #"{"chargePointVendor":"V","chargePointModel":"M"}"#)
        _ = try await first.call("m1", "MeterValues", meterValues(onA))
        _ = try await first.call("s1", "StatusNotification", status("Available", at: 0))
        _ = try await first.call("s2", "StatusNotification", status("Charging", at: 5))
        _ = try await first.call("d1", "DataTransfer", #"{"vendorId":"V","messageId":"on-a"}"#)
        await first.close()
        let second = try await b.connect("CP-MOVE")
        _ = try await second.call("m2", "MeterValues", meterValues(onB))
        _ = try await second.call("s3", "StatusNotification", status("Finishing", at: 12))
        _ = try await second.call("s4", "StatusNotification", status("Available", at: 15))
        _ = try await second.call("f1", "FirmwareStatusNotification", #"{"status":"Installed"}"#)
        _ = try await second.call("d2", "DataTransfer", #"{"vendorId":"V","messageId":"on-b"}"#)
        try await b.eventually("both intervals are recorded") {
            Set(try await b.relational.chargerResidency("CP-MOVE").map(\.nodeID)) == ["node-a", "node-b"]
        }
        // The connection stays on B: its interval is open.
        return (try #require(try await a.relational.charger(chargePointID: "CP-MOVE")?.id), second)
    }

    /// Every page of `path` (which has a `?`), following `next_cursor`: the bodies as they came.
    static func pages(_ port: Int, _ path: String) async throws -> [String] {
        var bodies: [String] = []
        var cursor: String?
        repeat {
            let answer = try await get(port, path + (cursor.map { "&cursor=\($0)" } ?? ""))
            #expect(answer.status == 200, "\(path): \(answer.body)")
            guard answer.status == 200 else { break }
            bodies.append(answer.body)
            cursor = try answer.json["next_cursor"] as? String
            if bodies.count > 200 { throw TestFailure("no end to the pages of \(path)") }
        } while cursor != nil
        return bodies
    }

    static func items(_ body: String) throws -> [[String: Any]] {
        let json = try object(JSONSerialization.jsonObject(with: Data(body.utf8)))
        return (json["items"] as? [Any] ?? []).compactMap { $0 as? [String: Any] }
    }

    static func sample(_ item: [String: Any]) throws -> Sample {
        let text = try #require(item["timestamp"] as? String)
        let timestamp = try #require(OCPPTimestamp(iso8601: text))
        let offset = timestamp.millisecondsSince1970 - base
        #expect(offset % 10_000 == 0)
        return Sample(
            index: Int(offset / 10_000),
            measurand: try #require(item["measurand"] as? String),
            value: try #require((item["value"] as? NSNumber)?.intValue)
        )
    }

    @Test("A charger that moved reads back as one history, page for page and cursor for cursor, on every node")
    func movedCharger() async throws {
        try await ClusterTests.withNodes { a, b in
            let (id, moved) = try await Self.ingestMovingCharger(a, b)
            // Each store holds only its own part.
            #expect(try a.rows("CP-MOVE", kinds: [.sample]).count == Self.onA.count)
            #expect(try b.rows("CP-MOVE", kinds: [.sample]).count == Self.onB.count)
            for limit in [1, 7, 1000] {
                let path = "/db/chargers/\(id)/meter-values?limit=\(limit)"
                let viaA = try await Self.pages(a.port, path)
                let viaB = try await Self.pages(b.port, path)
                #expect(viaA == viaB, "limit \(limit)")
                let items = try viaA.flatMap(Self.items)
                let samples = try items.map(Self.sample)
                // The duplicate sent to both nodes is there once; nothing is missing.
                #expect(samples.count == Self.expected.count, "limit \(limit)")
                #expect(Set(samples) == Self.expected, "limit \(limit)")
                let times = samples.map(\.index)
                #expect(times == times.sorted(), "limit \(limit)")
                for body in viaA {
                    #expect(try Self.items(body).count <= limit)
                    let page = try object(JSONSerialization.jsonObject(with: Data(body.utf8)))
                    #expect(page["incomplete_nodes"] as? [String] == [])
                }
            }
            // A range and a filter: the same on both nodes, and only what they select.
            let ranged =
                "/db/chargers/\(id)/meter-values?limit=4&measurand=Power.Active.Import"
                + "&from=\(Self.time(8))&to=\(Self.time(12))"
            let rangedA = try await Self.pages(a.port, ranged)
            #expect(rangedA == (try await Self.pages(b.port, ranged)))
            #expect(
                try rangedA.flatMap(Self.items).map(Self.sample)
                    == (8...11).map {
                        Sample(index: $0, measurand: "Power.Active.Import", value: 100 * $0)
                    }
            )
            // CSV: the same rows, whole or by page, without the incomplete header.
            let csvA = try await Self.get(a.port, "/db/chargers/\(id)/meter-values?format=csv")
            let csvB = try await Self.get(b.port, "/db/chargers/\(id)/meter-values?format=csv")
            #expect(csvA.status == 200)
            #expect(csvA.body == csvB.body)
            #expect(csvA.body.split(separator: "\n").count == Self.expected.count + 1)
            #expect(csvA.headers["ocpp-incomplete-nodes"] == nil)
            // Events, all and of one action.
            for limit in [1, 2, 1000] {
                let path = "/db/chargers/\(id)/events?limit=\(limit)"
                let viaA = try await Self.pages(a.port, path)
                #expect(viaA == (try await Self.pages(b.port, path)), "events \(limit)")
                let sent = try viaA.flatMap(Self.items).compactMap { item -> String? in
                    guard let action = item["action"] as? String,
                        ["DataTransfer", "FirmwareStatusNotification"].contains(action)
                    else { return nil }
                    return action
                }
                #expect(sent == ["DataTransfer", "FirmwareStatusNotification", "DataTransfer"], "events \(limit)")
            }
            let transfers = try await Self.pages(b.port, "/db/chargers/\(id)/events?action=DataTransfer&limit=1")
            #expect(
                transfers == (try await Self.pages(a.port, "/db/chargers/\(id)/events?action=DataTransfer&limit=1"))
            )
            let messages = try transfers.flatMap(Self.items).map {
                ($0["payload"] as? [String: Any])?["message_id"] as? String
            }
            #expect(messages == ["on-a", "on-b"])
            // Status history, both orders.
            for order in ["asc", "desc"] {
                for limit in [1, 3] {
                    let path = "/db/chargers/\(id)/status-history?limit=\(limit)&order=\(order)"
                    let viaA = try await Self.pages(a.port, path)
                    #expect(viaA == (try await Self.pages(b.port, path)), "\(order) \(limit)")
                    let statuses = try viaA.flatMap(Self.items).map { $0["status"] as? String ?? "" }
                    let expected = Self.statuses.map(\.1)
                    #expect(statuses == (order == "asc" ? expected : expected.reversed()), "\(order) \(limit)")
                }
            }
            await moved.close()
        }
    }

    @Test("Buckets combine across nodes: sums and counts added, extremes of extremes, first and last by time")
    func bucketsAcrossNodes() async throws {
        try await ClusterTests.withNodes { a, b in
            let (id, moved) = try await Self.ingestMovingCharger(a, b)
            // The model: every sample each node stored, bucketed by minute. The register value
            // both nodes stored counts twice: a bucket cannot tell a copy from another sample.
            var model: [String: [Int: [Sample]]] = [:]
            for sample in Self.onA + Self.onB {
                model[sample.measurand, default: [:]][sample.index / 6, default: []].append(sample)
            }
            for aggregate in ["avg", "sum", "count", "min", "max", "first", "last"] {
                let path = "/db/chargers/\(id)/meter-values?bucket=1m&agg=\(aggregate)"
                let viaA = try await Self.get(a.port, path)
                let viaB = try await Self.get(b.port, path)
                #expect(viaA.status == 200, "\(viaA.body)")
                #expect(viaA.body == viaB.body, "\(aggregate)")
                let json = try viaA.json
                #expect(json["incomplete_nodes"] as? [String] == [])
                let items = (json["items"] as? [Any] ?? []).compactMap { $0 as? [String: Any] }
                #expect(items.count == model.values.reduce(0) { $0 + $1.count }, "\(aggregate)")
                for item in items {
                    let measurand = try #require(item["measurand"] as? String)
                    let startText = try #require(item["bucket_start"] as? String)
                    let start = try #require(OCPPTimestamp(iso8601: startText))
                    let minute = Int((start.millisecondsSince1970 - Self.base) / 60_000)
                    let rows = try #require(model[measurand]?[minute]).sorted { $0.index < $1.index }
                    let values = rows.map { Double($0.value) }
                    let expected: Double
                    switch aggregate {
                    case "avg": expected = values.reduce(0, +) / Double(values.count)
                    case "sum": expected = values.reduce(0, +)
                    case "count": expected = Double(values.count)
                    case "min": expected = values.min()!
                    case "max": expected = values.max()!
                    case "first": expected = values.first!
                    default: expected = values.last!
                    }
                    // Within a few units in the last place: Foundation's JSON parser may round a
                    // long decimal differently from Double's own (the nodes' bodies are equal byte
                    // for byte above).
                    let value = try #require((item["value"] as? NSNumber)?.doubleValue)
                    #expect(
                        abs(value - expected) <= abs(expected) * 1e-14,
                        "\(aggregate) \(measurand) \(minute): \(value), expected \(expected)"
                    )
                    #expect(item["count"] as? Int == values.count)
                }
            }
            // The minute the charger moved in: power 600...900 on A, 1000 and 1100 on B. The mean
            // is 850; a mean of the nodes' means would be 900.
            let power = try await Self.get(
                a.port,
                "/db/chargers/\(id)/meter-values?bucket=1m&measurand=Power.Active.Import"
            )
            let movedMinute = try Self.items(power.body).first { ($0["bucket_start"] as? String) == Self.time(6) }
            #expect((movedMinute?["value"] as? NSNumber)?.doubleValue == 850)
            #expect(movedMinute?["count"] as? Int == 6)
            let csvA = try await Self.get(a.port, "/db/chargers/\(id)/meter-values?bucket=1m&format=csv")
            #expect(
                csvA.body == (try await Self.get(b.port, "/db/chargers/\(id)/meter-values?bucket=1m&format=csv")).body
            )
            await moved.close()
        }
    }

    @Test("Nodes that hold part of the range and cannot answer are named; the rest is answered")
    func unreachableNodes() async throws {
        try await ClusterTests.withNodes { a, b in
            let (id, moved) = try await Self.ingestMovingCharger(a, b)
            // A node that held the charger and is registered, but nothing listens at its URL.
            try await b.relational.registerClusterNode(
                nodeID: "node-gone",
                url: "http://127.0.0.1:\(try freePort())",
                leaseSeconds: 60,
                at: Date()
            )
            let interval = try await b.relational.recordChargerConnected(
                chargePointID: "CP-MOVE",
                nodeID: "node-gone",
                at: Date()
            )
            try await b.relational.endResidencies([interval], ofNode: "node-gone", at: Date())
            for node in [a, b] {
                let page = try await Self.get(node.port, "/db/chargers/\(id)/meter-values?limit=1000")
                #expect(page.status == 200)
                #expect(try page.json["incomplete_nodes"] as? [String] == ["node-gone"])
                #expect(try Self.items(page.body).count == Self.expected.count)
                let buckets = try await Self.get(node.port, "/db/chargers/\(id)/meter-values?bucket=1h")
                #expect(try buckets.json["incomplete_nodes"] as? [String] == ["node-gone"])
                let statuses = try await Self.get(node.port, "/db/chargers/\(id)/status-history")
                #expect(try statuses.json["incomplete_nodes"] as? [String] == ["node-gone"])
                #expect(try Self.items(statuses.body).count == Self.statuses.count)
                for path in ["format=csv", "format=csv&limit=5", "format=csv&bucket=1m"] {
                    let csv = try await Self.get(node.port, "/db/chargers/\(id)/meter-values?\(path)")
                    #expect(csv.status == 200)
                    #expect(csv.headers["ocpp-incomplete-nodes"] == "node-gone", "\(path)")
                }
                let whole = try await Self.get(node.port, "/db/chargers/\(id)/meter-values?format=csv")
                #expect(whole.body.split(separator: "\n").count == Self.expected.count + 1)
            }
            // A range no interval of the gone node comes near (widened by the 30-day window)
            // does not ask it.
            let old = OCPPTimestamp(millisecondsSince1970: Self.base - 60 * 86_400_000).iso8601
            let older = OCPPTimestamp(millisecondsSince1970: Self.base - 59 * 86_400_000).iso8601
            let early = try await Self.get(a.port, "/db/chargers/\(id)/meter-values?from=\(old)&to=\(older)")
            #expect(try early.json["incomplete_nodes"] as? [String] == [])
            // Node B stops: its part is missing from A's answers, which say so.
            await b.stop()
            let withoutB = try await Self.get(a.port, "/db/chargers/\(id)/meter-values?limit=1000")
            #expect(try withoutB.json["incomplete_nodes"] as? [String] == ["node-b", "node-gone"])
            #expect(Set(try Self.items(withoutB.body).map(Self.sample)) == Set(Self.onA))
            await moved.close()
        }
    }

    @Test("A node that does not answer within the deadline is named, and the answer comes after it")
    func silentNode() async throws {
        try await ClusterTests.withNodes { a, b in
            let (id, moved) = try await Self.ingestMovingCharger(a, b)
            let listener = try await ClusterTests.hungNode(b.relational, holding: "CP-MOVE")
            defer { listener.close() }
            let started = ContinuousClock.now
            let page = try await Self.get(a.port, "/db/chargers/\(id)/meter-values?limit=1000")
            let waited = ContinuousClock.now - started
            #expect(page.status == 200)
            #expect(try page.json["incomplete_nodes"] as? [String] == ["node-hung"])
            #expect(try Self.items(page.body).count == Self.expected.count)
            #expect(waited >= .seconds(9) && waited < .seconds(20), "\(waited)")
            await moved.close()
        }
    }

    @Test("A node whose lease lapsed is named in the other nodes' answers")
    func lapsedLease() async throws {
        try await ClusterTests.withNodes(lease: 2) { a, b in
            let (id, moved) = try await Self.ingestMovingCharger(a, b)
            a.ingest.cluster?.stopRenewingLease()
            try await b.eventually("A's lease lapses") {
                try await b.relational.clusterNodes().first { $0.nodeID == "node-a" }?.isAlive == false
            }
            let page = try await Self.get(b.port, "/db/chargers/\(id)/meter-values?limit=1000")
            #expect(try page.json["incomplete_nodes"] as? [String] == ["node-a"])
            #expect(Set(try Self.items(page.body).map(Self.sample)) == Set(Self.onB))
            await moved.close()
        }
    }

    @Test("The internal history route needs the cluster secret and answers from its own store only")
    func internalRoute() async throws {
        try await ClusterTests.withNodes(authenticated: true) { a, b in
            let (_, token) = try await a.relational.createAPIToken(name: "admin", role: "admin")
            let first = try await a.connect("CP-MOVE")
            _ = try await first.call("b1", "BootNotification", #"{"chargePointVendor":"V","chargePointModel":"M"}"#)
            _ = try await first.call("m1", "MeterValues", Self.meterValues(Self.onA))
            let path = "/cluster/v1/history?charge_point_id=CP-MOVE&kind=sample&limit=1000"
            for headers in [
                [:], ["X-Cluster-Secret": "wrong"], ["X-Cluster-Secret": String(ClusterTests.secret.dropLast())],
                ["Authorization": "Bearer \(token)"],
            ] {
                let answer = try await Self.get(a.port, path, headers: headers)
                #expect(answer.status == 401, "\(headers.keys)")
                #expect(answer.body.contains("X-Cluster-Secret"))
            }
            let own = try await Self.get(a.port, path, headers: ["X-Cluster-Secret": ClusterTests.secret])
            #expect(own.status == 200)
            #expect((try own.json["rows"] as? [Any])?.count == Self.onA.count)
            // B never held the charger: its store has nothing, and it does not ask A.
            let notHere = try await Self.get(b.port, path, headers: ["X-Cluster-Secret": ClusterTests.secret])
            #expect(notHere.status == 200)
            #expect((try notHere.json["rows"] as? [Any])?.count == 0)
            let invalid = try await Self.get(
                a.port,
                "/cluster/v1/history?kind=sample&limit=1000",
                headers: ["X-Cluster-Secret": ClusterTests.secret]
            )
            #expect(invalid.status == 400)
            // The public route still needs a token.
            #expect(try await Self.get(b.port, "/db/chargers/1/meter-values").status == 401)
            await first.close()
        }
    }

    @Test("A charger only one node ever held is answered by every node, complete")
    func heldByOneNode() async throws {
        try await ClusterTests.withNodes { a, b in
            let charger = try await a.connect("CP-ONE")
            _ = try await charger.call("b1", "BootNotification", #"{"chargePointVendor":"V","chargePointModel":"M"}"#)
            _ = try await charger.call("m1", "MeterValues", Self.meterValues(Self.onA))
            try await b.eventually("its interval is recorded") {
                try await !b.relational.chargerResidency("CP-ONE").isEmpty
            }
            let id = try #require(try await a.relational.charger(chargePointID: "CP-ONE")?.id)
            let viaA = try await Self.pages(a.port, "/db/chargers/\(id)/meter-values?limit=4")
            #expect(viaA == (try await Self.pages(b.port, "/db/chargers/\(id)/meter-values?limit=4")))
            #expect(Set(try viaA.flatMap(Self.items).map(Self.sample)) == Set(Self.onA))
            await charger.close()
        }
    }

    @Test("On a server alone, history answers have no incomplete_nodes and no incomplete header")
    func alone() async throws {
        let server = try await IngestTestServer.start()
        let charger = try await server.connect("CP-ALONE")
        _ = try await charger.call("b1", "BootNotification", #"{"chargePointVendor":"V","chargePointModel":"M"}"#)
        _ = try await charger.call("m1", "MeterValues", Self.meterValues(Self.onA))
        let id = try #require(try await server.relational.charger(chargePointID: "CP-ALONE")?.id)
        for path in ["meter-values?limit=5", "meter-values?bucket=1m", "status-history"] {
            let answer = try await Self.get(server.port, "/db/chargers/\(id)/\(path)")
            #expect(answer.status == 200)
            #expect(try answer.json.keys.sorted() == ["items", "next_cursor"], "\(path)")
        }
        let csv = try await Self.get(server.port, "/db/chargers/\(id)/meter-values?format=csv")
        #expect(csv.headers["ocpp-incomplete-nodes"] == nil)
        #expect(csv.body.split(separator: "\n").count == Self.onA.count + 1)
        await charger.close()
        await server.stop()
    }
}
