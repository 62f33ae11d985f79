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

/// A committed row as a live subscription sees it: the row as stored (its series by id; see
/// ``LiveSubscription/key(of:)``) and its place in commit order.
public struct LiveRow: Sendable, Hashable {
    /// The row's place in commit order among the rows committed since the store opened
    /// (rows recovered from the log on open first).
    public var position: UInt64
    public var row: StoredRow

    public init(position: UInt64, row: StoredRow) {
        self.position = position
        self.row = row
    }

    public var seriesID: UInt32 { row.seriesID }

    /// Where the row is in the history's order (what ``EventQuery/cursor`` takes).
    public var cursor: EventCursor {
        EventCursor(timestamp: row.timestamp, seriesID: row.seriesID, transactionID: row.transactionID)
    }
}

/// Rows handed to a subscriber, in commit order: runs of consecutive positions (a charger's
/// message is one run), each a range of its commit's array of rows, shared with the commit and
/// every other subscriber of it rather than copied row by row on the writer thread.
///
/// A run keeps its commit's whole array alive, so a subscriber holds runs of at most
/// ``sharedCommitLimit`` commits: past that, the rows of those runs are copied into one array of
/// its own (a subscriber read every second holds far fewer; one that falls behind holds copies
/// of its own rows, bounded by the feed's buffer limit, and the last few commits' arrays).
public struct LiveRows: Sendable, Equatable, Sequence {
    struct Run: Sendable {
        var position: UInt64
        var source: [StoredRow]
        var range: Range<Int>
    }

    /// Commits whose arrays a subscriber's runs may share before they are copied.
    static let sharedCommitLimit = 64

    var runs: [Run] = []
    /// The number of rows.
    public private(set) var count = 0
    /// The commits' arrays shared by the runs from `firstShared` on (the runs before it share
    /// copies of their own).
    private var sharedCommits = 0
    private var firstShared = 0

    public var isEmpty: Bool { count == 0 }

    /// Appends `source[range]`, whose first row is at `position`.
    mutating func append(_ source: [StoredRow], _ range: Range<Int>, position: UInt64) {
        guard !range.isEmpty else { return }
        count += range.count
        if let last = runs.last, Self.same(last.source, source) {
            if last.range.upperBound == range.lowerBound, last.position + UInt64(last.range.count) == position {
                runs[runs.count - 1].range = last.range.lowerBound..<range.upperBound
                return
            }
        } else {
            sharedCommits += 1
        }
        runs.append(Run(position: position, source: source, range: range))
        if sharedCommits > Self.sharedCommitLimit { copyShared() }
    }

    /// Whether `lhs` and `rhs` are one array (a commit's, shared), not merely equal ones.
    private static func same(_ lhs: [StoredRow], _ rhs: [StoredRow]) -> Bool {
        lhs.withUnsafeBufferPointer { left in rhs.withUnsafeBufferPointer { left.baseAddress == $0.baseAddress } }
    }

    /// Copies the rows of the runs that share commits' arrays into one array of their own.
    private mutating func copyShared() {
        var copied: [StoredRow] = []
        copied.reserveCapacity(runs[firstShared...].reduce(0) { $0 + $1.range.count })
        for index in firstShared..<runs.count {
            let start = copied.count
            let run = runs[index]
            run.source.withUnsafeBufferPointer { source in
                for row in run.range { copied.append(source[row]) }
            }
            runs[index].range = start..<copied.count
        }
        for index in firstShared..<runs.count { runs[index].source = copied }
        firstShared = runs.count
        sharedCommits = 0
    }

    /// Keeps the rows at `start` and after.
    mutating func removeBefore(_ start: UInt64) {
        var kept = LiveRows()
        for run in runs {
            let end = run.position + UInt64(run.range.count)
            guard end > start else { continue }
            let skip = run.position < start ? Int(start - run.position) : 0
            kept.append(
                run.source,
                (run.range.lowerBound + skip)..<run.range.upperBound,
                position: run.position + UInt64(skip)
            )
        }
        self = kept
    }

    public static func == (lhs: LiveRows, rhs: LiveRows) -> Bool {
        lhs.count == rhs.count && lhs.elementsEqual(rhs)
    }

    public struct Iterator: IteratorProtocol {
        let runs: [Run]
        var run = 0
        /// The current run's rows (its source taken once per run, not per row), where the next
        /// row is, where the run ends, and the next row's position.
        var source: [StoredRow] = []
        var index = 0
        var end = 0
        var position: UInt64 = 0

