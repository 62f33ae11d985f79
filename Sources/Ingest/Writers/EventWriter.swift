import CoreMetrics
import Dispatch
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle
import Synchronization
import TimeSeries

/// What to send a charger once its rows are durable.
enum Acknowledgement: Sendable {
    /// `[3,"uniqueID",{}]`: the confirmation of MeterValues, StatusNotification and the
    /// notifications, whose payload is empty.
    case empty(uniqueID: String)
    /// A CALLRESULT encoded beforehand.
    case frame(uniqueID: String, [UInt8])
    /// Another acknowledgement, sent once the coalesced effects (a StatusNotification's
    /// connector status) are handed on: a message the store refuses changes nothing.
    indirect case applying([RelationalEffect], Acknowledgement)

    var uniqueID: String {
        switch self {
        case .empty(let uniqueID), .frame(let uniqueID, _): return uniqueID
        case .applying(_, let acknowledgement): return acknowledgement.uniqueID
        }
    }
}

/// One unit of work for the event writer: the rows a message carried, and the answer its
/// connection writes once they are durable. No closure: an item costs the rows array only.
struct EventWriteItem: Sendable {
    /// Who hears that the rows are durable.
    enum Completion: Sendable {
        /// A connection, which writes `Acknowledgement` on its event loop.
        case connection(NIOLoopBound<OCPPConnectionHandler>, Acknowledgement)
        /// A caller awaiting the write (a message relayed over HTTP), called on the writer thread.
        case callback(@Sendable (Result<Void, any Error>) -> Void)
    }

    /// The rows to append.
    var rows: AppendBatch
    var completion: Completion
}

extension EventWriter {
    /// One item's outcome, handed to its connection's event loop.
    struct LoopCompletion: Sendable {
        var handler: NIOLoopBound<OCPPConnectionHandler>
        var acknowledgement: Acknowledgement
        var result: Result<Void, any Error>
    }
}

/// The clock the event writer's group-commit interval runs on.
protocol CommitClock: Sendable {
    /// Now, in nanoseconds from an origin of the clock's.
    func now() -> UInt64
    /// How long the writer may park, in real time, while it waits for `deadline`; `nil` parks
    /// it until something wakes it (a clock that moves only when told, and wakes it then).
    func parkingTime(until deadline: UInt64) -> TimeAmount?
    /// Hands the clock the writer's wake-up, to call whenever its time moves.
    func attach(wakeUp: @escaping @Sendable () -> Void)
}

/// The uptime clock, which needs nobody to wake the writer: it parks until the deadline.
struct UptimeCommitClock: CommitClock {
    func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    func parkingTime(until deadline: UInt64) -> TimeAmount? {
        let now = now()
        return .nanoseconds(deadline > now ? Int64(deadline - now) : 0)
    }

    func attach(wakeUp: @escaping @Sendable () -> Void) {}
}

/// The thread between the event loops and the time-series store: it drains everything
/// queued, appends it as one batch (one WAL record, one sync: group commit), then completes
/// each item on its own event loop, one hop per loop.
///
/// As a `Service` it runs until the service group shuts down gracefully (or is cancelled),
/// then writes everything queued and returns.
final class EventWriter: Service, @unchecked Sendable {
    private struct Lifecycle {
        var started = false
        var finished = false
        var onStopped: [CheckedContinuation<Void, Never>] = []
    }

    let queue: IngestQueue<EventWriteItem>
    private let store: TimeSeriesStore
    private let logger: Logger
    private let metrics: IngestMetrics
    private let lifecycle = Mutex(Lifecycle())
    private let stopping = Synchronization.Atomic<Bool>(false)
    /// `true` while a test holds the writer before its next batch.
    private let paused = ConditionLock<Bool>(value: false)

    /// The most items written as one batch.
    static let maximumItemsPerBatch = 16_384

