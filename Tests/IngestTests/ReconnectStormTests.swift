import Foundation
import NIOCore
import Relational
import Synchronization
import TestSupport
import Testing

@testable import Ingest

/// What a reconnect storm relies on: boots that arrive together are recorded in one
/// transaction and each answered after it is committed; a failed transaction fails each
/// of them; credentials looked up together are still each charger's current ones.
@Suite("Reconnect storm", .serialized)
struct ReconnectStormTests {
    static let boot = #"{"chargePointVendor":"V","chargePointModel":"M"}"#

    static func connectAll(_ server: IngestTestServer, _ ids: [String]) async throws -> [TestChargePoint] {
        try await withThrowingTaskGroup(of: TestChargePoint.self) { group in
            for id in ids { group.addTask { try await server.connect(id) } }
            var chargers: [TestChargePoint] = []
            for try await charger in group { chargers.append(charger) }
            return chargers
        }
    }

    @Test("Boots that arrive together are stored in one transaction, each answered Accepted once it is committed")
    func combinedBoots() async throws {
        let server = try await IngestTestServer.start()
        let ids = (0..<40).map { "CP-STORM-\($0)" }
        for id in ids { _ = try await server.relational.create(Charger.self, Charger.Fields(chargePointID: id)) }
        let chargers = try await Self.connectAll(server, ids)
        let boots = server.ingest.services.boots
        let before = boots.batches.load(ordering: .relaxed)

        let hold = await StoreHold(server.relational)
        for (index, charger) in chargers.enumerated() {
            try await charger.send(#"[2,"boot-\#(index)","BootNotification",\#(Self.boot)]"#)
        }
        // One boot leads a batch and waits for the store; the others queue behind it.
        try await server.eventually("the boots wait behind the held store") { boots.queued == ids.count - 1 }
        for charger in chargers { #expect(!charger.hasEvent) }
        try await hold.end()

        for (index, charger) in chargers.enumerated() {
            let answer = try parse(try await charger.nextText())
            #expect(answer[0] as? Int == 3)
            #expect(answer[1] as? String == "boot-\(index)")
            #expect(try object(answer[2])["status"] as? String == "Accepted")
        }
        // The leader's batch, then all the others in one.
        #expect(boots.batches.load(ordering: .relaxed) - before == 2)
        for id in ids {
            let charger = try #require(try await server.relational.charger(chargePointID: id))
            #expect(charger.vendor == "V" && charger.lastBootAt != nil, "\(id)")
        }
        for charger in chargers { await charger.close() }
        await server.stop()
    }

    @Test("When the batch's transaction fails, each boot waiting for it is answered InternalError; the next boot works")
    func failedBatch() async throws {
        let server = try await IngestTestServer.start()
        let ids = (0..<12).map { "CP-FAIL-\($0)" }
        for id in ids { _ = try await server.relational.create(Charger.self, Charger.Fields(chargePointID: id)) }
        let chargers = try await Self.connectAll(server, ids)
        let boots = server.ingest.services.boots

        // The held transaction takes the chargers table away as it commits: the batch behind it fails.
        let hold = await StoreHold(server.relational, then: ["ALTER TABLE chargers RENAME TO chargers_elsewhere"])
        for (index, charger) in chargers.enumerated() {
            try await charger.send(#"[2,"boot-\#(index)","BootNotification",\#(Self.boot)]"#)
        }
        try await server.eventually("the boots wait behind the held store") { boots.queued == ids.count - 1 }
        try await hold.end()
        for (index, charger) in chargers.enumerated() {
            let answer = try parse(try await charger.nextText())
            #expect(answer[0] as? Int == 4, "\(answer)")
            #expect(answer[1] as? String == "boot-\(index)")
            #expect(answer[2] as? String == "InternalError")
        }
        try await server.relational.executeRawSQL("ALTER TABLE chargers_elsewhere RENAME TO chargers")
        #expect(try await server.relational.charger(chargePointID: ids[0])?.lastBootAt == nil)
        let answer = try await chargers[0].call("again", "BootNotification", Self.boot)
        #expect(try object(answer[2])["status"] as? String == "Accepted")
        for charger in chargers { await charger.close() }
        await server.stop()
    }

    @Test("Credentials looked up together: each charger's own key opens it, and a rotated key stops working at once")
    func rotationUnderConcurrentLookups() async throws {
        let server = try await IngestTestServer.start()
        let ids = (0..<16).map { "CP-ROT-\($0)" }
        var oldKeys: [String: AuthorizationKey] = [:]
        var newKeys: [String: AuthorizationKey] = [:]
        for id in ids {
            _ = try await server.relational.create(Charger.self, Charger.Fields(chargePointID: id, securityProfile: 1))
            oldKeys[id] = AuthorizationKey.generate()
            newKeys[id] = AuthorizationKey.generate()
            try await server.relational.setAuthorizationKey(
                AuthorizationKeyHash(key: oldKeys[id]!),
                chargePointID: id,
                pending: false
            )
        }
        let port = server.port
        /// Connects every charger at once with the keys given; the HTTP status of each (101: upgraded).
        func attempt(_ keys: [String: AuthorizationKey], swapped: Bool = false) async throws -> [String: Int] {
            try await withThrowingTaskGroup(of: (String, Int).self) { group in
                for (index, id) in ids.enumerated() {
                    // `swapped`: each charger sends its neighbour's key.
                    let key = keys[swapped ? ids[(index + 1) % ids.count] : id]!
                    group.addTask {
                        let outcome = try await SecureChargePoint.connect(
                            port: port,
                            id: id,
                            authorization: SecureChargePoint.basic(id, key.bytes)
                        )
                        switch outcome {
                        case .upgraded(let charger):
                            await charger.close()
                            return (id, 101)
                        case .refused(let status, _, _):
                            return (id, status)
                        }
                    }
                }
                var statuses: [String: Int] = [:]
                for try await (id, status) in group { statuses[id] = status }
                return statuses
            }
        }
        let lookups = server.ingest.services.credentials
        let before = lookups.batches.load(ordering: .relaxed)
        #expect(try await attempt(oldKeys) == Dictionary(uniqueKeysWithValues: ids.map { ($0, 101) }))
        #expect(try await attempt(oldKeys, swapped: true) == Dictionary(uniqueKeysWithValues: ids.map { ($0, 401) }))
        #expect(lookups.batches.load(ordering: .relaxed) > before)

        for id in ids {
            try await server.relational.setAuthorizationKey(
                AuthorizationKeyHash(key: newKeys[id]!),
                chargePointID: id,
                pending: false
            )
        }
        #expect(try await attempt(oldKeys) == Dictionary(uniqueKeysWithValues: ids.map { ($0, 401) }))
        #expect(try await attempt(newKeys) == Dictionary(uniqueKeysWithValues: ids.map { ($0, 101) }))

        // Lookups held behind the store while their chargers' keys are rotated in the holding
        // transaction see the rotated keys: the old ones are refused.
        let rotated = Dictionary(uniqueKeysWithValues: ids.map { ($0, AuthorizationKey.generate()) })
        let hold = await StoreHold(
            server.relational,
            then: ids.map { id in
                "UPDATE chargers SET authorization_key_hash = '\(AuthorizationKeyHash(key: rotated[id]!).encoded)' "
                    + "WHERE charge_point_id = '\(id)'"
            }
        )
        let waiting = Task { try await attempt(newKeys) }
        try await server.eventually("the lookups wait behind the held store") { lookups.queued >= ids.count - 1 }
        try await hold.end()
        #expect(try await waiting.value == Dictionary(uniqueKeysWithValues: ids.map { ($0, 401) }))
        #expect(try await attempt(rotated) == Dictionary(uniqueKeysWithValues: ids.map { ($0, 101) }))
        await server.stop()
    }
}
