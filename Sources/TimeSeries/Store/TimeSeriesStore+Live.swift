/// Live subscriptions: committed rows as they are acknowledged, joined without a gap or a
/// duplicate to what was stored before.
extension TimeSeriesStore {
    /// Subscribes to the rows `filter` selects that are committed from now on.
    ///
    /// The subscription holds a snapshot taken as it starts: ``LiveSubscription/history(_:)``
    /// and ``LiveSubscription/recent(from:)`` read the rows committed before it (positions
    /// below ``LiveSubscription/start``), ``LiveSubscription/next(wakingAfter:)`` hands over
    /// every row committed after it, so that the two meet exactly.
    /// - Returns: `nil` when the store is closed or has as many subscriptions as its options allow.
    public func subscribe(_ filter: LiveFilter) -> LiveSubscription? {
        guard let id = feed.add(filter) else { return nil }
        let snapshot = snapshot()
        feed.setStart(id, snapshot.position)
        return LiveSubscription(store: self, id: id, filter: filter, snapshot: snapshot)
    }

    /// Live subscriptions open now.
    public var liveSubscriberCount: Int { feed.subscriberCount }
}

/// One subscriber's view of committed rows; see ``TimeSeriesStore/subscribe(_:)``.
public final class LiveSubscription: Sendable {
    private let store: TimeSeriesStore
    private let id: UInt64
    private let initialFilter: LiveFilter
    /// The rows it receives: as subscribed, or as ``follow(_:)`` changed them since.
    public var filter: LiveFilter { store.feed.filter(of: id) ?? initialFilter }
    private let snapshot: TimeSeriesStore.Snapshot
    /// The store's ``TimeSeriesStore/epoch``: positions of another epoch are another opening's.
    public let epoch: UInt64
    /// The position of the first row ``next(wakingAfter:)`` hands over.
    public var start: UInt64 { snapshot.position }
    /// The first position ``recent(from:)`` can still read.
    public var oldestRecent: UInt64 { snapshot.memoryPosition }

    init(store: TimeSeriesStore, id: UInt64, filter: LiveFilter, snapshot: TimeSeriesStore.Snapshot) {
        self.store = store
        self.id = id
        self.initialFilter = filter
        self.snapshot = snapshot
        self.epoch = store.epoch
    }

    deinit {
        store.feed.remove(id)
    }

    /// The pages of `query` as they were when the subscription started.
    public func history(_ query: EventQuery) -> EventPager {
        store.pages(query, in: snapshot)
    }

    /// The id of the series `key` names, as of the subscription's start.
    public func seriesID(of key: SeriesKey) -> UInt32? {
        snapshot.byChargePoint[key.chargePointID]?.first { snapshot.keys[Int($0)] == key }
    }

    /// The key of the series `id` names (a live row carries its series by id): `nil` for an id
    /// the store has not defined.
    public func key(of id: UInt32) -> SeriesKey? {
        store.feed.key(of: id)
    }

    /// The rows of the filter committed at positions from `position` up to ``start``, in
    /// commit order, from the memory tables; `nil` when some of them are no longer there (they
    /// are in segments, where commit order is not kept) or `position` lies past the start
    /// (no row there was committed yet: not a position this opening gave out).
    public func recent(from position: UInt64) -> [LiveRow]? {
        guard position >= snapshot.memoryPosition, position <= snapshot.position else { return nil }
        guard position < snapshot.position else { return [] }
        var rows: [LiveRow] = []
        var wanted: [UInt32: Bool] = [:]
        var chunkPosition = snapshot.memoryPosition
        for chunk in snapshot.memory {
            defer { chunkPosition += UInt64(chunk.count) }
            guard chunkPosition + UInt64(chunk.count) > position else { continue }
            let skip = position > chunkPosition ? Int(position - chunkPosition) : 0
            for (offset, row) in chunk.enumerated().dropFirst(skip) {
                let matches: Bool
                if let known = wanted[row.seriesID] {
                    matches = known
                } else {
                    matches = filter.matches(snapshot.keys[Int(row.seriesID)])
                    wanted[row.seriesID] = matches
                }
                guard matches else { continue }
                rows.append(LiveRow(position: chunkPosition + UInt64(offset), row: row))
            }
        }
        return rows
    }

    /// The rows committed since the last call (from ``start`` on), waiting for some; `.idle`
    /// after `timeout` without any (or when the task is cancelled).
    public func next(wakingAfter timeout: Duration) async -> LiveEvent {
        if let event = store.feed.take(id) { return event }
        let feed = store.feed
        let id = id
        let timer = Task {
            try await Task.sleep(for: timeout)
            feed.wake(id)
        }
        defer { timer.cancel() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if Task.isCancelled {
                    continuation.resume()
                } else {
                    feed.wait(id, continuation)
                }
            }
        } onCancel: {
            feed.wake(id)
        }
        return feed.take(id) ?? .idle
    }

    /// Follows the charge points `chargePointIDs` from the next commit on, instead of those it
    /// followed (a site's chargers changed): rows committed before that of a charge point it
    /// gains are not among its live rows.
    public func follow(_ chargePointIDs: Set<String>) {
        store.feed.follow(id, chargePointIDs)
    }

    /// Ends the subscription: ``next(wakingAfter:)`` answers the rows still buffered, then
    /// `ending`.
    public func finish(_ ending: LiveEvent = .closed) {
        store.feed.finish(id, ending)
    }
}
