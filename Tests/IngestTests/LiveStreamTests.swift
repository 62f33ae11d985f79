import Foundation
import NIOConcurrencyHelpers
import Relational
import TestSupport
import Testing
import TimeSeries

@testable import API
@testable import Ingest

/// Live streams over Server-Sent Events: what chargers send appears as it is acknowledged, a
/// reconnect with `Last-Event-ID` misses and repeats nothing, a slow client is dropped with a
/// final event, bad requests get clear errors.
@Suite("Live streams")
struct LiveStreamTests {
    static func meterValues(_ uniqueID: String, _ samples: [(String, String)], connector: Int = 1) -> String {
        LoadCurveTests.meterValues(
            uniqueID,
            connector: connector,
            samples.map { time, value in
                (time, #"{"value":"\#(value)","measurand":"Energy.Active.Import.Register","unit":"Wh"}"#)
            }
        )
    }

    static func status(_ uniqueID: String, _ status: String, errorCode: String = "NoError", at time: String) -> String {
        #"[2,"\#(uniqueID)","StatusNotification",{"connectorId":1,"status":"\#(status)","errorCode":"\#(errorCode)","timestamp":"\#(time)"}]"#
    }

    /// Runs `body` against a new server, and stops it whatever happens.
    static func withServer(
        _ options: TimeSeriesOptions = TimeSeriesOptions(),
        authenticated: Bool = false,
        _ body: (IngestTestServer) async throws -> Void
    ) async throws {
        let server = try await IngestTestServer.start(authenticated: authenticated, timeSeriesOptions: options)
        do {
            try await body(server)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    /// A booted charger and its id in the database.
    static func charger(_ server: IngestTestServer, _ name: String) async throws -> (TestChargePoint, Int) {
        let charger = try await server.connect(name)
        _ = try await charger.call("b", "BootNotification", #"{"chargePointVendor":"V","chargePointModel":"M"}"#)
        let list = try await server.json("GET", "/db/chargers/?charge_point_id=\(name)")
        let id = try #require((list["items"] as? [[String: Any]])?.first?["id"] as? Int)
        return (charger, id)
    }

    /// Sends `frame` and expects its CALLRESULT.
    static func send(_ charger: TestChargePoint, _ frame: String) async throws {
        try await charger.send(frame)
        let answer = try await charger.nextText()
        #expect(answer.hasPrefix("[3,"), "\(answer)")
    }

    /// The value of a sample event, or the status of a status event.
    static func value(_ event: ServerSentEvent) -> String {
        let object = event.object
        if let number = object["value"] as? Double { return String(Int(number)) }
        return object["value"] as? String ?? "?"
    }

    @Test("A charger's samples and status changes arrive as acknowledged; a reconnect misses and repeats nothing")
    func resume() async throws {
        try await Self.withServer { server in
            let (charger, id) = try await Self.charger(server, "CP-LIVE1")
            let path = "/db/chargers/\(id)/meter-values/stream"
            let stream = try await EventStreamClient.open(port: server.port, path)
            #expect(stream.status == 200)
            #expect(stream.header("Content-Type")?.hasPrefix("text/event-stream") == true)
            #expect(stream.header("Cache-Control") == "no-store")
            let ready = await stream.next(1)
            #expect(ready.map(\.type) == ["ready"])
            #expect(ready.first?.object["replay"] as? String == "none")

            try await Self.send(
                charger,
                Self.meterValues("m1", [("2026-03-01T10:00:00Z", "100"), ("2026-03-01T10:01:00Z", "110")])
            )
            try await Self.send(charger, Self.status("s1", "Charging", at: "2026-03-01T10:00:30Z"))
            var received = await stream.next(3)
            #expect(received.map(\.type) == ["sample", "sample", "status"])
            #expect(received.map(Self.value) == ["100", "110", "Charging"])
            // On the wire: the two samples of one message in one `samples` event, one series, the
            // series' fields once; then the status change as its own event.
            let wire = stream.wireEvents.filter { $0.type != "ready" }
            #expect(wire.map(\.type) == ["samples", "status"])
            let groups = wire.first?.object["series"] as? [[String: Any]] ?? []
            #expect(groups.count == 1)
            #expect(groups.first?["measurand"] as? String == "Energy.Active.Import.Register")
            #expect(groups.first?["charge_point_id"] as? String == "CP-LIVE1")
            #expect((groups.first?["rows"] as? [[Any]])?.map(\.count) == [3, 3])
            #expect(wire.first?.data.contains(#"["2026-03-01T10:01:00.000Z",110,null]"#) == true)
            let status = received.last?.object ?? [:]
            #expect(status["charge_point_id"] as? String == "CP-LIVE1")
            #expect(status["error_code"] as? String == "NoError")
            #expect(status["connector_id"] as? Int == 1)
            #expect(received.first?.object["timestamp"] as? String == "2026-03-01T10:00:00.000Z")
            #expect(received.first?.object["unit"] as? String == "Wh")
            let resumeID = stream.lastEventID
            #expect(resumeID.contains("@"))
            await stream.close()

            // While the client is away: a new sample, then one dated before everything sent.
            try await Self.send(charger, Self.meterValues("m2", [("2026-03-01T10:05:00Z", "150")]))
            try await Self.send(charger, Self.meterValues("m3", [("2026-03-01T09:00:00Z", "50")]))
            try await Self.send(
                charger,
                Self.status("s2", "Faulted", errorCode: "GroundFailure", at: "2026-03-01T10:05:30Z")
            )

            let again = try await EventStreamClient.open(port: server.port, path, lastEventID: resumeID)
            let resumed = await again.next(4)
            #expect(resumed.first?.type == "ready")
            #expect(resumed.first?.object["replay"] as? String == "exact")
            #expect(resumed.dropFirst().map(Self.value) == ["150", "50", "Faulted"])
            #expect(resumed.last?.object["error_code"] as? String == "GroundFailure")
            received += resumed.dropFirst()
            // And live again after the catch-up.
            try await Self.send(charger, Self.meterValues("m4", [("2026-03-01T10:06:00Z", "160")]))
            let live = await again.next(1)
            #expect(live.map(Self.value) == ["160"])
            received += live
            // The cursor in the id is the latest-dated row's: the late row did not move it back.
            #expect(again.lastEventID.hasPrefix(String(OCPPMillis.of("2026-03-01T10:06:00Z"))))
            await again.close()

            // Every sample and status the store holds for the charger, once.
            let stored = try server.rows("CP-LIVE1", kinds: [.sample, .status])
            #expect(received.count == stored.count)
            #expect(Set(received.map(Self.value)).count == received.count)
            #expect(
                Set(received.map(Self.value))
                    == Set(
                        stored.map { row in
                            if case .status(let status) = row.value { return status.status }
                            return row.value.number.map { String(Int($0)) } ?? "?"
                        }
                    )
            )
            await charger.close()
        }
    }

    @Test("Rows no longer in memory, another store opening or a history cursor: catch-up from the history")
    func historyResume() async throws {
        try await Self.withServer { server in
            let (charger, id) = try await Self.charger(server, "CP-LIVE2")
            let path = "/db/chargers/\(id)/meter-values/stream"
            let stream = try await EventStreamClient.open(port: server.port, path)
            _ = await stream.next(1)
            try await Self.send(
                charger,
                Self.meterValues("m1", [("2026-03-01T10:00:00Z", "1"), ("2026-03-01T10:01:00Z", "2")])
            )
            #expect(await stream.next(2).map(Self.value) == ["1", "2"])
            let resumeID = stream.lastEventID
            await stream.close()
            try await Self.send(
                charger,
                Self.meterValues("m2", [("2026-03-01T10:02:00Z", "3"), ("2026-03-01T10:03:00Z", "4")])
            )
            // The rows go to segments: the place in commit order cannot be served any more.
            try server.timeSeries.flush()

            let again = try await EventStreamClient.open(port: server.port, path, lastEventID: resumeID)
            let resumed = await again.next(3)
            #expect(resumed.first?.object["replay"] as? String == "history")
            #expect(resumed.dropFirst().map(Self.value) == ["3", "4"])
            try await Self.send(charger, Self.meterValues("m3", [("2026-03-01T10:04:00Z", "5")]))
            #expect(await again.next(1).map(Self.value) == ["5"])
            let exactAgain = again.lastEventID
            await again.close()

            // Another opening of the store (a restart): its positions mean nothing here.
            let cursor = try #require(resumeID.split(separator: "@").first)
            let restarted = try await EventStreamClient.open(port: server.port, path, lastEventID: "\(cursor)@1-0")
            let fromHistory = await restarted.next(4)
            #expect(fromHistory.first?.object["replay"] as? String == "history")
            #expect(fromHistory.dropFirst().map(Self.value) == ["3", "4", "5"])
            await restarted.close()

            // A history read's cursor opens the stream where the read ended.
            let page = try await server.json("GET", "/db/chargers/\(id)/meter-values?limit=2")
            let next = try #require(page["next_cursor"] as? String)
            let continued = try await EventStreamClient.open(port: server.port, path, lastEventID: next)
            let rest = await continued.next(4)
            #expect(rest.first?.object["replay"] as? String == "history")
            #expect(rest.dropFirst().map(Self.value) == ["3", "4", "5"])
            await continued.close()

            // A position without a cursor, of another opening: the place is lost, said so.
            let lost = try await EventStreamClient.open(port: server.port, path, lastEventID: "@1-0")
            #expect(await lost.next(1).first?.object["replay"] as? String == "lost")
            await lost.close()

            // The exact id still works while its rows are in memory.
            let exact = try await EventStreamClient.open(port: server.port, path, lastEventID: exactAgain)
            #expect(await exact.next(1).first?.object["replay"] as? String == "exact")
            await exact.close()
            await charger.close()
        }
    }

    @Test("A site's stream carries its chargers' rows only; bad requests are clear errors")
    func siteAndErrors() async throws {
        var options = TimeSeriesOptions()
        options.maximumLiveSubscribers = 2
        try await Self.withServer(options) { server in
            let company = try #require(
                try await server.json("POST", "/db/companies", #"{"name":"Live"}"#)["id"] as? Int
            )
            let site = try #require(
                try await server.json("POST", "/db/sites", #"{"company_id":\#(company),"name":"Depot"}"#)["id"] as? Int
            )
            var chargers: [TestChargePoint] = []
            for name in ["CP-SA", "CP-SB", "CP-SC"] {
                let (charger, id) = try await Self.charger(server, name)
                if name != "CP-SC" {
                    _ = try await server.json("PATCH", "/db/chargers/\(id)", #"{"site_id":\#(site)}"#)
                }
                chargers.append(charger)
            }
            let stream = try await EventStreamClient.open(port: server.port, "/db/sites/\(site)/meter-values/stream")
            #expect(stream.status == 200)
            _ = await stream.next(1)
            for (index, charger) in chargers.enumerated() {
                try await Self.send(charger, Self.meterValues("m", [("2026-03-01T10:00:00Z", "\(index + 1)")]))
            }
            let events = await stream.next(2)
            #expect(events.map { $0.object["charge_point_id"] as? String } == ["CP-SA", "CP-SB"])
            #expect(await stream.next(1, timeout: .milliseconds(300)).isEmpty)

            func refused(_ path: String, lastEventID: String? = nil) async throws -> (Int, String) {
                let answer = try await EventStreamClient.open(port: server.port, path, lastEventID: lastEventID)
                defer { Task { await answer.close() } }
                return (answer.status, answer.body)
            }
            #expect(try await refused("/db/chargers/987654/meter-values/stream").0 == 404)
            #expect(try await refused("/db/sites/987654/meter-values/stream").0 == 404)
            let badID = try await refused("/db/sites/\(site)/meter-values/stream", lastEventID: "yesterday")
            #expect(badID.0 == 422 && badID.1.contains("Last-Event-ID"))
            let badParameter = try await refused("/db/sites/\(site)/meter-values/stream?from=2026-01-01T00:00:00Z")
            #expect(badParameter.0 == 422 && badParameter.1.contains("from"))
            // Two streams at most (the options): a third is refused until one closes.
            let second = try await EventStreamClient.open(port: server.port, "/db/sites/\(site)/meter-values/stream")
            #expect(second.status == 200)
            let third = try await refused("/db/sites/\(site)/meter-values/stream")
            #expect(third.0 == 503 && third.1.contains("too many live streams"))
            await second.close()
            try await server.eventually("the closed stream is let go") {
                // A closed stream is noticed at its next write: a row for its site.
                try await Self.send(chargers[0], Self.meterValues("p", [("2026-03-01T10:10:00Z", "9")]))
                return server.timeSeries.liveSubscriberCount < 2
            }
            await stream.close()
            for charger in chargers { await charger.close() }
        }
    }

    @Test("A site's stream follows chargers moved onto the site and off it while it is open")
    func siteFollowsChargers() async throws {
        try await Self.withServer { server in
            let company = try #require(
                try await server.json("POST", "/db/companies", #"{"name":"Moves"}"#)["id"] as? Int
            )
            let site = try #require(
                try await server.json("POST", "/db/sites", #"{"company_id":\#(company),"name":"Yard"}"#)["id"] as? Int
            )
            let (first, firstID) = try await Self.charger(server, "CP-MA")
            let (second, secondID) = try await Self.charger(server, "CP-MB")
            _ = try await server.json("PATCH", "/db/chargers/\(firstID)", #"{"site_id":\#(site)}"#)
            let stream = try await EventStreamClient.open(port: server.port, "/db/sites/\(site)/meter-values/stream")
            #expect(stream.status == 200)
            _ = await stream.next(1)
            _ = try await server.json("PATCH", "/db/chargers/\(secondID)", #"{"site_id":\#(site)}"#)
            // Every event, as it comes (a timed-out read would end the client's stream).
            let received = NIOLockedValueBox<[String]>([])
            let reader = Task {
                while true {
                    let events = await stream.next(1, timeout: .seconds(60))
                    guard !events.isEmpty else { return }
                    received.withLockedValue { $0 += events.compactMap { $0.object["charge_point_id"] as? String } }
                }
            }
            // Rows of both, a round at a time, until the stream's check finds the second on the site.
            var minute = 0
            func round() async throws -> ArraySlice<String> {
                minute += 1
                let mark = received.withLockedValue { $0.count }
                let time = String(format: "2026-03-01T%02d:%02d:00Z", 11 + minute / 60, minute % 60)
                try await Self.send(first, Self.meterValues("a\(minute)", [(time, "1")]))
                try await Self.send(second, Self.meterValues("b\(minute)", [(time, "2")]))
                // A stream writes once a second.
                try await Task.sleep(for: .milliseconds(1200))
                return received.withLockedValue { $0[mark...] }
            }
            try await server.eventually(timeout: .seconds(40), "the second charger's rows come") {
                try await round().contains("CP-MB")
            }
            _ = try await server.json("PATCH", "/db/chargers/\(firstID)", #"{"site_id":null}"#)
            try await server.eventually(timeout: .seconds(40), "only the second charger's rows come") {
                Set(try await round()) == ["CP-MB"]
            }
            await stream.close()
            await reader.value
            await first.close()
            await second.close()
        }
    }

    @Test("A client further behind than the buffer is dropped with a final event and resumes exactly")
    func slowClient() async throws {
        var options = TimeSeriesOptions()
        options.liveBufferRows = 3
        try await Self.withServer(options) { server in
            let (charger, id) = try await Self.charger(server, "CP-LIVE3")
            let path = "/db/chargers/\(id)/meter-values/stream"
            let stream = try await EventStreamClient.open(port: server.port, path)
            _ = await stream.next(1)
            let samples = (0..<5).map { ("2026-03-01T10:0\($0):00Z", "\($0 + 10)") }
            try await Self.send(charger, Self.meterValues("m1", samples))
            let ending = await stream.rest()
            #expect(ending.map(\.type) == ["dropped"])
            #expect((ending.first?.object["detail"] as? String)?.contains("reconnect") == true)
            let again = try await EventStreamClient.open(port: server.port, path, lastEventID: stream.lastEventID)
            let resumed = await again.next(6)
            #expect(resumed.first?.object["replay"] as? String == "exact")
            #expect(resumed.dropFirst().map(Self.value) == ["10", "11", "12", "13", "14"])
            await again.close()
            await stream.close()
            await charger.close()
        }
    }

    @Test("A stream ends when its token is revoked; a token of another company does not see the charger")
    func revokedToken() async throws {
        try await Self.withServer(authenticated: true) { server in
            let store = server.relational
            let admin = try await store.createAPIToken(name: "fleet", role: "admin")
            let id = try await store.create(Charger.self, .init(chargePointID: "CP-LIVE5")).id
            let charger = try await server.connect("CP-LIVE5")
            _ = try await charger.call("b", "BootNotification", #"{"chargePointVendor":"V","chargePointModel":"M"}"#)
            let company = try await store.create(Company.self, .init(name: "Elsewhere")).id
            let tenant = try await store.createAPIToken(name: "tenant", role: "analyst", companyID: company)
            let hidden = try await EventStreamClient.open(
                port: server.port,
                "/db/chargers/\(id)/meter-values/stream",
                token: tenant.token
            )
            #expect(hidden.status == 404)
            await hidden.close()
            let unauthenticated = try await EventStreamClient.open(
                port: server.port,
                "/db/chargers/\(id)/meter-values/stream"
            )
            #expect(unauthenticated.status == 401)
            await unauthenticated.close()

            let analyst = try await store.createAPIToken(name: "analyst", role: "analyst")
            let stream = try await EventStreamClient.open(
                port: server.port,
                "/db/chargers/\(id)/meter-values/stream",
                token: analyst.token
            )
            #expect(stream.status == 200)
            _ = await stream.next(1)
            let revoked = try await CommandEndpointTests.http(
                server.port,
                "DELETE",
                "/db/api_tokens/\(analyst.record.id)",
                token: admin.token
            )
            #expect(revoked.status == 204)
            // The stream checks its token when it wakes, at most every few seconds.
            try await Task.sleep(for: LiveStreams.tokenRecheck)
            try await Self.send(charger, Self.meterValues("m1", [("2026-03-01T10:00:00Z", "1")]))
            let ending = await stream.rest()
            #expect(ending.map(\.type) == ["end"])
            #expect((ending.first?.object["detail"] as? String)?.contains("revoked") == true)
            await stream.close()
            await charger.close()
        }
    }

    @Test("The fleet's stream carries the caller's chargers only; kind keeps samples or status changes")
    func fleet() async throws {
        try await Self.withServer(authenticated: true) { server in
            let store = server.relational
            let admin = try await store.createAPIToken(name: "fleet", role: "admin")
            let company = try await store.create(Company.self, .init(name: "Owner")).id
            let site = try await store.create(Site.self, .init(companyID: company, name: "Depot")).id
            _ = try await store.create(Charger.self, .init(siteID: site, chargePointID: "CP-FLA"))
            _ = try await store.create(Charger.self, .init(chargePointID: "CP-FLB"))
            let tenant = try await store.createAPIToken(name: "tenant", role: "analyst", companyID: company)
            var chargers: [TestChargePoint] = []
            for name in ["CP-FLA", "CP-FLB"] {
                let charger = try await server.connect(name)
                _ = try await charger.call(
                    "b",
                    "BootNotification",
                    #"{"chargePointVendor":"V","chargePointModel":"M"}"#
                )
                chargers.append(charger)
            }
            let statuses = try await EventStreamClient.open(
                port: server.port,
                "/db/meter-values/stream?kind=status",
                token: admin.token
            )
            let everything = try await EventStreamClient.open(
                port: server.port,
                "/db/meter-values/stream",
                token: tenant.token
            )
            #expect(statuses.status == 200 && everything.status == 200)
            #expect(await statuses.next(1).map(\.type) == ["ready"])
            #expect(await everything.next(1).map(\.type) == ["ready"])
            for (index, charger) in chargers.enumerated() {
                try await Self.send(charger, Self.meterValues("m", [("2026-03-01T10:00:00Z", "\(index + 1)")]))
                try await Self.send(charger, Self.status("s", "Charging", at: "2026-03-01T10:00:30Z"))
            }
            let seenByAdmin = await statuses.next(2)
            #expect(seenByAdmin.map(\.type) == ["status", "status"])
            #expect(Set(seenByAdmin.map { $0.object["charge_point_id"] as? String }) == ["CP-FLA", "CP-FLB"])
            let seenByTenant = await everything.next(2)
            #expect(seenByTenant.map(\.type) == ["sample", "status"])
            #expect(seenByTenant.allSatisfy { $0.object["charge_point_id"] as? String == "CP-FLA" })
            #expect(await everything.next(1, timeout: .milliseconds(300)).isEmpty)
            #expect(await statuses.next(1, timeout: .milliseconds(300)).isEmpty)
            await statuses.close()
            await everything.close()

            for query in ["kind=meter", "kind=sample&kind=status", "measurand=Power.Active.Import"] {
                let refused = try await EventStreamClient.open(
                    port: server.port,
                    "/db/meter-values/stream?\(query)",
                    token: admin.token
                )
                #expect(refused.status == 422, "\(query)")
                await refused.close()
            }
            for charger in chargers { await charger.close() }
        }
    }

    @Test("Event ids are read back as written; anything else is refused")
    func ids() {
        let cursor = EventCursor(timestamp: 1_772_359_200_000, seriesID: 3, transactionID: -9)
        let position = LiveStreams.Position(cursor: cursor, epoch: 0xabc, next: 42)
        #expect(position.text == "1772359200000.3.-9@abc-42")
        #expect(LiveStreams.Position(position.text) == position)
        #expect(
            LiveStreams.Position("1772359200000.3")
                == LiveStreams.Position(
                    cursor: EventCursor(timestamp: 1_772_359_200_000, seriesID: 3),
                    epoch: nil,
                    next: nil
                )
        )
        #expect(LiveStreams.Position("@ffffffffffffffff-0") == LiveStreams.Position(cursor: nil, epoch: .max, next: 0))
        let refused = [
            "", "@", "1.2@", "1.2@abc", "1.2@xyz-1", "1.2@abc-+1", "1.2@abc--1", "1.2@abc-1-2", "abc",
            "1.2@10000000000000000-1", "1.2@abc-99999999999999999999", String(repeating: "1", count: 200),
        ]
        for text in refused { #expect(LiveStreams.Position(text) == nil, "\(text)") }
    }

    @Test("A stopping server ends its streams with a final event")
    func shutdown() async throws {
        let server = try await IngestTestServer.start()
        let (charger, id) = try await Self.charger(server, "CP-LIVE4")
        let stream = try await EventStreamClient.open(port: server.port, "/db/chargers/\(id)/meter-values/stream")
        _ = await stream.next(1)
        let stopping = Task { await server.stop() }
        let ending = await stream.rest()
        #expect(ending.map(\.type) == ["end"])
        await stopping.value
        await charger.close()
        await stream.close()
    }
}

/// Milliseconds since 1970 of an ISO 8601 time, for comparing ids' cursors.
enum OCPPMillis {
    static func of(_ text: String) -> Int64 {
        let formatter = ISO8601DateFormatter()
        return Int64((formatter.date(from: text)?.timeIntervalSince1970 ?? 0) * 1000)
    }
}