    /// The least time between the starts of two commits while there is work (see
    /// `IngestConfiguration.commitIntervalMilliseconds`), on `clock`.
    private let commitInterval: UInt64
    private let clock: any CommitClock
    /// When the last commit started, on `clock` (`nil` before the first). Writer thread only.
    private var lastCommitStarted: UInt64?
    /// The items the writer holds while it waits for the commit interval to pass (tests).
    let itemsHeldForCommit = Synchronization.Atomic<Int>(0)
    /// The batches written so far (tests).
    let commits = Synchronization.Atomic<Int>(0)

    init(
        store: TimeSeriesStore,
        capacity: Int,
        commitInterval: TimeAmount,
        clock: any CommitClock = UptimeCommitClock(),
        metrics: IngestMetrics,
        logger: Logger
    ) {
        self.queue = IngestQueue(capacity: capacity)
        self.commitInterval = UInt64(max(0, commitInterval.nanoseconds))
        self.clock = clock
        self.store = store
        self.metrics = metrics
        self.logger = logger
        let queue = self.queue
        clock.attach { queue.wakeConsumer() }
    }

    /// Starts the writer thread, waits for the group's graceful shutdown (or cancellation),
    /// then writes everything queued and stops.
    func run() async {
        start()
        try? await gracefulShutdown()
        await stop()
    }

    /// Starts the writer thread (once).
    func start() {
        let first = lifecycle.withLock { lifecycle in
            defer { lifecycle.started = true }
            return !lifecycle.started
        }
        guard first else { return }
        let thread = Thread { [self] in runThread() }
        thread.name = "ocpp-event-writer"
        thread.start()
    }

    /// The id the store gave `key`'s series, if it holds it already (never waits).
    func seriesID(of key: SeriesKey) -> UInt32? {
        store.seriesID(of: key)
    }

    /// Queues `item`.
    /// - Returns: `false` when the queue is full; the caller keeps the item and waits for room.
    func submit(_ item: EventWriteItem) -> Bool {
        queue.push(item)
    }

