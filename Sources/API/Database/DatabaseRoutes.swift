import Hummingbird
import Ingest
import Relational

/// The database CRUD endpoints under `/db/`: companies, sites, chargers, connectors,
/// drivers, RFID cards and charge sessions, and the nested `/db/companies/{company_id}/sites/`
/// and `/db/companies/{company_id}/sites/{site_id}/chargers/`.
enum DatabaseRoutes {
    /// Every resource, in the order the documentation lists them.
    static let resources: [Resource] = [
        .companies, .sites, .chargers, .connectors, .drivers, .rfidCards, .chargeSessions, .reservations,
        .chargingProfiles,
    ]

    /// Every collection the router serves, flat or nested.
    static let collections: [(Resource, ResourceScope)] = [
        (.companies, .flat), (.sites, .flat), (.sites, companySites), (.chargers, .flat), (.chargers, siteChargers),
        (.connectors, .flat), (.drivers, .flat), (.rfidCards, .flat), (.chargeSessions, .flat),
        (.reservations, .flat), (.chargingProfiles, .flat),
    ]

    static func register(
        on router: Router<APIRequestContext>,
        store: RelationalStore,
        authorizations: AuthorizationCache?
    ) {
        ResourceRoutes(Company.self, .companies, store: store).register(on: router)
        let sites = ResourceRoutes(Site.self, .sites, store: store)
        sites.register(on: router)
        sites.register(on: router, scope: companySites)
        let chargers = ResourceRoutes(Charger.self, .chargers, store: store)
        chargers.register(on: router)
        chargers.register(on: router, scope: siteChargers)
        ResourceRoutes(Connector.self, .connectors, store: store).register(on: router)
        ResourceRoutes(Driver.self, .drivers, store: store).register(on: router)
        // Authorize answers from a cache: a card's change must reach it before the response.
        ResourceRoutes(RFIDCard.self, .rfidCards, store: store) { before, after in
            for idTag in Set([before?.idTag, after?.idTag].compactMap { $0 }) {
                authorizations?.invalidate(idTag: idTag)
            }
        }.register(on: router)
        ResourceRoutes(ChargeSession.self, .chargeSessions, store: store).register(on: router)
        ResourceRoutes(Reservation.self, .reservations, store: store).register(on: router)
        ResourceRoutes(ChargingProfileRecord.self, .chargingProfiles, store: store).register(on: router)
    }

    /// `/db/companies/{company_id}/sites/`: the company's sites.
    static let companySites = ResourceScope(prefix: "/db/companies/:company_id", parameters: ["company_id"]) {
        parameters,
        company,
        store in
        let companyID = parameters["company_id"]!
        _ = try await store.get(Company.self, id: companyID, company: company)
        return ["company_id": companyID]
    }

    /// `/db/companies/{company_id}/sites/{site_id}/chargers/`: the chargers at one of the company's sites.
    static let siteChargers = ResourceScope(
        prefix: "/db/companies/:company_id/sites/:site_id",
        parameters: ["company_id", "site_id"]
    ) { parameters, company, store in
        let companyID = parameters["company_id"]!
        let siteID = parameters["site_id"]!
        _ = try await store.get(Company.self, id: companyID, company: company)
        let site = try await store.get(Site.self, id: siteID, company: company)
        guard site.companyID == companyID else {
            throw RelationalStoreError(
                code: .notFound,
                message: "site \(siteID) does not belong to company \(companyID)"
            )
        }
        return ["site_id": siteID]
    }
}
