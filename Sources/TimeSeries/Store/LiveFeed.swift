import CoreMetrics
import Synchronization

/// Which rows a live subscription receives: those of some charge points' series of some kinds.
public struct LiveFilter: Sendable, Hashable {
    public var chargePointIDs: Set<String>
    public var kinds: Set<SeriesKey.Kind>

    public init(chargePointIDs: Set<String>, kinds: Set<SeriesKey.Kind> = [.sample, .status]) {
        self.chargePointIDs = chargePointIDs
        self.kinds = kinds
    }

    func matches(_ key: SeriesKey) -> Bool {
        kinds.contains(key.kind) && chargePointIDs.contains(key.chargePointID)
    }
}

/// A committed row as a live subscription sees it.
public struct LiveRow: Sendable, Hashable {
    /// The row's place in commit order among the rows committed since the store opened
    /// (rows recovered from the log on open first).
    public var position: UInt64
    public var seriesID: UInt32
    public var row: EventRow

    /// Where the row is in the history's order (what ``EventQuery/cursor`` takes).
    public var cursor: EventCursor {
        EventCursor(timestamp: row.timestamp, seriesID: seriesID, transactionID: row.transactionID)
    }
}

/// What ``LiveSubscription/next(wakingAfter:)`` answers.
public enum LiveEvent: Sendable, Equatable {
    /// Rows committed since the last answer, in commit order.
    case rows([LiveRow])
    /// Nothing arrived within the wait.
    case idle
    /// The subscriber fell more than its buffer behind: it gets nothing more.
    case overflowed
    /// The store closed, or the subscription was finished.
    case closed
}

/// Hands committed rows to live subscriptions: called by the writer thread after each
/// commit, it costs an array look-up per row when no subscription wants the row's series.
///
/// A subscriber's rows wait in a buffer of at most `bufferLimit` rows; a subscriber whose
/// buffer would grow past that is dropped (``LiveEvent/overflowed``), so a slow reader never
/// slows the writer or holds memory without bound.
final class LiveFeed: Sendable {
    /// One subscriber's state, changed only under the feed's lock (a reference, so that rows
    /// are appended to its buffer in place: a copy of the struct would copy the buffer).
    final class Subscriber {
        let id: UInt64
        let filter: LiveFilter
        /// Rows before this position are the subscriber's snapshot's, not its live rows'.
        var start: UInt64 = 0
        var pending: [LiveRow] = []
        var ending: LiveEvent?
        var waiter: CheckedContinuation<Void, Never>?
        /// A wake that found no waiter (a cancellation just before the wait): the next wait
        /// returns at once.
        var woken = false
        /// Whether the publish under way reached it already (its waiter is resumed once).
        var reached = false

        init(id: UInt64, filter: LiveFilter) {
            self.id = id
            self.filter = filter
        }

        /// The waiter, taken.
        func takeWaiter() -> CheckedContinuation<Void, Never>? {
            defer { waiter = nil }
            return waiter
        }
    }

    struct State {
        /// Every series' key, by id (a key is one reference).
        var keys: [SeriesKey] = []
        var subscribers: [UInt64: Subscriber] = [:]
        /// The subscribers of each charge point: a series' route is worked out from its own
        /// charge point's few, not from every subscriber.
        var byChargePoint: [String: [Subscriber]] = [:]
        var nextID: UInt64 = 0
        /// Per series id: -1 not worked out yet, 0 no subscriber, n > 0 `routes[n - 1]`.
        var routeIndex: [Int32] = []
        var routes: [[Subscriber]] = []
        var closed = false

        mutating func resetRoutes() {
            routes.removeAll(keepingCapacity: true)
            for index in routeIndex.indices { routeIndex[index] = -1 }
        }

        mutating func route(_ series: UInt32) -> [Subscriber]? {
            let index = Int(series)
            guard index < routeIndex.count else { return nil }
            var slot = routeIndex[index]
            if slot < 0 {
                let key = keys[index]
                let wanting = (byChargePoint[key.chargePointID] ?? []).filter {
                    $0.ending == nil && $0.filter.kinds.contains(key.kind)
                }
                if wanting.isEmpty {
                    slot = 0
                } else {
                    routes.append(wanting)
                    slot = Int32(routes.count)
                }
                routeIndex[index] = slot
            }
            return slot == 0 ? nil : routes[Int(slot) - 1]
        }
    }

    let state = Mutex(State())
    let bufferLimit: Int
    let maximumSubscribers: Int
    let metrics: TimeSeriesMetrics

    init(bufferLimit: Int, maximumSubscribers: Int, metrics: TimeSeriesMetrics) {
        self.bufferLimit = bufferLimit
        self.maximumSubscribers = maximumSubscribers
        self.metrics = metrics
    }

    /// The series defined before the writer started (the dictionary and the recovered log).
    func seed(_ keys: [SeriesKey]) {
        state.withLock { state in
            state.keys = keys
            state.routeIndex = Array(repeating: -1, count: keys.count)
        }
    }

