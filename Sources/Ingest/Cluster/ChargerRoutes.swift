import Synchronization

/// Which node holds a charger, as this node last looked it up: forwarding a command then
/// needs no database query while nothing has changed.
///
/// A route is only a hint that the forwarding path checks: the node it names answers 404 for
/// a charger it does not hold (and runs nothing), and a node that cannot be connected to has
/// been sent nothing; either way the route is forgotten and presence looked up again. What
/// keeps routes fresh:
/// - every new connection of a charger is announced to all nodes (the takeover channel), and
///   the announcement forgets the charger's route;
/// - while announcements are not heard (the listener is reconnecting), no route is given
///   or kept;
/// - a route is kept no longer than the node's lease held when it was looked up (and at most a
///   lease), so a node that stopped renewing is not named once the database would not name it;
/// - at most ``maximumRoutes`` are kept.
public final class ChargerRoutes: Sendable {
    /// A node holding a charger.
    public struct Route: Sendable, Equatable {
        public var nodeID: String
        public var nodeURL: String

        public init(nodeID: String, nodeURL: String) {
            self.nodeID = nodeID
            self.nodeURL = nodeURL
        }
    }

    /// The most routes kept.
    public static let maximumRoutes = 200_000

    private struct State {
        var routes: [String: (route: Route, until: ContinuousClock.Instant)] = [:]
        /// Counts every change that may make a lookup in progress stale.
        var epoch: UInt64 = 0
        /// Whether announcements are heard.
        var listening = false
    }

    private let state = Mutex(State())
    private let lifetime: Duration

    /// - Parameter lifetime: How long a route is kept: the cluster's lease.
    public init(lifetime: Duration) {
        self.lifetime = lifetime
    }

    /// The route last looked up for `chargePointID`, if it is still kept.
    public func route(for chargePointID: String) -> Route? {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard state.listening, let entry = state.routes[chargePointID] else { return nil }
            guard entry.until > now else {
                state.routes[chargePointID] = nil
                return nil
            }
            return entry.route
        }
    }

    /// When a lookup began, for ``remember(_:for:lookedUp:validity:)``.
    public struct Mark: Sendable {
        let epoch: UInt64
        let instant: ContinuousClock.Instant
    }

    /// A mark to take before looking a route up.
    public func mark() -> Mark {
        state.withLock { Mark(epoch: $0.epoch, instant: .now) }
    }

    /// Keeps `route`, looked up after `mark` was taken, unless something changed since, for
    /// `validity` from the mark (at most the lifetime).
    public func remember(_ route: Route, for chargePointID: String, lookedUp mark: Mark, validity: Duration) {
        let until = mark.instant + min(validity, lifetime)
        guard until > .now else { return }
        state.withLock { state in
            guard state.listening, state.epoch == mark.epoch else { return }
            if state.routes.count >= Self.maximumRoutes, state.routes[chargePointID] == nil {
                state.routes.removeAll(keepingCapacity: true)
            }
            state.routes[chargePointID] = (route, until)
        }
    }

    /// Forgets the route of `chargePointID` (it connected somewhere, or its route failed).
    public func forget(_ chargePointID: String) {
        state.withLock { state in
            state.epoch &+= 1
            state.routes[chargePointID] = nil
        }
    }

    /// Announcements are heard (`true`) or not (`false`: every route is forgotten).
    func setListening(_ listening: Bool) {
        state.withLock { state in
            state.epoch &+= 1
            state.listening = listening
            state.routes.removeAll()
        }
    }

    /// How many routes are kept.
    public var count: Int { state.withLock { $0.routes.count } }
}
