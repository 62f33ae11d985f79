import Foundation
import TestSupport
import Testing

@testable import Relational

@Suite("Entities and integrity")
struct EntityTests {
    @Test("Create, get, update, modify, list and delete a company", arguments: TestBackend.allCases)
    func companyLifecycle(backend: TestBackend) async throws {
        try await backend.withStore { store in
            let created = try await store.create(Company.self, .init(name: "Northwind Charging"))
            #expect(created.name == "Northwind Charging")
            #expect(try await store.get(Company.self, id: created.id) == created)

            let renamed = try await store.update(Company.self, id: created.id, .init(name: "Northwind EV"))
            #expect(renamed.name == "Northwind EV")
            #expect(renamed.updatedAt >= created.updatedAt)
            let modified = try await store.modify(Company.self, id: created.id) { $0.name += " GmbH" }
            #expect(modified.name == "Northwind EV GmbH")

            let page = try await store.list(Company.self)
            #expect(page.total == 1)
            #expect(page.items.map(\.id) == [created.id])

            try await store.delete(Company.self, id: created.id)
            await expectStoreError(.notFound) { _ = try await store.get(Company.self, id: created.id) }
            await expectStoreError(.notFound) { try await store.delete(Company.self, id: created.id) }
            await expectStoreError(.notFound) { _ = try await store.update(Company.self, id: 999, .init(name: "x")) }
        }
    }

    @Test("Integrity errors come back typed", arguments: TestBackend.allCases)
    func integrity(backend: TestBackend) async throws {
        try await backend.withStore { store in
            let company = try await store.create(Company.self, .init(name: "Acme"))
            await expectStoreError(.conflict) { _ = try await store.create(Company.self, .init(name: "Acme")) }
            await expectStoreError(.invalidReference) {
                _ = try await store.create(Site.self, .init(companyID: company.id + 1000, name: "Depot"))
            }
            await expectStoreError(.invalidValue) {
                _ = try await store.create(RFIDCard.self, .init(idTag: String(repeating: "7", count: 21)))
            }
            await expectStoreError(.invalidValue) {
                _ = try await store.create(RFIDCard.self, .init(idTag: "CARD1", status: "Bogus"))
            }
            await expectStoreError(.invalidValue) {
                _ = try await store.create(Site.self, .init(companyID: company.id, name: "North Pole", latitude: 91))
            }
            await expectStoreError(.invalidValue) {
                _ = try await store.create(Charger.self, .init(chargePointID: "CP1", registrationStatus: "Maybe"))
            }
            _ = try await store.create(RFIDCard.self, .init(idTag: "CARD1"))
            let second = try await store.create(RFIDCard.self, .init(idTag: "CARD2"))
            await expectStoreError(.conflict) {
                _ = try await store.update(RFIDCard.self, id: second.id, .init(idTag: "CARD1"))
            }
            #expect(try await store.get(RFIDCard.self, id: second.id).idTag == "CARD2")
        }
    }

    @Test("Deleting a referenced row is refused unless the caller cascades", arguments: TestBackend.allCases)
    func deleteAndCascade(backend: TestBackend) async throws {
        try await backend.withStore { store in
            let company = try await store.create(Company.self, .init(name: "Acme"))
            let site = try await store.create(Site.self, .init(companyID: company.id, name: "Depot", city: "Berlin"))
            let driver = try await store.create(Driver.self, .init(companyID: company.id, name: "Ada"))
            let card = try await store.create(RFIDCard.self, .init(idTag: "ADA-1", driverID: driver.id))
            let charger = try await store.create(Charger.self, .init(siteID: site.id, chargePointID: "CP-1"))
            let connector = try await store.create(Connector.self, .init(chargerID: charger.id, connectorID: 1))
            let session = try await store.startSession(
                .init(chargePointID: "CP-1", connectorID: 1, idTag: "ADA-1", meterStart: 100, timestamp: Date())
            )

            await expectStoreError(.stillReferenced) { try await store.delete(Company.self, id: company.id) }
            await expectStoreError(.stillReferenced) { try await store.delete(Charger.self, id: charger.id) }
            // Nothing was deleted by the refused attempts.
            #expect(try await store.get(Site.self, id: site.id).name == "Depot")

            try await store.delete(Company.self, id: company.id, cascade: true)
            await expectStoreError(.notFound) { _ = try await store.get(Site.self, id: site.id) }
            await expectStoreError(.notFound) { _ = try await store.get(Driver.self, id: driver.id) }
            // Optional references are cleared, not deleted.
            #expect(try await store.get(Charger.self, id: charger.id).siteID == nil)
            #expect(try await store.get(RFIDCard.self, id: card.id).driverID == nil)
            #expect(try await store.get(ChargeSession.self, id: Int64(session)).driverID == nil)

            try await store.delete(Charger.self, id: charger.id, cascade: true)
            await expectStoreError(.notFound) { _ = try await store.get(Connector.self, id: connector.id) }
            await expectStoreError(.notFound) { _ = try await store.get(ChargeSession.self, id: Int64(session)) }
        }
    }

    @Test("Lists paginate, filter and sort", arguments: TestBackend.allCases)
    func listing(backend: TestBackend) async throws {
        try await backend.withStore { store in
            for number in 1...25 {
                _ = try await store.create(
                    Charger.self,
                    .init(chargePointID: String(format: "CP-%03d", number), vendor: number % 2 == 0 ? "Even" : "Odd")
                )
            }
            let lastPage = try await store.list(Charger.self, ListQuery(limit: 10, offset: 20))
            #expect(lastPage.total == 25)
            #expect(lastPage.items.map(\.chargePointID) == (21...25).map { String(format: "CP-%03d", $0) })

            let one = try await store.list(
                Charger.self,
                ListQuery(filters: [.init("charge_point_id", .text("CP-007"))])
            )
            #expect(one.total == 1)
            #expect(one.items.first?.chargePointID == "CP-007")

            let even = try await store.list(
                Charger.self,
                ListQuery(
                    limit: 3,
                    filters: [.init("vendor", .text("Even"))],
                    sortColumn: "charge_point_id",
                    ascending: false
                )
            )
            #expect(even.total == 12)
            #expect(even.items.map(\.chargePointID) == ["CP-024", "CP-022", "CP-020"])

            await expectStoreError(.invalidValue) { _ = try await store.list(Charger.self, ListQuery(limit: 0)) }
            await expectStoreError(.invalidValue) { _ = try await store.list(Charger.self, ListQuery(offset: -1)) }
        }
    }
}