    /// Hands `rows` to the writer and returns once they are durable (WAL synced). A full queue
    /// makes the caller wait for room (the writer resumes it as it takes items out), as a
    /// connection's reads would.
    /// - Throws: The time-series store's error when the append failed.
    func durable(_ rows: [EventRow]) async throws {
        guard !rows.isEmpty else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            submitWhenRoom(
                EventWriteItem(rows: .keyed(rows), completion: .callback { continuation.resume(with: $0) })
            )
        }
    }

    /// Queues `item` now, or as soon as the writer has made room.
    private func submitWhenRoom(_ item: EventWriteItem) {
        guard !submit(item) else { return }
        // Full: the writer calls this again once it has made room. Room made between the
        // failed push and the registration is announced here instead, or it would not be.
        queue.notifyWhenRoom { [self] in submitWhenRoom(item) }
        if queue.hasRoom { queue.wakeRoomWaiters() }
    }

    /// Stops the writer after it has written everything queued, and returns once it has
    /// (without blocking a thread of the caller's while it waits). A writer never started
    /// has nothing to write.
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let waits = lifecycle.withLock { lifecycle in
                guard lifecycle.started, !lifecycle.finished else { return false }
                lifecycle.onStopped.append(continuation)
                return true
            }
            guard waits else { return continuation.resume() }
            stopping.store(true, ordering: .releasing)
            resume()
            queue.wakeConsumer()
        }
    }

    /// Holds the writer before its next batch (tests of backpressure).
    func pause() {
        paused.lock()
        paused.unlock(withValue: true)
    }

    /// Lets a paused writer go on.
    func resume() {
        paused.lock()
        paused.unlock(withValue: false)
    }

    private func runThread() {
        var items: [EventWriteItem] = []
        items.reserveCapacity(1024)
        while true {
            paused.lock(whenValue: false)
            paused.unlock()
            queue.drain(into: &items, limit: Self.maximumItemsPerBatch)
            if !items.isEmpty { gather(into: &items) }
            metrics.queueDepth.record(queue.approximateCount)
            if items.isEmpty {
                if stopping.load(ordering: .acquiring) {
                    let waiting = lifecycle.withLock { lifecycle in
                        lifecycle.finished = true
                        defer { lifecycle.onStopped = [] }
                        return lifecycle.onStopped
                    }
                    for continuation in waiting { continuation.resume() }
                    return
                }
                // The timeout only refreshes the queue-depth gauge; pushes and `stop` wake it.
                queue.park(untilCount: 1, timeout: .milliseconds(200))
                continue
            }
            // Room was made: producers that found the queue full may go on.
            queue.wakeRoomWaiters()
            write(&items)
        }
    }

    /// Waits until `commitInterval` has passed on the clock since the last commit started,
    /// taking what arrives meanwhile, unless the batch fills or the writer is stopping first.
    /// A writer that was idle for that long commits at once. The writer parks meanwhile: the
    /// push that fills the batch (or the queue) wakes it, as do `stop` and the clock.
    private func gather(into items: inout [EventWriteItem]) {
        guard commitInterval > 0, let lastCommitStarted else { return }
        let due = lastCommitStarted &+ commitInterval
        while items.count < Self.maximumItemsPerBatch, !stopping.load(ordering: .relaxed) {
            guard clock.now() < due else { break }
            itemsHeldForCommit.store(items.count, ordering: .relaxed)
            queue.park(
                untilCount: Self.maximumItemsPerBatch - items.count,
                timeout: clock.parkingTime(until: due)
            )
            if queue.drain(into: &items, limit: Self.maximumItemsPerBatch - items.count) > 0 {
                queue.wakeRoomWaiters()
            }
        }
        itemsHeldForCommit.store(0, ordering: .relaxed)
    }

    /// Writes `items` as one batch and hands each its outcome; `items` is left empty.
    private func write(_ items: inout [EventWriteItem]) {
        let rowCount = items.reduce(0) { $0 + $1.rows.count }
        let started = DispatchTime.now().uptimeNanoseconds
        lastCommitStarted = clock.now()
        let result = Result { try store.appendBlocking(items.map(\.rows)) }
        metrics.writeLatency.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
        metrics.batchItems.record(items.count)
        metrics.batchRows.record(rowCount)
        commits.add(1, ordering: .relaxed)
        if case .failure(let error) = result {
            metrics.writeFailures.increment()
            logger.error(
                "Appending to the time-series store failed; the messages are answered with InternalError",
                metadata: ["error": "\(error)", "rows": "\(rowCount)"]
            )
        }
        // One hop per event loop, not one per item, and one pass there that answers and then
        // flushes each connection once. Only the completions travel (the rows are done with),
        // grouped by a linear search over the few loops. Each item is swapped out of the batch
        // for a placeholder that holds no reference, so the batch's copy is gone once handed on.
        var groups: [(loop: any EventLoop, completions: [LoopCompletion])] = []
        let refused = (try? result.get()) ?? [:]
        for index in items.indices {
            var item = EventWriteItem(rows: .keyed([]), completion: .callback { _ in })
            swap(&item, &items[index])
            // A message refused for a charger's series limit: nothing of it was stored.
            let itemResult: Result<Void, any Error>
            if case .failure(let error) = result {
                itemResult = .failure(error)
            } else if !refused.isEmpty, let refusal = refused[index] {
                itemResult = .failure(refusal)
            } else {
                itemResult = .success(())
            }
            switch item.completion {
            case .callback(let callback):
                callback(itemResult)
            case .connection(let handler, let acknowledgement):
                let completion = LoopCompletion(handler: handler, acknowledgement: acknowledgement, result: itemResult)
                let loop = handler.eventLoop
                if let group = groups.firstIndex(where: { $0.loop === loop }) {
                    groups[group].completions.append(completion)
                } else {
                    groups.append((loop, [completion]))
                    groups[groups.count - 1].completions.reserveCapacity(items.count - index)
                }
            }
        }
        items.removeAll(keepingCapacity: true)
        for group in groups {
            let completions = group.completions
            group.loop.execute { OCPPConnectionHandler.acknowledge(completions) }
        }
    }
}
