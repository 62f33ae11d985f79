import Foundation
import Protocol
import Relational
import TestSupport
import Testing
import TimeSeries

@testable import Ingest

/// Every charger-initiated message over a real WebSocket, and what it leaves in the stores.
@Suite("Charger messages end to end")
struct MessageTests {
    @Test("BootNotification registers the charger and answers Accepted, the interval and the time")
    func boot() async throws {
        let server = try await IngestTestServer.start(IngestConfiguration(heartbeatInterval: 123))
        let charger = try await server.connect("CP-BOOT")
        #expect(charger.subprotocol == "ocpp1.6")
        let before = Date()
        let answer = try await charger.call(
            "b1",
            "BootNotification",
            #"{"chargePointVendor":"Acme","chargePointModel":"Fast-22","firmwareVersion":"1.2.3"}"#
        )
        #expect(answer[0] as? Int == 3)
        #expect(answer[1] as? String == "b1")
        let payload = try object(answer[2])
        #expect(payload["status"] as? String == "Accepted")
        #expect(payload["interval"] as? Int == 123)
        let time = try #require(payload["currentTime"] as? String)
        let parsed = try #require(ISO8601DateFormatter.withFractionalSeconds.date(from: time))
        #expect(abs(parsed.timeIntervalSince(before)) < 5)
        let stored = try #require(try await server.relational.charger(chargePointID: "CP-BOOT"))
        #expect(stored.vendor == "Acme")
        #expect(stored.model == "Fast-22")
        #expect(stored.firmwareVersion == "1.2.3")
        #expect(stored.registrationStatus == "Accepted")
        let connected = server.ingest.connectedChargePoints
        #expect(connected.map(\.chargePointID.rawValue) == ["CP-BOOT"])
        #expect(connected.first?.registrationStatus == "Accepted")
        #expect(connected.first?.remoteAddress?.hasPrefix("127.0.0.1:") == true)
        await charger.close()
        await server.stop()
    }

    @Test("MeterValues: every sampled value stored with all attributes, the spec's defaults where absent")
    func meterValues() async throws {
        let server = try await IngestTestServer.start()
        let charger = try await server.connect("CP-MV")
        let answer = try await charger.call(
            "m1",
            "MeterValues",
            """
            {"connectorId":2,"transactionId":77,"meterValue":[
              {"timestamp":"2026-01-02T03:04:05.678Z","sampledValue":[
                {"value":"1234.5"},
                {"value":"0012.50","measurand":"Power.Active.Import","unit":"kW","phase":"L1",
                 "location":"Inlet","context":"Sample.Clock","format":"Raw"},
                {"value":"A1B2C3==","format":"SignedData","measurand":"Energy.Active.Import.Register"}]},
              {"timestamp":"2026-01-02T03:05:05Z","sampledValue":[{"value":"1240"}]}]}
            """
        )
        #expect(answer.count == 3)
        #expect(answer[0] as? Int == 3)
        #expect(try object(answer[2]).isEmpty)
        // The answer came after the rows were durable: they are in the store now.
        let rows = try server.rows("CP-MV")
        #expect(rows.count == 4)
        let base = OCPPTimestamp(iso8601: "2026-01-02T03:04:05.678Z")!.millisecondsSince1970
        let register = try #require(rows.first { $0.value == .number(1234.5) })
        #expect(register.timestamp == base)
        #expect(register.series.connectorID == 2)
        #expect(register.transactionID == 77)
        #expect(register.series.kind == .sample)
        #expect(register.series.measurand == "Energy.Active.Import.Register")
        #expect(register.series.unit == "Wh")
        #expect(register.series.context == "Sample.Periodic")
        #expect(register.series.format == "Raw")
        #expect(register.series.location == "Outlet")
        #expect(register.series.phase == nil)
        let power = try #require(rows.first { $0.series.measurand == "Power.Active.Import" })
        #expect(power.value == .numberWithText(12.5, "0012.50"))
        #expect(power.series.unit == "kW")
        #expect(power.series.phase == "L1")
        #expect(power.series.location == "Inlet")
        #expect(power.series.context == "Sample.Clock")
        let signed = try #require(rows.first { $0.series.format == "SignedData" })
        #expect(signed.value == .text("A1B2C3=="))
        let later = try #require(rows.first { $0.value == .number(1240) })
        #expect(later.timestamp == OCPPTimestamp(iso8601: "2026-01-02T03:05:05Z")!.millisecondsSince1970)
        await charger.close()
        await server.stop()
    }

