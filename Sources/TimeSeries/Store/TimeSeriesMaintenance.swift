import CoreMetrics
public import Logging
import NIOConcurrencyHelpers
public import ServiceLifecycle
import Synchronization

/// The store's background maintenance as a long-lived part of the server: a pass at start and
/// then every ``TimeSeriesOptions/maintenanceInterval`` (see
/// ``TimeSeriesStore/maintain(now:shouldStop:)``) on a thread of its own, so neither an event
/// loop nor the store's writer waits for it. A pass that fails is logged and counted
/// (`ocpp_ts_maintenance_failures_total`), and the next one tries again.
///
/// In a service group it must come after the store (it stops first on graceful shutdown,
/// ending a pass between two merges).
public final class TimeSeriesMaintenance: Service, Sendable {
    public let store: TimeSeriesStore
    /// Time between two passes.
    public let interval: Duration
    let clock: TimeSeriesClock
    let logger: Logger
    let observer: (@Sendable (Result<MaintenanceReport, any Error>) -> Void)?
    /// True once the service is stopping.
    private let stopping = ConditionLock(value: false)
    private let stopRequested = Atomic(false)

    /// - Parameters:
    ///   - interval: Time between passes; the store's ``TimeSeriesOptions/maintenanceInterval``
    ///     when `nil`.
    ///   - clock: The time of day retention measures from.
    ///   - logger: Told of failed passes; the store's logger when `nil`.
    ///   - observer: Told the outcome of every pass, on the maintenance thread.
    public init(
        store: TimeSeriesStore,
        interval: Duration? = nil,
        clock: TimeSeriesClock = .system,
        logger: Logger? = nil,
        observer: (@Sendable (Result<MaintenanceReport, any Error>) -> Void)? = nil
    ) {
        self.store = store
        self.interval = interval ?? store.options.maintenanceInterval
        self.clock = clock
        self.logger = logger ?? store.logger
        self.observer = observer
    }

    /// Runs passes until graceful shutdown (or cancellation), then waits for the one running
    /// to end, without blocking a thread of the concurrency runtime.
    public func run() async throws {
        let thread = StoreThread(name: "ocpp-ts-maint", priority: .background) { self.loop() }
        try? await gracefulShutdown()
        stopRequested.store(true, ordering: .relaxed)
        stopping.lock()
        stopping.unlock(withValue: true)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            StoreThread {
                thread.join()
                continuation.resume()
            }.detach()
        }
    }

    private func loop() {
        let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
        while true {
            pass()
            if stopping.lock(whenValue: true, timeoutSeconds: max(seconds, 0.001)) {
                stopping.unlock()
                return
            }
        }
    }

    private func pass() {
        let result = Result {
            try store.maintain(now: clock.now()) { stopRequested.load(ordering: .relaxed) }
        }
        switch result {
        case .success(let report):
            store.metrics.maintenancePasses.increment()
            if report != MaintenanceReport() {
                logger.debug(
                    "Time-series maintenance pass",
                    metadata: [
                        "dropped_partitions": "\(report.droppedPartitions)",
                        "merged_segments": "\(report.mergedSegments)",
                        "written_segments": "\(report.writtenSegments)",
                        "merged_rows": "\(report.mergedRows)",
                    ]
                )
            }
        case .failure(let error):
            store.metrics.maintenanceFailures.increment()
            logger.error(
                "Time-series maintenance pass failed; the next pass tries again",
                metadata: ["error": "\(error)"]
            )
        }
        observer?(result)
    }
}
