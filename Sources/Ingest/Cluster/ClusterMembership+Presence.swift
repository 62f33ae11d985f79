import CoreMetrics
import Foundation
import Logging
import NIOWebSocket
import Relational
import Synchronization

extension ClusterMembership {
    /// Chargers written at once (each its own transaction, on its own pooled connection).
    static let concurrentWrites = 8
    /// How long a stopping node keeps writing what is pending before it leaves (leaving ends
    /// its presence and intervals anyway).
    static let flushOnStop = Duration.seconds(5)
    /// How long the takeover listener waits before listening again after its connection failed.
    static let listenRetryDelay = Duration.seconds(1)
    /// The shortest time between two looks for work while writes fail or all wait out a
    /// backoff: a look goes through every charger waiting, and changes keep ringing.
    static let pacing = Duration.milliseconds(50)
    /// The close reason a connection taken over by another node gets.
    static let takenOverReason = "replaced by a newer connection through another node"

    // MARK: - Writing

    /// Writes what the ledger holds until the group shuts down and it is written (or
    /// ``flushOnStop`` has passed); compares rows with the registry every lease period.
    func writePresence() async {
        var nextReconcile = ContinuousClock.now + reconcileInterval
        var stopDeadline: ContinuousClock.Instant?
        // Set after a batch with failures, or a look that found only chargers waiting out a backoff.
        var paced = false
        while true {
            if paced { try? await Task.sleep(for: Self.pacing) }
            let now = ContinuousClock.now
            if stopping.load(ordering: .relaxed) {
                let deadline = stopDeadline ?? now + Self.flushOnStop
                stopDeadline = deadline
                let pending = presence.ledger.withLock { $0.pendingCount }
                guard pending > 0, now < deadline else { return }
            } else if reconcileRequested.exchange(false, ordering: .relaxed) || now >= nextReconcile {
                await reconcile()
                nextReconcile = ContinuousClock.now + reconcileInterval
            }
            let (work, pending, retry) = presence.ledger.withLock { ledger in
                (ledger.take(limit: Self.concurrentWrites, now: now), ledger.pendingCount, ledger.nextRetry)
            }
            presencePending.record(pending)
            guard !work.isEmpty else {
                paced = pending > 0
                var wake = min(nextReconcile, retry ?? nextReconcile)
                if let stopDeadline { wake = min(wake, stopDeadline) }
                await presence.doorbell.wait(until: wake)
                continue
            }
            let failures = await withTaskGroup(of: (any Error)?.self) { group in
                for item in work { group.addTask { await self.write(item) } }
                var failures: [any Error] = []
                for await case let error? in group { failures.append(error) }
                return failures
            }
            paced = !failures.isEmpty
            if let first = failures.first {
                logger.warning(
                    "Recording chargers' presence failed; retried with a backoff",
                    metadata: ["chargers": "\(failures.count)", "error": "\(first)"]
                )
            }
        }
    }

    /// Writes one charger's work and reports the outcome to the ledger.
    /// - Returns: The error, when the write failed.
    private func write(_ work: ChargerPresenceLedger.Work) async -> (any Error)? {
        do {
            let outcome = try await store.applyChargerPresence(work.change, nodeID: settings.nodeID)
            let followup = presence.ledger.withLock { $0.completed(work, outcome: outcome) }
            if case .closeStale(let chargePointID, let serial) = followup {
                closeTakenOver(chargePointID, olderThan: nil, serial: serial)
            }
            return nil
        } catch {
            presence.ledger.withLock { $0.failed(work, now: .now) }
            presenceFailures.increment()
            statistics.failures.add(1, ordering: .relaxed)
            return error
        }
    }

    // MARK: - Reconciliation

    /// Compares this node's presence rows and open intervals with what it holds, marks what
    /// differs to be written again, and ends the open intervals nothing here knows of.
    func reconcile() async {
        do {
            let rows = try await store.presence(ofNode: settings.nodeID)
            let open = try await store.openResidencies(ofNode: settings.nodeID)
            let (orphans, reasserted) = presence.ledger.withLock {
                $0.reconcile(rows: rows, openResidencies: open)
            }
            try await store.endResidencies(orphans, ofNode: settings.nodeID, at: Date())
            statistics.reconciliations.add(1, ordering: .relaxed)
            if reasserted > 0 || !orphans.isEmpty {
                presenceReconciled.increment(by: Int64(reasserted))
                statistics.reconciled.add(reasserted, ordering: .relaxed)
                statistics.orphansEnded.add(orphans.count, ordering: .relaxed)
                logger.notice(
                    "Presence differed from the chargers this node holds; writing it again",
                    metadata: ["presence_rows": "\(reasserted)", "open_intervals_ended": "\(orphans.count)"]
                )
            }
        } catch {
            logger.warning(
                "Comparing presence with the chargers this node holds failed; tried again next lease",
                metadata: ["error": "\(error)"]
            )
        }
    }

    // MARK: - Takeovers

    /// Hears takeover announcements until cancelled, listening again after a failure (and
    /// then reconciling: announcements made meanwhile were not heard).
    func listenForTakeovers() async {
        while !Task.isCancelled {
            do {
                try await store.listenForChargerTakeovers(
                    listening: { [self] in
                        listening.store(true, ordering: .relaxed)
                        routes.setListening(true)
                        reconcileRequested.store(true, ordering: .relaxed)
                        presence.doorbell.ring()
                    },
                    received: { [self] takeover in heard(takeover) }
                )
            } catch {
                if !Task.isCancelled {
                    logger.warning(
                        "Listening for charger takeovers failed; listening again",
                        metadata: ["error": "\(error)"]
                    )
                }
            }
            listening.store(false, ordering: .relaxed)
            routes.setListening(false)
            try? await Task.sleep(for: Self.listenRetryDelay)
        }
    }

    /// Closes this node's connection of the charger another node announced, if it is older.
    func heard(_ takeover: ChargerTakeover) {
        routes.forget(takeover.chargePointID)
        guard takeover.nodeID != settings.nodeID else { return }
        closeTakenOver(takeover.chargePointID, olderThan: takeover.connectedAtMicroseconds, serial: nil)
    }

    /// Closes the registry's connection of `chargePointID`: the one numbered `serial`, or any
    /// that began before `olderThan` (microseconds since 1970). A newer one is left alone.
    func closeTakenOver(_ chargePointID: String, olderThan: Int64?, serial: UInt64?) {
        guard let registry = registry.withLock({ $0 }),
            let identity = try? ChargePointID(chargePointID),
            let session = registry.session(for: identity)
        else { return }
        if let serial, session.serial != serial { return }
        if let olderThan, ChargerTakeover.microseconds(session.connectedSince) >= olderThan { return }
        takeovers.increment()
        statistics.takeovers.add(1, ordering: .relaxed)
        logger.notice(
            "Another node holds a newer connection of the charger; closing this one",
            metadata: ["charge_point_id": "\(chargePointID)"]
        )
        session.close(code: .policyViolation, reason: Self.takenOverReason)
    }
}