        public mutating func next() -> LiveRow? {
            while index == end {
                guard run < runs.count else { return nil }
                source = runs[run].source
                (index, end, position) = (runs[run].range.lowerBound, runs[run].range.upperBound, runs[run].position)
                run += 1
            }
            defer {
                index += 1
                position += 1
            }
            return LiveRow(position: position, row: source[index])
        }
    }

    public func makeIterator() -> Iterator { Iterator(runs: runs) }
}

/// What ``LiveSubscription/next(wakingAfter:)`` answers.
public enum LiveEvent: Sendable, Equatable {
    /// Rows committed since the last answer, in commit order.
    case rows(LiveRows)
    /// Nothing arrived within the wait.
    case idle
    /// The subscriber fell more than its buffer behind: it gets nothing more.
    case overflowed
    /// The store closed, or the subscription was finished.
    case closed
}

/// Hands committed rows to live subscriptions: called by the writer thread after each
/// commit, it costs an array look-up per row when no subscription wants the row's series; the
/// rows a subscriber wants are copied to it a run at a time (a charger's message is one run:
/// its rows come together and share their subscribers).
///
/// A subscriber's rows wait in a buffer of at most `bufferLimit` rows; a subscriber whose
/// buffer would grow past that is dropped (``LiveEvent/overflowed``), so a slow reader never
/// slows the writer or holds memory without bound.
final class LiveFeed: Sendable {
    /// One subscriber's state, in the feed's array of slots (changed only under its lock, in
    /// place: the writer reaches it by index, without a reference to retain per row).
    struct Subscriber {
        var id: UInt64
        var filter: LiveFilter
        /// Rows before this position are the subscriber's snapshot's, not its live rows'.
        var start: UInt64 = 0
        var pending = LiveRows()
        var ending: LiveEvent?
        var waiter: CheckedContinuation<Void, Never>?
        /// A wake that found no waiter (a cancellation just before the wait): the next wait
        /// returns at once.
        var woken = false
        /// Whether the publish under way reached it already (its waiter is resumed once).
        var reached = false
        var inUse = true

        init(id: UInt64, filter: LiveFilter) {
            self.id = id
            self.filter = filter
        }

        /// The waiter, taken.
        mutating func takeWaiter() -> CheckedContinuation<Void, Never>? {
            defer { waiter = nil }
            return waiter
        }
    }

    struct ChargePointKind: Hashable {
        var chargePointID: String
        var kind: SeriesKey.Kind
    }

    struct State {
        /// Every series' key, by id (a key is one reference).
        var keys: [SeriesKey] = []
        /// Subscribers by slot; a removed one's slot is reused.
        var slots: [Subscriber] = []
        var freeSlots: [Int] = []
        var slotOfID: [UInt64: Int] = [:]
        /// The slots of each charge point's subscribers: a series' route is worked out from its
        /// own charge point's few, not from every subscriber.
        var byChargePoint: [String: [Int]] = [:]
        var nextID: UInt64 = 0
        /// Per series id: -1 not worked out yet, 0 no subscriber, n > 0 `routes[n - 1]`, a
        /// range of `routeSlots` (kept flat: the writer walks it without copying an array).
        var routeIndex: [Int32] = []
        var routes: [(start: Int32, count: Int32)] = []
        var routeSlots: [Int32] = []
        /// The route of a charge point's series of one kind: its series share it, so the rows of
        /// one message make one run.
        var routeOfChargePoint: [ChargePointKind: Int32] = [:]
        var closed = false

        var subscriberCount: Int { slotOfID.count }

        mutating func resetRoutes() {
            routes.removeAll(keepingCapacity: true)
            routeSlots.removeAll(keepingCapacity: true)
            routeOfChargePoint.removeAll(keepingCapacity: true)
            for index in routeIndex.indices { routeIndex[index] = -1 }
        }

