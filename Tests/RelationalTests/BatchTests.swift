import Foundation
import SQLKit
import TestSupport
import Testing

@testable import Relational

/// The batched forms of the reconnect storm's two queries: many BootNotifications in one
/// transaction, many chargers' credentials in one read.
@Suite("Relational batches")
struct BatchTests {
    static func boot(_ chargePointID: String, _ rule: UnknownChargerRule, vendor: String = "V") -> ChargerBoot {
        ChargerBoot(
            chargePointID: chargePointID,
            boot: ChargerBootInfo(vendor: vendor, model: "M-\(chargePointID)", firmwareVersion: "1.0"),
            unknownCharger: rule,
            time: Date(timeIntervalSince1970: 1_800_000_000)
        )
    }

    @Test(
        "A batch of boots: known chargers updated, unknown ones registered or refused",
        arguments: TestBackend.allCases
    )
    func boots(backend: TestBackend) async throws {
        try await backend.withStore { store in
            _ = try await store.create(Charger.self, Charger.Fields(chargePointID: "CP-B1"))
            _ = try await store.create(
                Charger.self,
                Charger.Fields(chargePointID: "CP-B2", registrationStatus: "Rejected")
            )
            let results = await store.bootChargers([
                Self.boot("CP-B1", .refuse),
                Self.boot("CP-B2", .register(status: "Accepted")),
                Self.boot("CP-B3", .refuse),
                Self.boot("CP-B4", .register(status: "Pending")),
                // The same charger twice in one batch: the later boot wins.
                Self.boot("CP-B1", .refuse, vendor: "W"),
            ])
            #expect(results.map { try? $0.get() } == ["Accepted", "Rejected", nil, "Pending", "Accepted"])
            let first = try #require(try await store.charger(chargePointID: "CP-B1"))
            #expect(first.vendor == "W")
            #expect(first.model == "M-CP-B1")
            #expect(sameInstant(first.lastBootAt, Date(timeIntervalSince1970: 1_800_000_000)))
            // An existing charger keeps its registration status; a registered one gets the rule's.
            #expect(try await store.charger(chargePointID: "CP-B2")?.registrationStatus == "Rejected")
            #expect(try await store.charger(chargePointID: "CP-B2")?.firmwareVersion == "1.0")
            #expect(try await store.charger(chargePointID: "CP-B3") == nil)
            #expect(try await store.charger(chargePointID: "CP-B4")?.registrationStatus == "Pending")
            #expect(await store.bootChargers([]).isEmpty)
        }
    }

    @Test(
        "A boot the database refuses fails alone; the rest of its batch is stored",
        arguments: TestBackend.allCases
    )
    func refusedBoot(backend: TestBackend) async throws {
        try await backend.withStore { store in
            _ = try await store.create(Charger.self, Charger.Fields(chargePointID: "CP-R1"))
            let results = await store.bootChargers([
                Self.boot("CP-R1", .refuse),
                Self.boot("CP-R2", .register(status: "NotAStatus")),
                Self.boot("CP-R3", .register(status: "Accepted")),
            ])
            #expect(try results[0].get() == "Accepted")
            #expect(throws: RelationalStoreError.self) { try results[1].get() }
            if case .failure(let error) = results[1] { #expect(error.code == .invalidValue, "\(error)") }
            #expect(try results[2].get() == "Accepted")
            #expect(try await store.charger(chargePointID: "CP-R1")?.vendor == "V")
            #expect(try await store.charger(chargePointID: "CP-R2") == nil)
            #expect(try await store.charger(chargePointID: "CP-R3")?.vendor == "V")
        }
    }

    @Test("When the database fails, every boot of the batch fails with it", arguments: TestBackend.allCases)
    func failedBatch(backend: TestBackend) async throws {
        try await backend.withStore { store in
            _ = try await store.create(Charger.self, Charger.Fields(chargePointID: "CP-F1"))
            try await store.write { sql in try await sql.raw("ALTER TABLE chargers RENAME TO chargers_gone").run() }
            let results = await store.bootChargers([
                Self.boot("CP-F1", .refuse), Self.boot("CP-F2", .register(status: "Accepted")),
            ])
            #expect(results.count == 2)
            for result in results {
                guard case .failure(let error) = result else {
                    Issue.record("a boot succeeded without its table: \(result)")
                    continue
                }
                #expect(error.code == .unavailable, "\(error)")
            }
            try await store.write { sql in try await sql.raw("ALTER TABLE chargers_gone RENAME TO chargers").run() }
            #expect(try await store.charger(chargePointID: "CP-F1")?.lastBootAt == nil)
        }
    }

    @Test("Many chargers' credentials in one read, each as the single lookup gives it", arguments: TestBackend.allCases)
    func credentials(backend: TestBackend) async throws {
        try await backend.withStore { store in
            let key = AuthorizationKeyHash(key: AuthorizationKey.generate())
            let ids = (0..<1_200).map { "CP-C\($0)" }
            for id in ids.prefix(3) {
                _ = try await store.create(Charger.self, Charger.Fields(chargePointID: id, securityProfile: 1))
            }
            try await store.setAuthorizationKey(key, chargePointID: "CP-C1", pending: false)
            // More ids than one statement takes, with a repeat.
            var found = try await store.chargerCredentials(chargePointIDs: ids + ["CP-C1"])
            #expect(found.count == 3)
            for id in ids.prefix(3) {
                #expect(try found[id]?.get() == (try await store.chargerCredentials(chargePointID: id)), "\(id)")
            }
            #expect(try found["CP-C1"]?.get().current == key)
            #expect(try await store.chargerCredentials(chargePointIDs: []).isEmpty)

            // A rotated key is what the next read gives; an unreadable hash fails only its charger.
            let rotated = AuthorizationKeyHash(key: AuthorizationKey.generate())
            try await store.setAuthorizationKey(rotated, chargePointID: "CP-C1", pending: false)
            try await store.write { sql in
                try await sql.raw("UPDATE chargers SET authorization_key_hash = 'x' WHERE charge_point_id = 'CP-C2'")
                    .run()
            }
            found = try await store.chargerCredentials(chargePointIDs: ["CP-C0", "CP-C1", "CP-C2"])
            #expect(try found["CP-C1"]?.get().current == rotated)
            #expect(try found["CP-C0"]?.get().securityProfile == 1)
            guard case .failure(let error)? = found["CP-C2"] else {
                Issue.record("an unreadable hash was read: \(String(describing: found["CP-C2"]))")
                return
            }
            #expect(error.code == .unavailable)
        }
    }
}
