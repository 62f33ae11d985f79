import CoreMetrics
import Foundation
import Logging
import Protocol
import Relational
import ServiceLifecycle
import Synchronization

/// The batched relational side effects of the hot messages: each connector's current status
/// (StatusNotification) and each charger's last-seen time (Heartbeat). Updates are merged in
/// memory (only the latest per connector or charger matters) and written in one transaction
/// every few milliseconds, so ten thousand chargers do not cost ten thousand transactions.
///
/// The status history itself goes to the time-series store with a durable acknowledgement;
/// this is the "current state" table, and a failed flush is retried with the updates merged.
///
/// As a `Service` it flushes while the group runs and once more, everything, when the group
/// shuts down; while nothing is pending it waits for the next update without a timer.
final class RelationalCoalescer: Service, Sendable {
    fileprivate struct Pending {
        var statuses: [String: ConnectorStatusUpdate] = [:]
        var lastSeen: [String: Date] = [:]
        var isEmpty: Bool { statuses.isEmpty && lastSeen.isEmpty }
    }

    fileprivate struct State {
        var pending = Pending()
        /// The flusher, while it waits for an update.
        var waiter: CheckedContinuation<Void, Never>?
        var cancelled = false
        var lastSeenWritten = ContinuousClock.now
    }

    private let store: RelationalStore
    private let logger: Logger
    private let metrics: IngestMetrics
    private let state = Mutex(State())
    private let interval: Duration
    /// Last-seen times are written at most this often: a heartbeat's time needs no
    /// millisecond freshness, and every transaction costs SQLite a sync.
    private let lastSeenInterval: Duration = .seconds(1)

    init(store: RelationalStore, interval: Duration = .milliseconds(5), metrics: IngestMetrics, logger: Logger) {
        self.store = store
        self.interval = interval
        self.metrics = metrics
        self.logger = logger
    }

