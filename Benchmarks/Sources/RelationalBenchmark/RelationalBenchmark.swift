import Foundation
import Logging
import Relational

/// Measures the relational store's two hot write paths on one database:
/// session starts per second (many concurrent StartTransactions, one transaction each) and
/// coalesced connector-status upserts per second (batches in one transaction each).
///
/// Usage: relational-benchmark DATABASE_URL [rounds]
/// The database must be empty or hold only this benchmark's earlier data (it is migrated).
@main
enum RelationalBenchmark {
    static func main() async throws {
        let arguments = CommandLine.arguments.dropFirst()
        guard let urlText = arguments.first else {
            print("usage: relational-benchmark DATABASE_URL [rounds]")
            exit(2)
        }
        let rounds = arguments.dropFirst().first.flatMap(Int.init) ?? 3
        var logger = Logger(label: "relational-benchmark")
        logger.logLevel = .warning
        let store = try await RelationalStore(url: try DatabaseURL(urlText), maximumConnections: 16, logger: logger)
        try await store.migrate()
        let run = UUID().uuidString.prefix(8)

        var startRates: [Double] = []
        var upsertRates: [Double] = []
        for round in 0..<rounds {
            startRates.append(try await sessionStarts(store, prefix: "\(run)-\(round)", count: 4_000, concurrency: 32))
            upsertRates.append(try await statusUpserts(store, prefix: "\(run)-\(round)", batches: 40, batchSize: 500))
        }
        await store.shutdown()
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        print("database: \(store.dialect)")
        print("session starts/s: median \(Int(median(startRates))) of \(startRates.map { Int($0) })")
        print("connector-status upserts/s: median \(Int(median(upsertRates))) of \(upsertRates.map { Int($0) })")
    }

    static func sessionStarts(
        _ store: RelationalStore,
        prefix: String,
        count: Int,
        concurrency: Int
    ) async throws
        -> Double
    {
        let base = Date()
        let clock = ContinuousClock()
        let elapsed = try await clock.measure {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<concurrency {
                    group.addTask {
                        for index in stride(from: worker, to: count, by: concurrency) {
                            _ = try await store.startSession(
                                SessionStart(
                                    chargePointID: "\(prefix)-CP-\(index % 500)",
                                    connectorID: 1 + index % 2,
                                    idTag: "TAG\(index % 1000)",
                                    meterStart: Int64(index),
                                    timestamp: base.addingTimeInterval(Double(index))
                                )
                            )
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        return Double(count) / elapsed.seconds
    }

    static func statusUpserts(
        _ store: RelationalStore,
        prefix: String,
        batches: Int,
        batchSize: Int
    ) async throws
        -> Double
    {
        let statuses = ["Available", "Preparing", "Charging", "SuspendedEV", "Finishing"]
        let base = Date()
        let clock = ContinuousClock()
        let elapsed = try await clock.measure {
            for batch in 0..<batches {
                let updates = (0..<batchSize).map { index in
                    ConnectorStatusUpdate(
                        chargePointID: "\(prefix)-CP-\(index / 2)",
                        connectorID: 1 + index % 2,
                        status: statuses[(batch + index) % statuses.count],
                        errorCode: "NoError",
                        timestamp: base.addingTimeInterval(Double(batch))
                    )
                }
                try await store.upsertConnectorStatuses(updates)
            }
        }
        return Double(batches * batchSize) / elapsed.seconds
    }
}

extension Duration {
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