    @Test("StatusNotification: a status event, and the connector's current status upserted")
    func statusNotification() async throws {
        let server = try await IngestTestServer.start()
        let charger = try await server.connect("CP-ST")
        let answer = try await charger.call(
            "s1",
            "StatusNotification",
            """
            {"connectorId":1,"errorCode":"GroundFailure","status":"Faulted","info":"relay",
             "timestamp":"2026-03-01T10:00:00Z","vendorId":"Acme","vendorErrorCode":"E42"}
            """
        )
        #expect(answer[0] as? Int == 3)
        let rows = try server.rows("CP-ST", kinds: [.status])
        #expect(rows.count == 1)
        #expect(
            rows.first?.value
                == .status(
                    StatusEvent(
                        status: "Faulted",
                        errorCode: "GroundFailure",
                        info: "relay",
                        vendorID: "Acme",
                        vendorErrorCode: "E42"
                    )
                )
        )
        #expect(rows.first?.timestamp == OCPPTimestamp(iso8601: "2026-03-01T10:00:00Z")!.millisecondsSince1970)
        try await server.eventually("the connector's status is stored") {
            let page = try await server.relational.list(Connector.self, ListQuery(limit: 10))
            return page.items.first?.status == "Faulted"
        }
        await charger.close()
        await server.stop()
    }

    @Test(
        "Values the database refuses get a clear CALLERROR and hold back no other charger",
        arguments: TestBackend.allCases
    )
    func unstorableValues(backend: TestBackend) async throws {
        let server = try await IngestTestServer.start(backend: backend)
        let odd = try await server.connect("CP-ODD")
        let fine = try await server.connect("CP-FINE")
        // The schema allows an empty idTag; the database does not: PropertyConstraintViolation, not InternalError.
        let start = try await odd.call(
            "t1",
            "StartTransaction",
            #"{"connectorId":1,"idTag":"","meterStart":0,"timestamp":"2026-03-01T10:00:00Z"}"#
        )
        #expect(start[0] as? Int == 4, "\(start)")
        #expect(start[2] as? String == "PropertyConstraintViolation")
        // A negative connector id is refused where it enters (it is outside the documented
        // bounds): PropertyConstraintViolation, nothing stored; the other charger's status still lands.
        let negative = try await odd.call(
            "s1",
            "StatusNotification",
            #"{"connectorId":-1,"errorCode":"NoError","status":"Available"}"#
        )
        #expect(negative[0] as? Int == 4, "\(negative)")
        #expect(negative[2] as? String == "PropertyConstraintViolation")
        let good = try await fine.call(
            "s1",
            "StatusNotification",
            #"{"connectorId":1,"errorCode":"NoError","status":"Charging","info":"a\u0000b"}"#
        )
        #expect(good[0] as? Int == 3)
        try await server.eventually("the well-formed status is stored") {
            let page = try await server.relational.list(Connector.self, ListQuery(limit: 10))
            return page.items.contains { $0.status == "Charging" && $0.info == "a\u{FFFD}b" }
        }
        // The exact text stays in the status history.
        let history = try server.rows("CP-FINE", kinds: [.status])
        #expect(history.first?.value == .status(StatusEvent(status: "Charging", errorCode: "NoError", info: "a\u{0}b")))
        #expect(try server.rows("CP-ODD", kinds: [.status]).isEmpty)
        // The connection is still usable.
        #expect(try await odd.call("h", "Heartbeat", "{}")[0] as? Int == 3)
        await odd.close()
        await fine.close()
        await server.stop()
    }

    @Test("Heartbeat answers the current time and records last-seen")
    func heartbeat() async throws {
        let server = try await IngestTestServer.start()
        let charger = try await server.connect("CP-HB")
        let answer = try await charger.call("h1", "Heartbeat", "{}")
        let time = try #require(try object(answer[2])["currentTime"] as? String)
        #expect(OCPPTimestamp(iso8601: time) != nil)
        try await server.eventually("last-seen is recorded") {
            try await server.relational.charger(chargePointID: "CP-HB")?.lastHeartbeatAt != nil
        }
        await charger.close()
        await server.stop()
    }

    @Test(
        "Authorize: unknown tags Invalid, known cards with status, expiry and parent; REST writes invalidate the cache"
    )
    func authorize() async throws {
        let server = try await IngestTestServer.start()
        let charger = try await server.connect("CP-AUTH")
        let unknown = try await charger.call("a1", "Authorize", #"{"idTag":"NOPE"}"#)
        #expect(try object(try object(unknown[2])["idTagInfo"]!)["status"] as? String == "Invalid")

        let card = try await server.relational.create(
            RFIDCard.self,
            RFIDCard.Fields(idTag: "CARD-1", status: "Accepted", parentIDTag: "FLEET-9")
        )
        // A fresh lookup (the unknown answer for CARD-1 was never cached).
        let known = try await charger.call("a2", "Authorize", #"{"idTag":"CARD-1"}"#)
        let info = try object(try object(known[2])["idTagInfo"]!)
        #expect(info["status"] as? String == "Accepted")
        #expect(info["parentIdTag"] as? String == "FLEET-9")

        // Blocking the card through the store (as REST does) and invalidating takes effect at once.
        _ = try await server.relational.update(
            RFIDCard.self,
            id: card.id,
            RFIDCard.Fields(idTag: "CARD-1", status: "Blocked", parentIDTag: "FLEET-9")
        )
        server.ingest.authorizations.invalidate(idTag: "CARD-1")
        let again = try await charger.call("a3", "Authorize", #"{"idTag":"CARD-1"}"#)
        #expect(try object(try object(again[2])["idTagInfo"]!)["status"] as? String == "Blocked")

        // An accepted card past its expiry date is Expired.
        _ = try await server.relational.create(
            RFIDCard.self,
            RFIDCard.Fields(idTag: "OLD", status: "Accepted", expiryDate: Date(timeIntervalSinceNow: -3600))
        )
        let expired = try await charger.call("a4", "Authorize", #"{"idTag":"OLD"}"#)
        #expect(try object(try object(expired[2])["idTagInfo"]!)["status"] as? String == "Expired")
        await charger.close()
        await server.stop()
    }

    @Test("RFID card writes through the REST API take effect for Authorize at once", arguments: TestBackend.allCases)
    func authorizeFollowsRESTWrites(backend: TestBackend) async throws {
        let server = try await IngestTestServer.start(backend: backend)
        let charger = try await server.connect("CP-AUTH-REST")
        func status(_ uniqueID: String) async throws -> String? {
            let answer = try await charger.call(uniqueID, "Authorize", #"{"idTag":"CARD-R"}"#)
            return try object(try object(answer[2])["idTagInfo"]!)["status"] as? String
        }
        #expect(try await status("r1") == "Invalid")
        // Cached now: only invalidation by the write can change the next answer.
        #expect(try await status("r2") == "Invalid")
        let created = try await CommandEndpointTests.http(
            server.port,
            "POST",
            "/db/rfid_cards/",
            body: #"{"id_tag":"CARD-R"}"#
        )
        #expect(created.status == 201, "\(created.body)")
        #expect(try await status("r3") == "Accepted")
        let id = (created.json as? [String: Any])?["id"] as? Int ?? -1
        let blocked = try await CommandEndpointTests.http(
            server.port,
            "PATCH",
            "/db/rfid_cards/\(id)",
            body: #"{"status":"Blocked"}"#
        )
        #expect(blocked.status == 200, "\(blocked.body)")
        #expect(try await status("r4") == "Blocked")
        let renamed = try await CommandEndpointTests.http(
            server.port,
            "PUT",
            "/db/rfid_cards/\(id)",
            body: #"{"id_tag":"CARD-S"}"#
        )
        #expect(renamed.status == 200, "\(renamed.body)")
        #expect(try await status("r5") == "Invalid")
        #expect(try await CommandEndpointTests.http(server.port, "DELETE", "/db/rfid_cards/\(id)").status == 204)
        let gone = try await charger.call("r6", "Authorize", #"{"idTag":"CARD-S"}"#)
        #expect(try object(try object(gone[2])["idTagInfo"]!)["status"] as? String == "Invalid")
        await charger.close()
        await server.stop()
    }

    @Test("StartTransaction and StopTransaction: a session, meter samples, identical retries get the same id")
    func transactions() async throws {
        let server = try await IngestTestServer.start()
        let charger = try await server.connect("CP-TX")
        _ = try await server.relational.create(RFIDCard.self, RFIDCard.Fields(idTag: "DRIVER-1", status: "Accepted"))
        let start = #"{"connectorId":1,"idTag":"DRIVER-1","meterStart":1000,"timestamp":"2026-04-01T08:00:00Z"}"#
        let first = try await charger.call("t1", "StartTransaction", start)
        let started = try object(first[2])
        let transactionID = try #require(started["transactionId"] as? Int)
        #expect(try object(started["idTagInfo"]!)["status"] as? String == "Accepted")
        let retry = try await charger.call("t2", "StartTransaction", start)
        #expect(try object(retry[2])["transactionId"] as? Int == transactionID)

        let stop = """
            {"transactionId":\(transactionID),"idTag":"DRIVER-1","meterStop":5400,"timestamp":"2026-04-01T09:00:00Z",
             "reason":"Local","transactionData":[{"timestamp":"2026-04-01T08:30:00Z",
             "sampledValue":[{"value":"3200","context":"Sample.Periodic"},{"value":"7.4","measurand":"Power.Active.Import","unit":"kW"}]}]}
            """
        let stopped = try await charger.call("t3", "StopTransaction", stop)
        #expect(try object(try object(stopped[2])["idTagInfo"]!)["status"] as? String == "Accepted")

        let session = try await server.relational.get(ChargeSession.self, id: Int64(transactionID))
        #expect(session.meterStart == 1000)
        #expect(session.meterStop == 5400)
        #expect(session.stopReason == "Local")

        let rows = try server.timeSeries.query(EventQuery(chargePointIDs: ["CP-TX"], transactionID: transactionID)).rows
        let values = rows.map { ($0.series.context ?? "", $0.value.number ?? -1) }
        #expect(values.contains { $0 == ("Transaction.Begin", 1000) })
        #expect(values.contains { $0 == ("Transaction.End", 5400) })
        #expect(values.contains { $0 == ("Sample.Periodic", 3200) })
        #expect(rows.contains { $0.series.measurand == "Power.Active.Import" && $0.value == .number(7.4) })
        #expect(rows.allSatisfy { $0.series.connectorID == 1 })

        // An unknown transaction is accepted and recorded.
        let unknown = try await charger.call(
            "t4",
            "StopTransaction",
            #"{"transactionId":999999,"meterStop":1,"timestamp":"2026-04-01T09:00:00Z"}"#
        )
        #expect(unknown[0] as? Int == 3)
        await charger.close()
        await server.stop()
    }

    @Test("DataTransfer, the notifications and SignCertificate are stored and acknowledged")
    func notifications() async throws {
        let server = try await IngestTestServer.start(IngestConfiguration(dataTransferVendorIDs: ["com.acme"]))
        let charger = try await server.connect("CP-NOTE")
        let known = try await charger.call(
            "d1",
            "DataTransfer",
            #"{"vendorId":"com.acme","messageId":"x","data":"42"}"#
        )
        #expect(try object(known[2])["status"] as? String == "Accepted")
        let unknown = try await charger.call("d2", "DataTransfer", #"{"vendorId":"com.other"}"#)
        #expect(try object(unknown[2])["status"] as? String == "UnknownVendorId")
        let calls: [(String, String)] = [
            ("DiagnosticsStatusNotification", #"{"status":"Uploaded"}"#),
            ("FirmwareStatusNotification", #"{"status":"Installed"}"#),
            ("SecurityEventNotification", #"{"type":"FirmwareUpdated","timestamp":"2026-01-01T00:00:00Z"}"#),
            ("SignedFirmwareStatusNotification", #"{"status":"Downloaded","requestId":3}"#),
            ("LogStatusNotification", #"{"status":"Uploaded","requestId":4}"#),
        ]
        for (index, (action, payload)) in calls.enumerated() {
            let answer = try await charger.call("n\(index)", action, payload)
            #expect(answer[0] as? Int == 3, "\(action)")
            #expect(try object(answer[2]).isEmpty, "\(action)")
        }
        let sign = try await charger.call("c1", "SignCertificate", #"{"csr":"-----BEGIN CERTIFICATE REQUEST-----"}"#)
        #expect(try object(sign[2])["status"] as? String == "Rejected")

        let events = try server.rows("CP-NOTE", kinds: [.event])
        let types = Set(events.compactMap(\.series.eventType))
        #expect(
            types == [
                "DataTransfer", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
                "SecurityEventNotification", "SignedFirmwareStatusNotification", "LogStatusNotification",
                "SignCertificate",
            ]
        )
        let transfer = try #require(
            events.first { $0.series.eventType == "DataTransfer" && $0.value.text.contains("acme") }
        )
        #expect(transfer.value == .payload(#"{"vendorId":"com.acme","messageId":"x","data":"42"}"#))
        await charger.close()
        await server.stop()
    }

    @Test("Events sent in one burst are each stored: none overwrites another received in the same millisecond")
    func eventBurst() async throws {
        let server = try await IngestTestServer.start(IngestConfiguration(dataTransferVendorIDs: ["com.acme"]))
        let charger = try await server.connect("CP-BURST")
        _ = try await charger.call("h", "Heartbeat", "{}")
        let count = 50
        for index in 0..<count {
            try await charger.send(#"[2,"\#(index)","DataTransfer",{"vendorId":"com.acme","messageId":"m\#(index)"}]"#)
        }
        var answered = Set<String>()
        while answered.count < count {
            let answer = try parse(try await charger.nextText())
            #expect(answer[0] as? Int == 3)
            answered.insert(try #require(answer[1] as? String))
        }
        let stored = try server.rows("CP-BURST", kinds: [.event]).filter { $0.series.eventType == "DataTransfer" }
        #expect(stored.count == count)
        #expect(Set(stored.map(\.value.text)).count == count)
        #expect(Set(stored.map(\.timestamp)).count == count)
        await charger.close()
        await server.stop()
    }
}

extension ISO8601DateFormatter {
    nonisolated(unsafe) static let withFractionalSeconds: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()
}
