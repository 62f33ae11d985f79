import Synchronization

/// Times of receipt that never repeat for one charger: each is a millisecond after the
/// charger's one before at the earliest. Events are stamped with their time of receipt and
/// the store keys rows by (series, time), so two messages of one charger in one millisecond
/// would otherwise overwrite each other. (A WebSocket connection keeps its own; this one
/// serves the messages relayed through the REST API, which may arrive concurrently.)
final class ReceiptClock: Sendable {
    private struct State {
        var last: [String: Int64] = [:]
        var prunedAt: Int64 = .min
    }

    private let state = Mutex(State())
    /// Above this many chargers, those not heard from for a second are forgotten (once a
    /// second at most).
    private let pruneAbove: Int

    init(pruneAbove: Int = 10_000) {
        self.pruneAbove = pruneAbove
    }

    /// The time of receipt of a message of `chargePointID` received at `now` (milliseconds).
    func receipt(of chargePointID: String, at now: Int64) -> Int64 {
        state.withLock { state in
            let time = max(now, (state.last[chargePointID] ?? .min) + 1)
            state.last[chargePointID] = time
            if state.last.count > pruneAbove, now - state.prunedAt >= 1000 {
                state.last = state.last.filter { $0.value >= now - 1000 }
                state.prunedAt = now
            }
            return time
        }
    }
}
