import Foundation
import Logging
import Relational

/// Phase "load", relational side, through the Relational library on the server's embedded
/// default database: a company, its sites, the chargers (each with its connectors) and every
/// charge session, completed, with the register readings the time-series side shows.
/// Sessions are inserted one by one in transaction-id order, so each row's id is the
/// transactionId its samples carry (what `/db/charge_sessions/{id}/meter-values` looks up).
struct FleetRelational {
    let shape: FleetShape
    let databaseURL: String

    struct Result {
        var seconds = 0.0
        var sessionSeconds = 0.0
        var companyID: Int64 = 0
        var siteIDs: ClosedRange<Int64> = 0...0
        var chargerIDs: ClosedRange<Int64> = 0...0
    }

    func run() async throws -> Result {
        var logger = Logger(label: "fleet-benchmark")
        logger.logLevel = .warning
        let store = try await RelationalStore(url: try DatabaseURL(databaseURL), logger: logger)
        do {
            let result = try await write(store)
            await store.shutdown()
            return result
        } catch {
            await store.shutdown()
            throw error
        }
    }

    private func write(_ store: RelationalStore) async throws -> Result {
        var result = Result()
        let started = ProcessFigures.now()
        try await store.migrate()
        let company = try await store.create(Company.self, Company.Fields(name: "Fleet benchmark"))
        result.companyID = company.id
        var siteIDs: [Int64] = []
        for site in 0..<shape.sites {
            let created = try await store.create(
                Site.self,
                Site.Fields(companyID: company.id, name: "Site \(site + 1)", country: "DE", timeZone: "Europe/Berlin")
            )
            siteIDs.append(created.id)
        }
        result.siteIDs = siteIDs[0]...siteIDs[siteIDs.count - 1]
        var chargerIDs: [Int64] = []
        for charger in 0..<shape.chargers {
            let created = try await store.create(
                Charger.self,
                Charger.Fields(
                    siteID: siteIDs[charger / shape.siteSize],
                    chargePointID: shape.chargePointID(charger),
                    vendor: "Fleet",
                    model: "Benchmark"
                )
            )
            chargerIDs.append(created.id)
            for connector in 1...shape.connectors {
                _ = try await store.create(
                    Connector.self,
                    Connector.Fields(chargerID: created.id, connectorID: connector)
                )
            }
        }
        result.chargerIDs = chargerIDs[0]...chargerIDs[chargerIDs.count - 1]

        let sessionsStarted = ProcessFigures.now()
        var registers = (0..<shape.chargers).map { charger in
            (1...shape.connectors).map { shape.initialRegister(charger: charger, connector: $0) }
        }
        for day in 0..<shape.days {
            for charger in 0..<shape.chargers {
                for connector in 1...shape.connectors {
                    for session in shape.sessions(day: day, charger: charger, connector: connector) {
                        let meterStart = registers[charger][connector - 1]
                        registers[charger][connector - 1] += session.energy
                        let expected = shape.transactionID(
                            day: day,
                            charger: charger,
                            connector: connector,
                            slot: session.slot
                        )
                        let start = shape.sampleTime(day: day, minute: session.firstMinute, charger: charger) - 20_000
                        let stop =
                            shape.sampleTime(day: day, minute: session.endMinute - 1, charger: charger) + 20_000
                        let created = try await store.create(
                            ChargeSession.self,
                            ChargeSession.Fields(
                                chargerID: chargerIDs[charger],
                                connectorID: connector,
                                idTag: "TAG\(charger % 5000)",
                                meterStart: meterStart,
                                meterStop: meterStart + session.energy,
                                startTime: Date(timeIntervalSince1970: Double(start) / 1000),
                                stopTime: Date(timeIntervalSince1970: Double(stop) / 1000),
                                stopReason: "EVDisconnected",
                                status: "completed",
                                energyWh: session.energy
                            )
                        )
                        guard created.id == Int64(expected) else {
                            throw FleetError(
                                "charge session got id \(created.id) where its samples carry transactionId \(expected): "
                                    + "the database was not empty"
                            )
                        }
                    }
                }
            }
        }
        result.sessionSeconds = ProcessFigures.now() - sessionsStarted
        result.seconds = ProcessFigures.now() - started
        return result
    }
}

struct FleetError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