    /// Rows just committed, the first at `firstPosition`, with the series their commit defined.
    /// Writer thread only.
    func publish(_ rows: [StoredRow], firstPosition: UInt64, newSeries: [(UInt32, SeriesKey)]) {
        var dropped = 0
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            for (id, key) in newSeries where Int(id) == state.keys.count {
                state.keys.append(key)
                state.routeIndex.append(-1)
            }
            guard !state.subscribers.isEmpty else { return [] }
            var reached: [Subscriber] = []
            var position = firstPosition
            for row in rows {
                defer { position += 1 }
                guard let route = state.route(row.seriesID) else { continue }
                let live = LiveRow(
                    position: position,
                    seriesID: row.seriesID,
                    row: EventRow(
                        series: state.keys[Int(row.seriesID)],
                        timestamp: row.timestamp,
                        value: row.value,
                        transactionID: row.transactionID
                    )
                )
                for subscriber in route {
                    // A row before the subscriber's start is in its snapshot (published late).
                    guard subscriber.ending == nil, position >= subscriber.start else { continue }
                    subscriber.pending.append(live)
                    if !subscriber.reached {
                        subscriber.reached = true
                        reached.append(subscriber)
                    }
                    if subscriber.pending.count > bufferLimit {
                        subscriber.pending = []
                        subscriber.ending = .overflowed
                        state.resetRoutes()
                        dropped += 1
                    }
                }
            }
            return reached.compactMap { subscriber in
                subscriber.reached = false
                return subscriber.takeWaiter()
            }
        }
        if dropped > 0 { metrics.liveDropped.increment(by: dropped) }
        for waiter in woken { waiter.resume() }
    }

    /// Adds a subscriber; `nil` when the store is closed or has ``maximumSubscribers``.
    func add(_ filter: LiveFilter) -> UInt64? {
        state.withLock { state in
            guard !state.closed, state.subscribers.count < maximumSubscribers else { return nil }
            let id = state.nextID
            state.nextID += 1
            let subscriber = Subscriber(id: id, filter: filter)
            state.subscribers[id] = subscriber
            for chargePointID in filter.chargePointIDs {
                state.byChargePoint[chargePointID, default: []].append(subscriber)
            }
            state.resetRoutes()
            metrics.liveSubscriptions.record(state.subscribers.count)
            return id
        }
    }

    /// Sets where the subscriber's live rows begin; rows buffered before that are dropped.
    func setStart(_ id: UInt64, _ start: UInt64) {
        state.withLock { state in
            guard let subscriber = state.subscribers[id] else { return }
            subscriber.start = start
            subscriber.pending.removeAll { $0.position < start }
        }
    }

    /// The subscriber's rows since the last call, or how it ended; `nil` when there is
    /// nothing yet.
    func take(_ id: UInt64) -> LiveEvent? {
        state.withLock { state -> LiveEvent? in
            guard let subscriber = state.subscribers[id] else { return .closed }
            if !subscriber.pending.isEmpty {
                let rows = subscriber.pending
                subscriber.pending = []
                return .rows(rows)
            }
            return subscriber.ending
        }
    }

    /// Resumes `waiter` when the subscriber has rows or has ended: at once if it has.
    func wait(_ id: UInt64, _ waiter: CheckedContinuation<Void, Never>) {
        let ready = state.withLock { state -> Bool in
            guard let subscriber = state.subscribers[id] else { return true }
            guard subscriber.pending.isEmpty, subscriber.ending == nil, !subscriber.woken else {
                subscriber.woken = false
                return true
            }
            // One waiter at a time: an earlier one (there is none in proper use) is let go.
            subscriber.takeWaiter()?.resume()
            subscriber.waiter = waiter
            return false
        }
        if ready { waiter.resume() }
    }

    /// Wakes the subscriber's waiter, if any (for a timeout or a cancelled task).
    func wake(_ id: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let subscriber = state.subscribers[id] else { return nil }
            guard let waiter = subscriber.takeWaiter() else {
                subscriber.woken = true
                return nil
            }
            return waiter
        }
        waiter?.resume()
    }

    /// Ends the subscriber: it answers `ending` once its buffered rows are taken.
    func finish(_ id: UInt64, _ ending: LiveEvent = .closed) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let subscriber = state.subscribers[id] else { return nil }
            if subscriber.ending == nil { subscriber.ending = ending }
            state.resetRoutes()
            return subscriber.takeWaiter()
        }
        waiter?.resume()
    }

    func remove(_ id: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let removed = state.subscribers.removeValue(forKey: id) else { return nil }
            for chargePointID in removed.filter.chargePointIDs {
                state.byChargePoint[chargePointID]?.removeAll { $0 === removed }
                if state.byChargePoint[chargePointID]?.isEmpty == true {
                    state.byChargePoint[chargePointID] = nil
                }
            }
            state.resetRoutes()
            metrics.liveSubscriptions.record(state.subscribers.count)
            return removed.takeWaiter()
        }
        waiter?.resume()
    }

    /// Ends every subscriber (the store is closing) and refuses new ones.
    func close() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.closed = true
            var waiters: [CheckedContinuation<Void, Never>] = []
            for subscriber in state.subscribers.values {
                if subscriber.ending == nil { subscriber.ending = .closed }
                if let waiter = subscriber.takeWaiter() { waiters.append(waiter) }
            }
            state.resetRoutes()
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    var subscriberCount: Int { state.withLock { $0.subscribers.count } }
}