        /// The route of `series`' rows: 0 when no subscriber wants them, n > 0 for
        /// ``members(_:)`` (series of one charge point and kind share theirs).
        mutating func route(_ series: UInt32) -> Int32 {
            let index = Int(series)
            guard index < routeIndex.count else { return 0 }
            let known = routeIndex[index]
            if known >= 0 { return known }
            let key = keys[index]
            let shared = ChargePointKind(chargePointID: key.chargePointID, kind: key.kind)
            if let route = routeOfChargePoint[shared] {
                routeIndex[index] = route
                return route
            }
            let start = routeSlots.count
            for subscriber in byChargePoint[key.chargePointID] ?? []
            where slots[subscriber].ending == nil && slots[subscriber].filter.kinds.contains(key.kind) {
                routeSlots.append(Int32(subscriber))
            }
            var route: Int32 = 0
            if routeSlots.count > start {
                routes.append((Int32(start), Int32(routeSlots.count - start)))
                route = Int32(routes.count)
            }
            routeOfChargePoint[shared] = route
            routeIndex[index] = route
            return route
        }

        /// The range of `routeSlots` of route `route` (> 0).
        func members(_ route: Int32) -> Range<Int> {
            let entry = routes[Int(route) - 1]
            return Int(entry.start)..<Int(entry.start + entry.count)
        }

        /// Takes the subscriber in `slot` off the lists of `chargePointIDs`.
        mutating func unlink(_ slot: Int, from chargePointIDs: Set<String>) {
            for chargePointID in chargePointIDs {
                byChargePoint[chargePointID]?.removeAll { $0 == slot }
                if byChargePoint[chargePointID]?.isEmpty == true { byChargePoint[chargePointID] = nil }
            }
        }

        /// Runs `body` on the subscriber `id`'s state; `nil` when there is no such subscriber.
        mutating func with<T>(_ id: UInt64, _ body: (inout Subscriber) -> T) -> T? {
            guard let slot = slotOfID[id] else { return nil }
            return body(&slots[slot])
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

    /// The key of the series `id`, as the writer has defined it.
    func key(of id: UInt32) -> SeriesKey? {
        state.withLock { state in Int(id) < state.keys.count ? state.keys[Int(id)] : nil }
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
            guard !state.slotOfID.isEmpty else { return [] }
            var reached: [Int] = []
            /// Hands `rows[start..<end]` (one route's, consecutive) to the route's subscribers.
            func deliver(_ route: Int32, _ start: Int, _ end: Int) {
                let first = firstPosition + UInt64(start)
                for member in state.members(route) {
                    let slot = Int(state.routeSlots[member])
                    guard state.slots[slot].ending == nil else { continue }
                    // Rows before the subscriber's start are in its snapshot (published late).
                    let subscriberStart = state.slots[slot].start
                    let skip = first >= subscriberStart ? 0 : Int(min(subscriberStart - first, UInt64(end - start)))
                    guard start + skip < end else { continue }
                    state.slots[slot].pending.append(rows, (start + skip)..<end, position: first + UInt64(skip))
                    if !state.slots[slot].reached {
                        state.slots[slot].reached = true
                        reached.append(slot)
                    }
                    if state.slots[slot].pending.count > bufferLimit {
                        // Dropped: later rows skip it; its route is worked out again after this commit.
                        state.slots[slot].pending = LiveRows()
                        state.slots[slot].ending = .overflowed
                        dropped += 1
                    }
                }
            }
            var runRoute: Int32 = 0
            var runStart = 0
            for index in rows.indices {
                let route = state.route(rows[index].seriesID)
                guard route != runRoute else { continue }
                if runRoute > 0 { deliver(runRoute, runStart, index) }
                runRoute = route
                runStart = index
            }
            if runRoute > 0 { deliver(runRoute, runStart, rows.count) }
            if dropped > 0 { state.resetRoutes() }
            return reached.compactMap { slot in
                state.slots[slot].reached = false
                return state.slots[slot].takeWaiter()
            }
        }
        if dropped > 0 { metrics.liveDropped.increment(by: dropped) }
        for waiter in woken { waiter.resume() }
    }

    /// Adds a subscriber; `nil` when the store is closed or has ``maximumSubscribers``.
    func add(_ filter: LiveFilter) -> UInt64? {
        state.withLock { state in
            guard !state.closed, state.subscriberCount < maximumSubscribers else { return nil }
            let id = state.nextID
            state.nextID += 1
            let subscriber = Subscriber(id: id, filter: filter)
            let slot: Int
            if let free = state.freeSlots.popLast() {
                slot = free
                state.slots[slot] = subscriber
            } else {
                slot = state.slots.count
                state.slots.append(subscriber)
            }
            state.slotOfID[id] = slot
            for chargePointID in filter.chargePointIDs {
                state.byChargePoint[chargePointID, default: []].append(slot)
            }
            state.resetRoutes()
            metrics.liveSubscriptions.record(state.subscriberCount)
            return id
        }
    }

