import Foundation
import SQLKit
import TestSupport
import Testing

@testable import Relational

@Suite("OCPP semantics")
struct OCPPSemanticsTests {
    let boot = ChargerBootInfo(
        vendor: "Alfen",
        model: "Eve Pro",
        chargePointSerialNumber: "SN-1",
        firmwareVersion: "6.1.0",
        iccid: "8931",
        imsi: "204",
        meterType: "MID",
        meterSerialNumber: "M-1"
    )

    @Test(
        "Reservations and charging profiles sent are recorded, replaced, cancelled and cleared",
        arguments: TestBackend.allCases
    )
    func commandRecords(backend: TestBackend) async throws {
        try await backend.withStore { store in
            let expiry = Date(timeIntervalSince1970: 1_800_000_000)
            /// Records reservation 5 on connector 1 of CP-R as answered with `status`.
            func reserve(_ status: String) async throws {
                try await store.recordReservation(
                    chargePointID: "CP-R",
                    reservationID: 5,
                    connectorID: 1,
                    idTag: "TAG",
                    parentIDTag: nil,
                    expiryDate: expiry,
                    responseStatus: status
                )
            }
            // A command never registers a charger: only a registered one's are recorded.
            await expectStoreError(.notFound) { try await reserve("Accepted") }
            await expectStoreError(.notFound) {
                try await store.recordChargingProfile(
                    chargePointID: "CP-R",
                    connectorID: 1,
                    chargingProfileID: 1,
                    stackLevel: 0,
                    purpose: "TxDefaultProfile",
                    kind: "Absolute",
                    transactionID: nil,
                    profile: "{}",
                    responseStatus: "Accepted"
                )
            }
            #expect(try await store.charger(chargePointID: "CP-R") == nil)
            _ = try await store.registerCharger(
                chargePointID: "CP-R",
                boot: boot,
                registrationStatus: "Accepted",
                at: expiry
            )
            for status in ["Occupied", "Accepted"] { try await reserve(status) }
            var reservations = try await store.list(Reservation.self).items
            #expect(reservations.count == 1)
            #expect(reservations.first?.responseStatus == "Accepted")
            #expect(sameInstant(reservations.first?.expiryDate, expiry))
            try await store.recordReservationCancelled(chargePointID: "CP-R", reservationID: 5)
            try await store.recordReservationCancelled(chargePointID: "CP-OTHER", reservationID: 5)
            reservations = try await store.list(Reservation.self).items
            #expect(reservations.first?.cancelledAt != nil)

            for (id, connector, purpose, level) in [
                (1, 1, "TxDefaultProfile", 0), (2, 1, "TxDefaultProfile", 1), (3, 2, "ChargePointMaxProfile", 0),
            ] {
                try await store.recordChargingProfile(
                    chargePointID: "CP-R",
                    connectorID: connector,
                    chargingProfileID: id,
                    stackLevel: level,
                    purpose: purpose,
                    kind: "Absolute",
                    transactionID: nil,
                    profile: "{}",
                    responseStatus: "Accepted"
                )
            }
            let cleared = try await store.recordChargingProfilesCleared(
                chargePointID: "CP-R",
                chargingProfileID: nil,
                connectorID: 1,
                purpose: "TxDefaultProfile",
                stackLevel: nil
            )
            #expect(cleared == 2)
            let byID = try await store.recordChargingProfilesCleared(
                chargePointID: "CP-R",
                chargingProfileID: 3,
                connectorID: nil,
                purpose: nil,
                stackLevel: nil
            )
            #expect(byID == 1)
            let profiles = try await store.list(ChargingProfileRecord.self).items
            #expect(profiles.allSatisfy { $0.clearedAt != nil })
            // Sending profile 1 again makes it current again.
            try await store.recordChargingProfile(
                chargePointID: "CP-R",
                connectorID: 1,
                chargingProfileID: 1,
                stackLevel: 3,
                purpose: "TxDefaultProfile",
                kind: "Relative",
                transactionID: nil,
                profile: "{}",
                responseStatus: "Accepted"
            )
            let again = try await store.list(
                ChargingProfileRecord.self,
                ListQuery(filters: [.init("charging_profile_id", .integer(1))])
            )
            #expect(again.items.first?.clearedAt == nil)
            #expect(again.items.first?.stackLevel == 3)
        }
    }

