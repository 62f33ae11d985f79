import Foundation
import Synchronization

/// A connection opening or closing, as the presence writer records it.
enum ChargerPresenceEvent: Sendable {
    /// Connection `serial` of `chargePointID` was accepted at `at`.
    case connected(serial: UInt64, chargePointID: String, at: Date)
    /// Connection `serial` closed at `at`; `current`: no newer connection had replaced it.
    case disconnected(serial: UInt64, chargePointID: String, at: Date, current: Bool)
}

/// Hands presence changes to the writer without waiting: they go into the ledger (coalesced
/// per charger, so it never holds more than the chargers) and wake the writer.
///
/// The registry records under its own lock, so the ledger sees a charger's changes in the
/// order the registry made them, and its holders are the registry's connections.
final class ChargerPresenceSink: Sendable {
    let ledger = Mutex(ChargerPresenceLedger())
    let doorbell = Doorbell()

    func record(_ event: ChargerPresenceEvent) {
        ledger.withLock { ledger in
            switch event {
            case .connected(let serial, let chargePointID, let at):
                ledger.connected(serial: serial, chargePointID: chargePointID, at: at)
            case .disconnected(let serial, let chargePointID, let at, _):
                ledger.disconnected(serial: serial, chargePointID: chargePointID, at: at)
            }
        }
        doorbell.ring()
    }
}

/// Wakes one waiting task; a ring while none waits is kept (once) for the next wait.
final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func ring() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.rung = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Waits for a ring, or until `deadline`.
    func wait(until deadline: ContinuousClock.Instant) async {
        let timer = Task { [self] in
            guard (try? await Task.sleep(until: deadline)) != nil else { return }
            ring()
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let rung = state.withLock { state -> Bool in
                if state.rung {
                    state.rung = false
                    return true
                }
                state.waiter = continuation
                return false
            }
            if rung { continuation.resume() }
        }
        timer.cancel()
    }
}

/// Counts of the presence writer's work, for tests and logs (the metrics carry the same).
final class ClusterPresenceStatistics: Sendable {
    /// Charger writes that failed.
    let failures = Atomic<Int>(0)
    /// Presence rows reconciliation found wrong and wrote again.
    let reconciled = Atomic<Int>(0)
    /// Open intervals nothing knew of, ended by reconciliation.
    let orphansEnded = Atomic<Int>(0)
    /// Connections closed because another node took their charger over.
    let takeovers = Atomic<Int>(0)
    /// Reconciliations done.
    let reconciliations = Atomic<Int>(0)
}