    /// The subscriber's filter now.
    func filter(of id: UInt64) -> LiveFilter? {
        state.withLock { state in state.with(id) { $0.filter } }
    }

    /// Makes the subscriber follow `chargePointIDs` from the next commit on: rows of a charge
    /// point it gains are handed over from then, none of one it loses.
    func follow(_ id: UInt64, _ chargePointIDs: Set<String>) {
        state.withLock { state in
            guard let slot = state.slotOfID[id] else { return }
            let old = state.slots[slot].filter.chargePointIDs
            state.unlink(slot, from: old.subtracting(chargePointIDs))
            for chargePointID in chargePointIDs.subtracting(old) {
                state.byChargePoint[chargePointID, default: []].append(slot)
            }
            state.slots[slot].filter.chargePointIDs = chargePointIDs
            state.resetRoutes()
        }
    }

    /// Sets where the subscriber's live rows begin; rows buffered before that are dropped.
    func setStart(_ id: UInt64, _ start: UInt64) {
        state.withLock { state in
            _ = state.with(id) { subscriber in
                subscriber.start = start
                subscriber.pending.removeBefore(start)
            }
        }
    }

    /// The subscriber's rows since the last call, or how it ended; `nil` when there is
    /// nothing yet.
    func take(_ id: UInt64) -> LiveEvent? {
        state.withLock { state -> LiveEvent? in
            state.with(id) { subscriber -> LiveEvent? in
                if !subscriber.pending.isEmpty {
                    var rows = LiveRows()
                    swap(&rows, &subscriber.pending)
                    return .rows(rows)
                }
                return subscriber.ending
            } ?? .closed
        }
    }

    /// Resumes `waiter` when the subscriber has rows or has ended: at once if it has.
    func wait(_ id: UInt64, _ waiter: CheckedContinuation<Void, Never>) {
        let ready = state.withLock { state -> Bool in
            state.with(id) { subscriber -> Bool in
                guard subscriber.pending.isEmpty, subscriber.ending == nil, !subscriber.woken else {
                    subscriber.woken = false
                    return true
                }
                // One waiter at a time: an earlier one (there is none in proper use) is let go.
                subscriber.takeWaiter()?.resume()
                subscriber.waiter = waiter
                return false
            } ?? true
        }
        if ready { waiter.resume() }
    }

    /// Wakes the subscriber's waiter, if any (for a timeout or a cancelled task).
    func wake(_ id: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.with(id) { subscriber -> CheckedContinuation<Void, Never>? in
                guard let waiter = subscriber.takeWaiter() else {
                    subscriber.woken = true
                    return nil
                }
                return waiter
            } ?? nil
        }
        waiter?.resume()
    }

    /// Ends the subscriber: it answers `ending` once its buffered rows are taken.
    func finish(_ id: UInt64, _ ending: LiveEvent = .closed) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            let waiter = state.with(id) { subscriber -> CheckedContinuation<Void, Never>? in
                if subscriber.ending == nil { subscriber.ending = ending }
                return subscriber.takeWaiter()
            }
            state.resetRoutes()
            return waiter ?? nil
        }
        waiter?.resume()
    }

    func remove(_ id: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let slot = state.slotOfID.removeValue(forKey: id) else { return nil }
            let waiter = state.slots[slot].takeWaiter()
            state.unlink(slot, from: state.slots[slot].filter.chargePointIDs)
            state.slots[slot] = Subscriber(id: id, filter: LiveFilter(chargePointIDs: [], kinds: []))
            state.slots[slot].inUse = false
            state.slots[slot].ending = .closed
            state.freeSlots.append(slot)
            state.resetRoutes()
            metrics.liveSubscriptions.record(state.subscriberCount)
            return waiter
        }
        waiter?.resume()
    }

    /// Ends every subscriber (the store is closing) and refuses new ones.
    func close() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.closed = true
            var waiters: [CheckedContinuation<Void, Never>] = []
            for slot in state.slots.indices where state.slots[slot].inUse {
                if state.slots[slot].ending == nil { state.slots[slot].ending = .closed }
                if let waiter = state.slots[slot].takeWaiter() { waiters.append(waiter) }
            }
            state.resetRoutes()
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    var subscriberCount: Int { state.withLock { $0.subscriberCount } }
}