    /// Records a connector's status (the latest by timestamp wins). NUL characters, which
    /// PostgreSQL text cannot hold, become U+FFFD here; the status event in the time-series
    /// store keeps the exact text.
    func status(_ update: ConnectorStatusUpdate) {
        var update = update
        if update.hasNUL {
            update.info = update.info.map(Self.replacingNUL)
            update.vendorID = update.vendorID.map(Self.replacingNUL)
            update.vendorErrorCode = update.vendorErrorCode.map(Self.replacingNUL)
        }
        let key = "\(update.chargePointID)\u{0}\(update.connectorID)"
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let existing = state.pending.statuses[key], existing.timestamp > update.timestamp { return nil }
            state.pending.statuses[key] = update
            return state.takeWaiter()
        }
        waiter?.resume()
    }

    /// Records that a charger was seen at `time`. Only the first pending time wakes the
    /// flusher, which then waits until last-seen times are due.
    func seen(_ chargePointID: String, at time: Date) {
        let waiter = state.withLock { state in
            let first = state.pending.lastSeen.isEmpty
            state.pending.lastSeen[chargePointID] = max(state.pending.lastSeen[chargePointID] ?? time, time)
            return first ? state.takeWaiter() : nil
        }
        waiter?.resume()
    }

    /// Flushes `interval` after updates arrive until the group shuts down gracefully (or the
    /// task is cancelled), then once more (everything). A graceful shutdown only ends the
    /// wait: a write under way finishes, never cancelled halfway.
    func run() async {
        await withGracefulShutdownHandler { [self] in
            while !Task.isCancelled, !state.withLock({ $0.cancelled }) {
                await waitForUpdates()
                // Let what follows the first update merge into the same transaction.
                try? await Task.sleep(for: interval)
                if !(await flush()) { try? await Task.sleep(for: .milliseconds(500)) }
            }
        } onGracefulShutdown: { [self] in
            stopWaiting()
        }
        await flushRemaining()
    }

    /// The last flush, retried a few times: what it cannot write is lost from the
    /// current-state tables (the status events themselves are durable in the time-series store).
    private func flushRemaining() async {
        for _ in 0..<Self.finalAttempts {
            if await flush(everything: true) { return }
            try? await Task.sleep(for: .milliseconds(200))
        }
        let (statuses, lastSeen) = state.withLock { ($0.pending.statuses.count, $0.pending.lastSeen.count) }
        logger.error(
            "Connector statuses and last-seen times pending at shutdown could not be written",
            metadata: ["statuses": "\(statuses)", "last_seen": "\(lastSeen)", "attempts": "\(Self.finalAttempts)"]
        )
    }

    private static let finalAttempts = 10

    /// Ends the flusher's wait for good.
    private func stopWaiting() {
        state.withLock { state in
            state.cancelled = true
            return state.takeWaiter()
        }?.resume()
    }

    /// Returns once a status is pending, last-seen times are pending and due, or the task is
    /// cancelled. Pending last-seen times that are not due yet set a timer for when they are
    /// (a timed wait, not a poll): a status arriving meanwhile still wakes it at once.
    private func waitForUpdates() async {
        var timer: Task<Void, Never>?
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let (ready, due) = state.withLock { state -> (Bool, ContinuousClock.Instant?) in
                    if state.cancelled || !state.pending.statuses.isEmpty { return (true, nil) }
                    var due: ContinuousClock.Instant?
                    if !state.pending.lastSeen.isEmpty {
                        let instant = state.lastSeenWritten + lastSeenInterval
                        if instant <= .now { return (true, nil) }
                        due = instant
                    }
                    state.waiter = continuation
                    return (false, due)
                }
                if ready {
                    continuation.resume()
                } else if let due {
                    timer = Task { [self] in
                        try? await Task.sleep(until: due, clock: .continuous)
                        state.withLock { $0.takeWaiter() }?.resume()
                    }
                }
            }
        } onCancel: {
            stopWaiting()
        }
        timer?.cancel()
    }

    /// Writes the pending statuses, and the last-seen times when they are due (or `everything`).
    /// - Returns: Whether nothing failed; what failed is pending again.
    @discardableResult
    func flush(everything: Bool = false) async -> Bool {
        let now = ContinuousClock.now
        let batch = state.withLock { state -> Pending in
            var taken = Pending(statuses: state.pending.statuses)
            state.pending.statuses = [:]
            if everything || now - state.lastSeenWritten >= lastSeenInterval {
                taken.lastSeen = state.pending.lastSeen
                state.pending.lastSeen = [:]
                state.lastSeenWritten = now
            }
            return taken
        }
        guard !batch.isEmpty else { return true }
        do {
            try await store.upsertConnectorStatuses(Array(batch.statuses.values))
            try await store.updateLastSeen(batch.lastSeen.map { (chargePointID: $0.key, time: $0.value) })
        } catch let error as RelationalStoreError where error.code == .invalidValue {
            // One update the schema refuses (a negative connector id, say) must not hold back
            // every other charger's: write them one by one and drop only those refused.
            return await isolate(batch)
        } catch {
            metrics.relationalFlushFailures.increment()
            logger.warning(
                "Writing connector statuses and last-seen times failed; retrying",
                metadata: ["error": "\(error)"]
            )
            // Put them back unless newer ones arrived meanwhile.
            for update in batch.statuses.values { status(update) }
            for (chargePointID, time) in batch.lastSeen { seen(chargePointID, at: time) }
            return false
        }
        return true
    }

    /// Writes `batch` update by update, dropping those the database refuses.
    /// - Returns: Whether nothing else failed; what failed is pending again.
    private func isolate(_ batch: Pending) async -> Bool {
        var succeeded = true
        for update in batch.statuses.values {
            do {
                try await store.upsertConnectorStatuses([update])
            } catch let error as RelationalStoreError where error.code == .invalidValue {
                metrics.relationalRowsRefused.increment()
                logger.error(
                    "A connector status the database refuses was dropped from the current-status table (the status event is stored)",
                    metadata: [
                        "charge_point_id": "\(update.chargePointID)", "connector_id": "\(update.connectorID)",
                        "error": "\(error)",
                    ]
                )
            } catch {
                status(update)
                succeeded = false
            }
        }
        do {
            try await store.updateLastSeen(batch.lastSeen.map { (chargePointID: $0.key, time: $0.value) })
        } catch {
            for (chargePointID, time) in batch.lastSeen { seen(chargePointID, at: time) }
            succeeded = false
        }
        return succeeded
    }

    private static func replacingNUL(_ text: String) -> String {
        text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}")
    }
}

extension RelationalCoalescer.State {
    /// The waiting flusher, if any, now no longer waiting.
    fileprivate mutating func takeWaiter() -> CheckedContinuation<Void, Never>? {
        defer { waiter = nil }
        return waiter
    }
}

extension ConnectorStatusUpdate {
    /// The connector's current status a StatusNotification states, as of `timestamp` (ms).
    init(_ request: StatusNotificationRequest, chargePointID: String, at timestamp: Int64) {
        self.init(
            chargePointID: chargePointID,
            connectorID: request.connectorId,
            status: request.status.rawValue,
            errorCode: request.errorCode.rawValue,
            info: request.info,
            vendorID: request.vendorId,
            vendorErrorCode: request.vendorErrorCode,
            timestamp: Date(timeIntervalSince1970: Double(timestamp) / 1000)
        )
    }

    /// Whether a free-text field holds NUL (status and error code are schema enumerations).
    /// Every StatusNotification asks: no array, no scalar decoding.
    fileprivate var hasNUL: Bool {
        info?.utf8.contains(0) == true || vendorID?.utf8.contains(0) == true
            || vendorErrorCode?.utf8.contains(0) == true
    }
}
