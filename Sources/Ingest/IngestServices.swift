import Logging
import Relational
import TimeSeries

/// What every connection handler shares: configuration, the writers, the stores.
struct IngestServices: Sendable {
    let configuration: IngestConfiguration
    let relational: RelationalStore
    let events: EventWriter
    let coalescer: RelationalCoalescer
    let authorizations: AuthorizationCache
    let registry: ConnectionRegistry
    let metrics: IngestMetrics
    let logger: Logger
    /// Limits repeated fault lines per charger.
    let faultLog = FaultLogLimiter()
    /// BootNotifications that arrive together are recorded in one transaction (one commit).
    let boots: BatchCombiner<ChargerBoot, String?>
    /// Upgrades that arrive together look their chargers' credentials up in one query.
    let credentials: BatchCombiner<String, ChargerCredentials?>

    init(
        configuration: IngestConfiguration,
        relational: RelationalStore,
        events: EventWriter,
        coalescer: RelationalCoalescer,
        authorizations: AuthorizationCache,
        registry: ConnectionRegistry,
        metrics: IngestMetrics,
        logger: Logger
    ) {
        self.configuration = configuration
        self.relational = relational
        self.events = events
        self.coalescer = coalescer
        self.authorizations = authorizations
        self.registry = registry
        self.metrics = metrics
        self.logger = logger
        // SQLite has one connection: one batch at a time, as large as the queue behind it.
        // A PostgreSQL pool runs a few side by side.
        let concurrentBatches = relational.dialect == .sqlite ? 1 : Self.postgresConcurrentBatches
        boots = BatchCombiner(maximumBatchSize: Self.maximumBootBatch, maximumConcurrentBatches: concurrentBatches) {
            batch in
            await relational.bootChargers(batch).map { $0.mapError { $0 as any Error } }
        }
        credentials = BatchCombiner(
            maximumBatchSize: Self.maximumCredentialBatch,
            maximumConcurrentBatches: concurrentBatches
        ) { chargePointIDs in
            do {
                let found = try await relational.chargerCredentials(chargePointIDs: chargePointIDs)
                return chargePointIDs.map { id in
                    guard let credentials = found[id] else { return .success(nil) }
                    return credentials.map { Optional($0) }.mapError { $0 as any Error }
                }
            } catch {
                return Array(repeating: .failure(error), count: chargePointIDs.count)
            }
        }
    }

    /// The most boots in one transaction.
    static let maximumBootBatch = 1000
    /// The most credential lookups in one query.
    static let maximumCredentialBatch = 500
    /// Batches of each kind running at once on PostgreSQL.
    static let postgresConcurrentBatches = 4
}
