import Foundation
import NIOCore
import Protocol
import Relational
import TestSupport
import Testing
import TimeSeries

@testable import API
@testable import Ingest

/// Meter history over REST: what chargers sent over the WebSocket comes back exactly.
@Suite("Meter history")
struct MeterHistoryTests {
    typealias HTTP = CommandEndpointTests

    static func meterValues(_ uniqueID: String, transactionID: Int? = nil, _ samples: [(String, String)]) -> String {
        let transaction = transactionID.map { #","transactionId":\#($0)"# } ?? ""
        let values = samples.map { time, sampled in
            #"{"timestamp":"\#(time)","sampledValue":[\#(sampled)]}"#
        }
        return
            #"[2,"\#(uniqueID)","MeterValues",{"connectorId":1\#(transaction),"meterValue":[\#(values.joined(separator: ","))]}]"#
    }

    /// A test server, and a charger connected to it and booted.
    static func booted(_ id: String, backend: TestBackend = .sqlite) async throws -> (IngestTestServer, TestChargePoint)
    {
        let server = try await IngestTestServer.start(backend: backend)
        let charger = try await server.connect(id)
        _ = try await charger.call("b", "BootNotification", #"{"chargePointVendor":"V","chargePointModel":"M"}"#)
        return (server, charger)
    }

    @Test("Raw samples come back exactly, in JSON and CSV, with a resumable cursor", arguments: TestBackend.allCases)
    func raw(backend: TestBackend) async throws {
        let (server, charger) = try await Self.booted("CP-HIST", backend: backend)
        try await charger.send(
            Self.meterValues(
                "m1",
                [
                    (
                        "2026-02-01T10:00:00Z",
                        #"{"value":"1234.5"},{"value":"0012.50","measurand":"Power.Active.Import","unit":"kW","phase":"L1"}"#
                    ),
                    ("2026-02-01T10:01:00Z", #"{"value":"1240"},{"value":"AB,\"CD\"","format":"SignedData"}"#),
                ]
            )
        )
        #expect(try parse(try await charger.nextText())[0] as? Int == 3)
        let id = try #require(try await server.relational.charger(chargePointID: "CP-HIST")?.id)

        let response = try await HTTP.http(server.port, "GET", "/db/chargers/\(id)/meter-values")
        #expect(response.status == 200)
        let json = try object(response.json as Any)
        let items = (json["items"] as? [Any] ?? []).compactMap { $0 as? [String: Any] }
        #expect(items.count == 4)
        #expect(json["next_cursor"] is NSNull)
        let register = try #require(items.first { $0["value"] as? Double == 1234.5 })
        #expect(register["timestamp"] as? String == "2026-02-01T10:00:00.000Z")
        #expect(register["measurand"] as? String == "Energy.Active.Import.Register")
        #expect(register["unit"] as? String == "Wh")
        #expect(register["context"] as? String == "Sample.Periodic")
        #expect(register["location"] as? String == "Outlet")
        #expect(register["format"] as? String == "Raw")
        #expect(register["connector_id"] as? Int == 1)
        #expect(register["transaction_id"] is NSNull)
        #expect(register["phase"] is NSNull)
        #expect(register["raw"] == nil)
        let padded = try #require(items.first { $0["measurand"] as? String == "Power.Active.Import" })
        #expect(padded["value"] as? Double == 12.5)
        #expect(padded["raw"] as? String == "0012.50")
        #expect(padded["phase"] as? String == "L1")
        let signed = try #require(items.first { $0["format"] as? String == "SignedData" })
        #expect(signed["raw"] as? String == #"AB,"CD""#)
        #expect(signed["value"] is NSNull)

        let csv = try await HTTP.http(server.port, "GET", "/db/chargers/\(id)/meter-values?format=csv")
        #expect(csv.status == 200)
        let lines = csv.body.split(separator: "\n").map(String.init)
        #expect(
            lines.first
                == "timestamp,connector_id,transaction_id,measurand,phase,unit,location,context,format,value,raw"
        )
        #expect(lines.count == 5)
        #expect(
            lines.contains(
                "2026-02-01T10:00:00.000Z,1,,Power.Active.Import,L1,kW,Outlet,Sample.Periodic,Raw,12.5,0012.50"
            )
        )
        #expect(
            lines.contains(
                #"2026-02-01T10:01:00.000Z,1,,Energy.Active.Import.Register,,Wh,Outlet,Sample.Periodic,SignedData,,"AB,""CD""""#
            )
        )

        // Page by page with the cursor: every row exactly once.
        var seen: [String] = []
        var cursor: String?
        repeat {
            let path = "/db/chargers/\(id)/meter-values?limit=1" + (cursor.map { "&cursor=\($0)" } ?? "")
            let page = try object(try await HTTP.http(server.port, "GET", path).json as Any)
            for item in page["items"] as? [[String: Any]] ?? [] {
                seen.append("\(item["timestamp"]!)|\(item["measurand"]!)|\(item["format"]!)")
            }
            cursor = page["next_cursor"] as? String
        } while cursor != nil
        #expect(seen.count == 4)
        #expect(Set(seen).count == 4)

        let filtered = try object(
            try await HTTP.http(
                server.port,
                "GET",
                "/db/chargers/\(id)/meter-values?measurand=Power.Active.Import&from=2026-02-01T09:00:00Z&to=2026-02-01T11:00:00Z"
            ).json as Any
        )
        #expect((filtered["items"] as? [Any])?.count == 1)
        await charger.close()
        await server.stop()
    }

