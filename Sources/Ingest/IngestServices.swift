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
}