    @Test("BootNotification registers a charger, then updates it", arguments: TestBackend.allCases)
    func registration(backend: TestBackend) async throws {
        try await backend.withStore { store in
            let time = Date(timeIntervalSince1970: 1_700_000_000.250)
            let first = try await store.registerCharger(
                chargePointID: "CP-9",
                boot: boot,
                registrationStatus: "Accepted",
                at: time
            )
            #expect(first.vendor == "Alfen")
            #expect(first.meterSerialNumber == "M-1")
            #expect(sameInstant(first.lastBootAt, time))

            var upgraded = boot
            upgraded.firmwareVersion = "6.2.0"
            let second = try await store.registerCharger(
                chargePointID: "CP-9",
                boot: upgraded,
                registrationStatus: "Pending",
                at: time.addingTimeInterval(60)
            )
            #expect(second.id == first.id)
            #expect(second.firmwareVersion == "6.2.0")
            // An existing charger keeps the status operators gave it.
            #expect(second.registrationStatus == "Accepted")
            #expect(try await store.charger(chargePointID: "CP-9")?.id == first.id)
            #expect(try await store.charger(chargePointID: "nobody") == nil)

            // A boot under a rule that refuses unknown chargers updates a known one only.
            upgraded.firmwareVersion = "6.3.0"
            let known = try await store.bootCharger(
                chargePointID: "CP-9",
                boot: upgraded,
                unknownCharger: .refuse,
                at: time
            )
            #expect(known?.id == first.id)
            #expect(known?.firmwareVersion == "6.3.0")
            #expect(known?.registrationStatus == "Accepted")
            #expect(
                try await store.bootCharger(chargePointID: "CP-X", boot: boot, unknownCharger: .refuse, at: time) == nil
            )
            #expect(try await store.charger(chargePointID: "CP-X") == nil)
            let pending = try await store.bootCharger(
                chargePointID: "CP-X",
                boot: boot,
                unknownCharger: .register(status: "Pending"),
                at: time
            )
            #expect(pending?.registrationStatus == "Pending")
            #expect(pending?.vendor == "Alfen")

            // A charger known before its boot is registered with the status given, once.
            #expect(
                try await store.registerUnknownCharger(chargePointID: "CP-Y", status: "Pending", at: time) == "Pending"
            )
            #expect(
                try await store.registerUnknownCharger(chargePointID: "CP-Y", status: "Accepted", at: time) == "Pending"
            )
            #expect(
                try await store.registerUnknownCharger(chargePointID: "CP-9", status: "Pending", at: time) == "Accepted"
            )
            #expect(try await store.charger(chargePointID: "CP-Y")?.lastHeartbeatAt == nil)
        }
    }

    @Test("Id tags are looked up with status, expiry and parent", arguments: TestBackend.allCases)
    func authorization(backend: TestBackend) async throws {
        try await backend.withStore { store in
            let expiry = Date(timeIntervalSince1970: 1_900_000_000)
            _ = try await store.create(
                RFIDCard.self,
                .init(idTag: "04A1B2", status: "Blocked", expiryDate: expiry, parentIDTag: "FLEET")
            )
            let found = try #require(try await store.authorization(idTag: "04A1B2"))
            #expect(found.status == "Blocked")
            #expect(sameInstant(found.expiryDate, expiry))
            #expect(found.parentIDTag == "FLEET")
            #expect(try await store.authorization(idTag: "unknown") == nil)
        }
    }

    @Test("A retried identical StartTransaction gets the same transactionId", arguments: TestBackend.allCases)
    func idempotentStart(backend: TestBackend) async throws {
        try await backend.withStore { store in
            _ = try await store.create(Company.self, .init(name: "Acme"))
            let driver = try await store.create(Driver.self, .init(companyID: 1, name: "Ada"))
            _ = try await store.create(RFIDCard.self, .init(idTag: "ADA-1", driverID: driver.id))
            let start = SessionStart(
                chargePointID: "CP-NEW",
                connectorID: 2,
                idTag: "ADA-1",
                meterStart: 1_000,
                timestamp: Date(timeIntervalSince1970: 1_700_000_100.5),
                reservationID: 7,
                unknownCharger: .register(status: "Pending")
            )
            // A charger the database does not know is refused unless the caller's rule registers it.
            var refused = start
            refused.unknownCharger = .refuse
            await expectStoreError(.notFound) { _ = try await store.startSession(refused) }
            #expect(try await store.charger(chargePointID: "CP-NEW") == nil)
            let id = try await store.startSession(start)
            #expect(try await store.startSession(start) == id)
            var later = start
            later.timestamp = start.timestamp.addingTimeInterval(1)
            #expect(try await store.startSession(later) != id)

            let session = try await store.get(ChargeSession.self, id: Int64(id))
            #expect(session.status == "active")
            #expect(session.connectorID == 2)
            #expect(session.driverID == driver.id)
            #expect(session.reservationID == 7)
            #expect(sameInstant(session.startTime, start.timestamp))
            // The unknown charger was registered, with the status the rule gives, rather than the start refused.
            #expect(try await store.charger(chargePointID: "CP-NEW")?.registrationStatus == "Pending")
        }
    }

    @Test("200 concurrent session starts get 200 distinct ids", arguments: TestBackend.allCases)
    func concurrentStarts(backend: TestBackend) async throws {
        try await backend.withStore { store in
            let base = Date(timeIntervalSince1970: 1_700_000_000)
            let ids = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        try await store.startSession(
                            SessionStart(
                                chargePointID: "CP-\(index % 10)",
                                connectorID: 1 + index % 2,
                                idTag: "TAG-\(index)",
                                meterStart: Int64(index),
                                timestamp: base.addingTimeInterval(Double(index)),
                                unknownCharger: .register(status: "Accepted")
                            )
                        )
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(ids.count == 200)
            #expect(Set(ids).count == 200)
            #expect(ids.allSatisfy { $0 > 0 && $0 <= Int(Int32.max) })
            #expect(try await store.list(ChargeSession.self).total == 200)
        }
    }

    @Test("StopTransaction closes the session; an unknown transactionId is recorded", arguments: TestBackend.allCases)
    func stop(backend: TestBackend) async throws {
        try await backend.withStore { store in
            let begin = Date(timeIntervalSince1970: 1_700_000_000)
            let id = try await store.startSession(
                .init(
                    chargePointID: "CP-1",
                    connectorID: 1,
                    idTag: "T1",
                    meterStart: 5_000,
                    timestamp: begin,
                    unknownCharger: .register(status: "Accepted")
                )
            )
            let stop = SessionStop(
                chargePointID: "CP-1",
                transactionID: id,
                idTag: "T1",
                meterStop: 12_345,
                timestamp: begin.addingTimeInterval(3600),
                reason: "EVDisconnected"
            )
            guard case .stopped(let session) = try await store.stopSession(stop) else {
                Issue.record("not stopped")
                return
            }
            #expect(session.status == "completed")
            #expect(session.energyWh == 7_345)
            #expect(session.stopReason == "EVDisconnected")
            #expect(sameInstant(session.stopTime, stop.timestamp))
            // A retried stop is answered the same way.
            #expect(
                try await store.stopSession(stop) == .stopped(try await store.get(ChargeSession.self, id: Int64(id)))
            )

            var unknown = stop
            unknown.transactionID = 987_654
            #expect(try await store.stopSession(unknown) == .unknownTransactionRecorded)
            #expect(try await store.stopSession(unknown) == .unknownTransactionRecorded)
            let recorded = try await store.backend.withConnection { sql in
                try await sql.raw("SELECT COUNT(*) AS n FROM unmatched_stop_transactions").first()!
                    .decode(column: "n", as: Int.self)
            }
            #expect(recorded == 1)
            // Another charger cannot stop this charger's session.
            var foreign = stop
            foreign.chargePointID = "CP-2"
            await expectStoreError(.notFound) { _ = try await store.stopSession(foreign) }
            #expect(try await store.charger(chargePointID: "CP-2") == nil)
            foreign.unknownCharger = .register(status: "Pending")
            #expect(try await store.stopSession(foreign) == .unknownTransactionRecorded)
            #expect(try await store.charger(chargePointID: "CP-2")?.registrationStatus == "Pending")
        }
    }

    @Test("Connector statuses are upserted in batches; the latest by timestamp wins", arguments: TestBackend.allCases)
    func connectorStatuses(backend: TestBackend) async throws {
        try await backend.withStore { store in
            let time = Date(timeIntervalSince1970: 1_700_000_000)
            try await store.upsertConnectorStatuses([
                .init(
                    chargePointID: "CP-1",
                    connectorID: 1,
                    status: "Preparing",
                    errorCode: "NoError",
                    timestamp: time,
                    unknownCharger: .register(status: "Accepted")
                ),
                .init(
                    chargePointID: "CP-1",
                    connectorID: 1,
                    status: "Charging",
                    errorCode: "NoError",
                    timestamp: time.addingTimeInterval(5),
                    unknownCharger: .register(status: "Accepted")
                ),
                .init(
                    chargePointID: "CP-1",
                    connectorID: 0,
                    status: "Available",
                    errorCode: "NoError",
                    timestamp: time,
                    unknownCharger: .register(status: "Accepted")
                ),
                .init(
                    chargePointID: "CP-2",
                    connectorID: 1,
                    status: "Faulted",
                    errorCode: "GroundFailure",
                    info: "RCD tripped",
                    vendorID: "ACME",
                    vendorErrorCode: "E42",
                    timestamp: time,
                    unknownCharger: .register(status: "Pending")
                ),
                // Refused by its rule: dropped, and its charger not registered.
                .init(
                    chargePointID: "CP-3",
                    connectorID: 1,
                    status: "Available",
                    errorCode: "NoError",
                    timestamp: time
                ),
            ])
            // An older update arriving late does not overwrite a newer status.
            try await store.upsertConnectorStatuses([
                .init(
                    chargePointID: "CP-1",
                    connectorID: 1,
                    status: "Available",
                    errorCode: "NoError",
                    timestamp: time.addingTimeInterval(1)
                )
            ])
            let connectors = try await store.list(Connector.self, ListQuery(sortColumn: "charger_id")).items
            #expect(connectors.count == 3)
            let chargerOne = try #require(try await store.charger(chargePointID: "CP-1"))
            let main = try #require(connectors.first { $0.chargerID == chargerOne.id && $0.connectorID == 1 })
            #expect(main.status == "Charging")
            #expect(sameInstant(main.statusAt, time.addingTimeInterval(5)))
            let faulted = try #require(connectors.first { $0.status == "Faulted" })
            #expect(faulted.errorCode == "GroundFailure")
            #expect(faulted.info == "RCD tripped")
            #expect(faulted.vendorErrorCode == "E42")
            #expect(try await store.charger(chargePointID: "CP-2")?.registrationStatus == "Pending")
            #expect(try await store.charger(chargePointID: "CP-3") == nil)
        }
    }

    @Test("A batch larger than one statement holds is applied whole", arguments: TestBackend.allCases)
    func largeStatusBatch(backend: TestBackend) async throws {
        try await backend.withStore { store in
            let time = Date(timeIntervalSince1970: 1_700_000_000)
            let updates = (0..<1_200).map { index in
                ConnectorStatusUpdate(
                    chargePointID: "CP-\(index / 2)",
                    connectorID: 1 + index % 2,
                    status: "Available",
                    errorCode: "NoError",
                    timestamp: time,
                    unknownCharger: .register(status: "Accepted")
                )
            }
            try await store.upsertConnectorStatuses(updates)
            try await store.updateLastSeen(updates.map { ($0.chargePointID, time) })
            #expect(try await store.list(Connector.self, ListQuery(limit: 1)).total == 1_200)
            #expect(try await store.list(Charger.self, ListQuery(limit: 1)).total == 600)
            let seen = try await store.list(
                Charger.self,
                ListQuery(limit: 1000, filters: [.init("last_heartbeat_at", .null)])
            )
            #expect(seen.total == 0)
        }
    }

    @Test("Heartbeats coalesce into last-seen times that never move backwards", arguments: TestBackend.allCases)
    func lastSeen(backend: TestBackend) async throws {
        try await backend.withStore { store in
            let time = Date(timeIntervalSince1970: 1_700_000_000)
            for id in ["CP-1", "CP-2"] {
                _ = try await store.registerUnknownCharger(chargePointID: id, status: "Accepted", at: time)
            }
            try await store.updateLastSeen([
                ("CP-1", time), ("CP-1", time.addingTimeInterval(30)), ("CP-2", time), ("CP-3", time),
            ])
            try await store.updateLastSeen([("CP-1", time.addingTimeInterval(10))])
            #expect(
                sameInstant(
                    try await store.charger(chargePointID: "CP-1")?.lastHeartbeatAt,
                    time.addingTimeInterval(30)
                )
            )
            #expect(sameInstant(try await store.charger(chargePointID: "CP-2")?.lastHeartbeatAt, time))
            // A last-seen time registers no charger.
            #expect(try await store.charger(chargePointID: "CP-3") == nil)
        }
    }
}