    @Test(
        "Downsampling matches a hand computation; sessions select their transaction; errors are clear",
        arguments: TestBackend.allCases
    )
    func buckets(backend: TestBackend) async throws {
        let (server, charger) = try await Self.booted("CP-AGG", backend: backend)
        let start = try await charger.call(
            "s",
            "StartTransaction",
            #"{"connectorId":1,"idTag":"T","meterStart":0,"timestamp":"2026-02-01T09:59:00Z"}"#
        )
        let transactionID = try #require(try object(start[2])["transactionId"] as? Int)
        let power = #""measurand":"Power.Active.Import","unit":"W""#
        try await charger.send(
            Self.meterValues(
                "m",
                transactionID: transactionID,
                [
                    ("2026-02-01T10:00:00Z", #"{"value":"10",\#(power)}"#),
                    ("2026-02-01T10:00:30Z", #"{"value":"20",\#(power)}"#),
                    ("2026-02-01T10:01:10Z", #"{"value":"30",\#(power)}"#),
                    ("2026-02-01T10:01:50Z", #"{"value":"50",\#(power)}"#),
                ]
            )
        )
        _ = try await charger.nextText()
        let base = "/db/charge_sessions/\(transactionID)/meter-values?measurand=Power.Active.Import&bucket=1m"
        func values(_ aggregate: String) async throws -> [Double] {
            let json = try object(try await HTTP.http(server.port, "GET", base + "&agg=\(aggregate)").json as Any)
            return (json["items"] as? [[String: Any]] ?? []).compactMap { $0["value"] as? Double }
        }
        #expect(try await values("avg") == [15, 40])
        #expect(try await values("min") == [10, 30])
        #expect(try await values("max") == [20, 50])
        #expect(try await values("first") == [10, 30])
        #expect(try await values("last") == [20, 50])
        #expect(try await values("sum") == [30, 80])
        #expect(try await values("count") == [2, 2])
        let hourly = try object(
            try await HTTP.http(server.port, "GET", base.replacingOccurrences(of: "1m", with: "1h")).json as Any
        )
        let hour = try #require((hourly["items"] as? [[String: Any]])?.first)
        #expect(hour["bucket_start"] as? String == "2026-02-01T10:00:00.000Z")
        #expect(hour["value"] as? Double == 27.5)
        #expect(hour["count"] as? Int == 4)
        let csv = try await HTTP.http(server.port, "GET", base + "&agg=max&format=csv")
        #expect(csv.body.split(separator: "\n").count == 3)

        // A session's rows carry its transaction, and so do their cursors: paged one by one,
        // every row comes back once.
        let sessionRows = "/db/charge_sessions/\(transactionID)/meter-values"
        let whole = try object(try await HTTP.http(server.port, "GET", sessionRows).json as Any)
        let wholeItems = whole["items"] as? [[String: Any]] ?? []
        #expect(wholeItems.count == 5)
        var pagedTimes: [String] = []
        var sessionCursor: String?
        repeat {
            let path = sessionRows + "?limit=1" + (sessionCursor.map { "&cursor=\($0)" } ?? "")
            let answer = try await HTTP.http(server.port, "GET", path)
            #expect(answer.status == 200, "\(path): \(answer.body)")
            let page = try object(answer.json as Any)
            pagedTimes += (page["items"] as? [[String: Any]] ?? []).compactMap { $0["timestamp"] as? String }
            sessionCursor = page["next_cursor"] as? String
            if let sessionCursor { #expect(sessionCursor.hasSuffix(".\(transactionID)")) }
        } while sessionCursor != nil && pagedTimes.count < 10
        #expect(pagedTimes == wholeItems.compactMap { $0["timestamp"] as? String })

        #expect(try await HTTP.http(server.port, "GET", "/db/charge_sessions/999999/meter-values").status == 404)
        #expect(try await HTTP.http(server.port, "GET", "/db/chargers/999999/meter-values").status == 404)
        let badBucket = try await HTTP.http(
            server.port,
            "GET",
            "/db/charge_sessions/\(transactionID)/meter-values?bucket=5x"
        )
        #expect(badBucket.status == 422)
        #expect(badBucket.body.contains(#"["query","bucket"]"#))
        let badTime = try await HTTP.http(
            server.port,
            "GET",
            "/db/charge_sessions/\(transactionID)/meter-values?from=yesterday"
        )
        #expect(badTime.status == 422)

        // Two voltage samples two days apart: 172,801 one-second buckets are refused before
        // anything is read, 86,401 two-second ones answered; without a measurand the session's
        // three series triple the count.
        let volts = #""measurand":"Voltage","unit":"V""#
        try await charger.send(
            Self.meterValues(
                "v",
                transactionID: transactionID,
                [
                    ("2026-02-01T10:00:00Z", #"{"value":"230",\#(volts)}"#),
                    ("2026-02-03T10:00:00Z", #"{"value":"231",\#(volts)}"#),
                ]
            )
        )
        _ = try await charger.nextText()
        let session = "/db/charge_sessions/\(transactionID)/meter-values?"
        let tooMany = try await HTTP.http(server.port, "GET", session + "measurand=Voltage&bucket=1s")
        #expect(tooMany.status == 422)
        #expect(tooMany.body.contains(#"["query","bucket"]"#) && tooMany.body.contains("172801 buckets"))
        let allowed = try await HTTP.http(server.port, "GET", session + "measurand=Voltage&bucket=2s")
        #expect(allowed.status == 200)
        #expect((try object(allowed.json as Any)["items"] as? [Any])?.count == 2)
        #expect(try await HTTP.http(server.port, "GET", session + "bucket=4s").status == 422)
        #expect(try await HTTP.http(server.port, "GET", session + "measurand=Voltage&bucket=4s").status == 200)
        let narrowed = session + "bucket=1s&from=2026-02-01T10:00:00Z&to=2026-02-01T11:00:00Z"
        #expect(try await HTTP.http(server.port, "GET", narrowed).status == 200)
        await charger.close()
        await server.stop()
    }

    @Test("Bucketed JSON of thousands of buckets: every bucket, each average exact")
    func streamedBuckets() async throws {
        let (server, charger) = try await Self.booted("CP-STREAM")
        // 2,000 minutes of three samples each (at :00, :20 and :40), whose averages have many
        // decimals; by 20 s, 6,000 buckets: about 1.3 MB of JSON.
        let minutes = 2000
        let start: Int64 = 1_769_940_000_000  // 2026-02-01T10:00:00Z
        var expected: [Int64: Double] = [:]
        var samples: [(String, String)] = []
        for minute in 0..<minutes {
            var sum = 0.0
            for third in 0..<3 {
                let value = Double(minute * 7 + third * 13) / 10 + 0.01
                sum += value
                let time = start + Int64(minute) * 60_000 + Int64(third) * 20_000
                let text = OCPPTimestamp(millisecondsSince1970: time).iso8601
                samples.append((text, #"{"value":"\#(EventValue.number(value).text)"}"#))
            }
            expected[start + Int64(minute) * 60_000] = sum / 3
        }
        for (index, batch) in stride(from: 0, to: samples.count, by: 400).enumerated() {
            try await charger.send(
                Self.meterValues("m\(index)", Array(samples[batch..<min(batch + 400, samples.count)]))
            )
            #expect(try parse(try await charger.nextText())[0] as? Int == 3)
        }
        let id = try #require(try await server.relational.charger(chargePointID: "CP-STREAM")?.id)
        func items(_ bucket: String) async throws -> (body: String, items: [[String: Any]]) {
            let path = "/db/chargers/\(id)/meter-values?bucket=\(bucket)&agg=avg"
            let answer = try await HTTP.http(server.port, "GET", path)
            #expect(answer.status == 200)
            let json = try object(answer.json as Any)
            #expect(json["next_cursor"] is NSNull)
            return (answer.body, json["items"] as? [[String: Any]] ?? [])
        }
        let byMinute = try await items("1m")
        #expect(byMinute.items.count == minutes)
        #expect(byMinute.items.allSatisfy { $0["count"] as? Int == 3 })
        // Each average's text is its canonical one (the shortest that reads back), in time order.
        let texts = byMinute.body.components(separatedBy: #""value":"#).dropFirst().map {
            String($0.prefix { $0 != "," })
        }
        let wanted = expected.keys.sorted().map { EventValue.number(expected[$0]!).text }
        #expect(texts == wanted)
        let byThird = try await items("20s")
        #expect(byThird.body.utf8.count > 1_000_000)
        #expect(byThird.items.count == 3 * minutes)
        let times = byThird.items.compactMap { $0["bucket_start"] as? String }
        #expect(times.first == "2026-02-01T10:00:00.000Z" && Set(times).count == 3 * minutes)
        await charger.close()
        await server.stop()
    }

    @Test("layout=series holds the rows layout's buckets, series by series, a bucket without samples as null")
    func seriesLayout() async throws {
        let (server, charger) = try await Self.booted("CP-LAYOUT")
        let start: Int64 = 1_769_940_000_000  // 2026-02-01T10:00:00Z
        // Power at minutes 0, 1, 2 and 5 (two samples in minute 1); voltage at minutes 1 and 3.
        var samples: [(String, String)] = []
        for (minute, second, measurand, value) in [
            (0, 0, "Power.Active.Import", "1.5"), (1, 0, "Power.Active.Import", "2"),
            (1, 30, "Power.Active.Import", "3"),
            (2, 0, "Power.Active.Import", "0.25"), (5, 10, "Power.Active.Import", "7"), (1, 0, "Voltage", "230.5"),
            (3, 0, "Voltage", "229"),
        ] {
            let time = OCPPTimestamp(millisecondsSince1970: start + Int64(minute * 60 + second) * 1000).iso8601
            samples.append((time, #"{"value":"\#(value)","measurand":"\#(measurand)"}"#))
        }
        try await charger.send(Self.meterValues("m", samples))
        #expect(try parse(try await charger.nextText())[0] as? Int == 3)
        let id = try #require(try await server.relational.charger(chargePointID: "CP-LAYOUT")?.id)
        let base = "/db/chargers/\(id)/meter-values?bucket=1m&agg=avg"
        let rows = try object(try await HTTP.http(server.port, "GET", base).json as Any)
        let bySeries = try await HTTP.http(server.port, "GET", base + "&layout=series")
        #expect(bySeries.status == 200)
        let answer = try object(bySeries.json as Any)
        #expect(answer["bucket_ms"] as? Int == 60_000 && answer["next_cursor"] is NSNull)
        let series = try #require(answer["series"] as? [[String: Any]])
        #expect(series.map { $0["measurand"] as? String } == ["Power.Active.Import", "Voltage"])
        // Power from 10:00 to 10:05: 1.5, 2.5, 0.25, -, -, 7; voltage from 10:01: 230.5, -, 229.
        let power = try #require(series.first)
        #expect(power["start"] as? String == "2026-02-01T10:00:00.000Z")
        #expect((power["counts"] as? [Int]) == [1, 2, 1, 0, 0, 1])
        let powerValues = (power["values"] as? [Any]) ?? []
        #expect(powerValues.map { $0 as? Double } == [1.5, 2.5, 0.25, nil, nil, 7])
        #expect(powerValues.count == 6 && powerValues[3] is NSNull)
        #expect(series.last?["start"] as? String == "2026-02-01T10:01:00.000Z")
        #expect((series.last?["counts"] as? [Int]) == [1, 0, 1])
        // Every bucket of the rows layout, and only those, has its value and count there.
        var fromSeries: [String: (Double, Int)] = [:]
        let format = ISO8601DateFormatter()
        format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for entry in series {
            let first = try #require(format.date(from: entry["start"] as? String ?? ""))
            for (index, (value, count)) in zip(entry["values"] as? [Any] ?? [], entry["counts"] as? [Int] ?? [])
                .enumerated() where count > 0
            {
                let time = format.string(from: first.addingTimeInterval(Double(index) * 60))
                fromSeries["\(entry["measurand"]!) \(time)"] = (value as? Double ?? .nan, count)
            }
        }
        let items = rows["items"] as? [[String: Any]] ?? []
        #expect(items.count == fromSeries.count && items.count == 6)
        for item in items {
            let key = "\(item["measurand"]!) \(item["bucket_start"]!)"
            #expect(
                fromSeries[key]?.0 == item["value"] as? Double && fromSeries[key]?.1 == item["count"] as? Int,
                "\(key)"
            )
        }
        // Like agg, layout shapes bucketed JSON only; an unknown one is a 422.
        let raw = try object(
            try await HTTP.http(server.port, "GET", "/db/chargers/\(id)/meter-values?layout=series").json as Any
        )
        #expect((raw["items"] as? [Any])?.count == 7)
        #expect(try await HTTP.http(server.port, "GET", base + "&layout=columns").status == 422)
        await charger.close()
        await server.stop()
    }

    @Test("An answer read in parts by series on several threads is byte for byte the answer read in one")
    func parts() async throws {
        let (server, charger) = try await Self.booted("CP-PARTS")
        let start: Int64 = 1_769_940_000_000  // 2026-02-01T10:00:00Z
        // Five series over two hours; voltage only in the second hour, so that a part may
        // hold series without a bucket in a range.
        var samples: [(String, String)] = []
        for minute in stride(from: 0, to: 120, by: 7) {
            let time = OCPPTimestamp(millisecondsSince1970: start + Int64(minute) * 60_000).iso8601
            var values = [
                #"{"value":"\#(minute * 10)"}"#,
                #"{"value":"\#(Double(minute) / 3)","measurand":"Power.Active.Import"}"#,
                #"{"value":"\#(minute % 50)","measurand":"SoC"}"#,
                #"{"value":"\#(16 + minute % 3)","measurand":"Current.Import","phase":"L1"}"#,
            ]
            if minute >= 60 { values.append(#"{"value":"\#(230 + minute % 5)","measurand":"Voltage"}"#) }
            samples.append((time, values.joined(separator: ",")))
        }
        try await charger.send(Self.meterValues("m", samples))
        #expect(try parse(try await charger.nextText())[0] as? Int == 3)
        for (from, to) in [
            (start, start + 7_200_000), (start, start + 3_600_000), (start + 9_000_000, start + 9_600_000),
        ] {
            var query = EventQuery(limit: Int.max)
            query.chargePointIDs = ["CP-PARTS"]
            (query.from, query.to) = (from, to)
            for layout in HistoryFormat.BucketLayout.allCases {
                func text(_ parts: Int) async throws -> String {
                    let body = try await MeterHistory.bucketsBody(
                        query,
                        bucket: 600_000,
                        aggregate: "avg",
                        layout: layout,
                        timeSeries: server.timeSeries,
                        parts: parts
                    )
                    return body.map { String(buffer: $0) }.joined()
                }
                let whole = try await text(1)
                #expect(try JSONSerialization.jsonObject(with: Data(whole.utf8)) is [String: Any], "\(whole)")
                for parts in [2, 3, 5, 9] {
                    #expect(try await text(parts) == whole, "\(layout), \(parts) parts, from \(from)")
                }
            }
        }
        #expect(MeterHistory.partCount(buckets: 14_400, cores: 2) == 2)
        #expect(MeterHistory.partCount(buckets: 100, cores: 2) == 1)
        #expect(MeterHistory.partCount(buckets: 100_000, cores: 64) == 8)
        await charger.close()
        await server.stop()
    }

    @Test(
        "Status history pages through StatusNotifications; a session summary computes energy, duration, peak power",
        arguments: TestBackend.allCases
    )
    func statusHistoryAndSummary(backend: TestBackend) async throws {
        let (server, charger) = try await Self.booted("CP-SUM", backend: backend)
        for (index, status) in ["Available", "Preparing", "Charging"].enumerated() {
            let answer = try await charger.call(
                "s\(index)",
                "StatusNotification",
                #"{"connectorId":1,"errorCode":"NoError","status":"\#(status)","timestamp":"2026-03-01T10:0\#(index):00Z"}"#
            )
            #expect(answer[0] as? Int == 3)
        }
        _ = try await charger.call(
            "f",
            "StatusNotification",
            #"{"connectorId":2,"errorCode":"GroundFailure","status":"Faulted","info":"RCD","timestamp":"2026-03-01T10:03:00Z"}"#
        )
        let id = try #require(try await server.relational.charger(chargePointID: "CP-SUM")?.id)
        let first = try object(
            try await HTTP.http(server.port, "GET", "/db/chargers/\(id)/status-history?limit=2").json as Any
        )
        let firstItems = (first["items"] as? [Any] ?? []).compactMap { $0 as? [String: Any] }
        #expect(firstItems.map { $0["status"] as? String } == ["Available", "Preparing"])
        let cursor = try #require(first["next_cursor"] as? String)
        let rest = try object(
            try await HTTP.http(server.port, "GET", "/db/chargers/\(id)/status-history?limit=2&cursor=\(cursor)").json
                as Any
        )
        let restItems = (rest["items"] as? [Any] ?? []).compactMap { $0 as? [String: Any] }
        #expect(restItems.map { $0["status"] as? String } == ["Charging", "Faulted"])
        #expect(restItems.last?["error_code"] as? String == "GroundFailure")
        #expect(restItems.last?["info"] as? String == "RCD")
        #expect(restItems.last?["connector_id"] as? Int == 2)
        let faulted = try object(
            try await HTTP.http(server.port, "GET", "/db/chargers/\(id)/status-history?connector_id=2&order=desc").json
                as Any
        )
        #expect((faulted["items"] as? [Any])?.count == 1)
        #expect(try await HTTP.http(server.port, "GET", "/db/chargers/\(id)/status-history?colour=red").status == 422)
        #expect(try await HTTP.http(server.port, "GET", "/db/chargers/999/status-history").status == 404)

        // A session: 10:00 start at 1000 Wh, samples in kWh and kW, stop at 11:30 with 4000 Wh.
        _ = try await server.relational.create(RFIDCard.self, RFIDCard.Fields(idTag: "SUM", status: "Accepted"))
        let started = try await charger.call(
            "t1",
            "StartTransaction",
            #"{"connectorId":1,"idTag":"SUM","meterStart":1000,"timestamp":"2026-03-01T10:00:00Z"}"#
        )
        let transactionID = try #require(try object(started[2])["transactionId"] as? Int)
        _ = try await charger.call(
            "m1",
            "MeterValues",
            #"{"connectorId":1,"transactionId":\#(transactionID),"meterValue":[{"timestamp":"2026-03-01T10:30:00Z","sampledValue":[{"value":"2.1","unit":"kWh"},{"value":"7.4","measurand":"Power.Active.Import","unit":"kW"},{"value":"3000","measurand":"Power.Active.Import","unit":"W","phase":"L1"}]},{"timestamp":"2026-03-01T11:00:00Z","sampledValue":[{"value":"3100","unit":"Wh"},{"value":"11000","measurand":"Power.Active.Import","unit":"W"}]}]}"#
        )
        _ = try await charger.call(
            "t2",
            "StopTransaction",
            #"{"transactionId":\#(transactionID),"meterStop":4000,"timestamp":"2026-03-01T11:30:00Z"}"#
        )
        let summary = try object(
            try await HTTP.http(server.port, "GET", "/db/charge_sessions/\(transactionID)/summary").json as Any
        )
        #expect(summary["energy_wh"] as? Double == 3000)
        #expect(summary["energy_source"] as? String == "meter_values")
        #expect(summary["duration_seconds"] as? Double == 5400)
        #expect(summary["peak_power_w"] as? Double == 11000)
        #expect(summary["average_power_w"] as? Double == 2000)
        #expect(summary["status"] as? String == "completed")
        #expect(summary["stop_time"] as? String == "2026-03-01T11:30:00.000Z")
        #expect(try await HTTP.http(server.port, "GET", "/db/charge_sessions/424242/summary").status == 404)
        await charger.close()
        await server.stop()
    }

    @Test("CSV without a limit streams the whole range, past one page", arguments: TestBackend.allCases)
    func streamedCSV(backend: TestBackend) async throws {
        let server = try await IngestTestServer.start(backend: backend)
        let charger = try await server.relational.create(Charger.self, Charger.Fields(chargePointID: "CP-STREAM"))
        let start = try #require(OCPPTimestamp(iso8601: "2026-04-01T00:00:00Z")).millisecondsSince1970
        let series = SeriesKey(
            chargePointID: "CP-STREAM",
            connectorID: 1,
            kind: .sample,
            measurand: "Energy.Active.Import.Register",
            unit: "Wh"
        )
        var rows: [EventRow] = []
        for index in 0..<25_000 {
            rows.append(EventRow(series: series, timestamp: start + Int64(index) * 1000, value: .number(Double(index))))
        }
        try await server.timeSeries.append(rows)
        let streamed = try await HTTP.http(server.port, "GET", "/db/chargers/\(charger.id)/meter-values?format=csv")
        #expect(streamed.status == 200)
        let csvLines = streamed.body.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(csvLines.first?.hasPrefix("timestamp,connector_id") == true)
        #expect(csvLines.count == 25_001)
        #expect(csvLines.filter { $0.hasPrefix("timestamp,") }.count == 1)
        #expect(csvLines.last?.hasPrefix("2026-04-01T06:56:39.000Z,1,,Energy.Active.Import.Register") == true)
        let paged = try await HTTP.http(
            server.port,
            "GET",
            "/db/chargers/\(charger.id)/meter-values?format=csv&limit=100"
        )
        #expect(paged.body.split(separator: "\n").count == 101)
        await server.stop()
    }
}
