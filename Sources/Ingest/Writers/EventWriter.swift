import CoreMetrics
import Dispatch
import Foundation
import Logging
import NIOCore
import TimeSeries

/// What to send a charger once its rows are durable.
enum Acknowledgement: Sendable {
    /// `[3,"uniqueID",{}]`: the confirmation of MeterValues, StatusNotification and the
    /// notifications, whose payload is empty.
    case empty(uniqueID: String)
    /// A CALLRESULT encoded beforehand.
    case frame(uniqueID: String, [UInt8])

    var uniqueID: String {
        switch self {
        case .empty(let uniqueID), .frame(let uniqueID, _): return uniqueID
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

/// The thread between the event loops and the time-series store: it drains everything
/// queued, appends it as one batch (one WAL record, one sync: group commit), then completes
/// each item on its own event loop, one hop per loop.
final class EventWriter: @unchecked Sendable {
    let queue: IngestQueue<EventWriteItem>
    private let store: TimeSeriesStore
    private let logger: Logger
    private let metrics: IngestMetrics
    private var onStopped: (@Sendable () -> Void)?
    private let stateLock = NSLock()
    private var stopping = false
    private var paused = false
    private let resumed = NSCondition()

    /// The most items written as one batch.
    static let maximumItemsPerBatch = 16_384

    /// The least time between the starts of two commits while there is work (see
    /// `IngestConfiguration.commitIntervalMilliseconds`).
    private let commitInterval: UInt64
    /// When the last commit started (uptime nanoseconds).
    private var lastCommitStarted: UInt64 = 0

    init(
        store: TimeSeriesStore,
        capacity: Int,
        commitInterval: TimeAmount,
        metrics: IngestMetrics,
        logger: Logger
    ) {
        self.queue = IngestQueue(capacity: capacity)
        self.commitInterval = UInt64(max(0, commitInterval.nanoseconds))
        self.store = store
        self.metrics = metrics
        self.logger = logger
    }

    /// Starts the writer thread.
    func start() {
        let thread = Thread { [self] in run() }
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

    /// Stops the writer after it has written everything queued, and returns once it has
    /// (without blocking a thread of the caller's while it waits).
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            stateLock.withLock {
                stopping = true
                onStopped = { continuation.resume() }
            }
            resume()
            queue.wakeConsumer()
        }
    }

    /// Holds the writer before its next batch (tests of backpressure).
    func pause() {
        resumed.withLock { paused = true }
    }

    /// Lets a paused writer go on.
    func resume() {
        resumed.withLock {
            paused = false
            resumed.broadcast()
        }
    }

    private func run() {
        var items: [EventWriteItem] = []
        items.reserveCapacity(1024)
        while true {
            resumed.withLock {
                while paused { resumed.wait() }
            }
            queue.drain(into: &items, limit: Self.maximumItemsPerBatch)
            if !items.isEmpty { gather(into: &items) }
            metrics.queueDepth.record(queue.approximateCount)
            if items.isEmpty {
                if let onStopped = stateLock.withLock({ stopping ? onStopped : nil }) {
                    onStopped()
                    return
                }
                queue.waitForElement(timeout: .now() + .milliseconds(200))
                continue
            }
            // Room was made: producers that found the queue full may go on.
            queue.wakeRoomWaiters()
            write(items)
            items.removeAll(keepingCapacity: true)
        }
    }

    /// Waits until `commitInterval` has passed since the last commit started, taking what
    /// arrives meanwhile, unless the batch fills or the writer is stopping first. A writer
    /// that was idle for that long commits at once.
    private func gather(into items: inout [EventWriteItem]) {
        guard commitInterval > 0 else { return }
        let due = lastCommitStarted + commitInterval
        while items.count < Self.maximumItemsPerBatch {
            let now = DispatchTime.now().uptimeNanoseconds
            guard now < due, !stateLock.withLock({ stopping }) else { break }
            // Short naps, so that a batch that fills early is written early.
            var pause = timespec(tv_sec: 0, tv_nsec: Int(min(due - now, 500_000)))
            nanosleep(&pause, nil)
            if queue.drain(into: &items, limit: Self.maximumItemsPerBatch - items.count) > 0 {
                queue.wakeRoomWaiters()
            }
        }
    }

    private func write(_ items: [EventWriteItem]) {
        let rowCount = items.reduce(0) { $0 + $1.rows.count }
        let started = DispatchTime.now().uptimeNanoseconds
        lastCommitStarted = started
        let result: Result<Void, any Error> = Result { try store.appendBlocking(items.map(\.rows)) }
        metrics.writeLatency.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
        metrics.batchItems.record(items.count)
        metrics.batchRows.record(rowCount)
        if case .failure(let error) = result {
            metrics.writeFailures.increment()
            logger.error(
                "Appending to the time-series store failed; the messages are answered with InternalError",
                metadata: ["error": "\(error)", "rows": "\(rowCount)"]
            )
        }
        // One hop per event loop, not one per item; only the completions travel (the rows
        // are done with), grouped by a linear search over the few loops.
        var groups: [(loop: any EventLoop, completions: [(NIOLoopBound<OCPPConnectionHandler>, Acknowledgement)])] =
            []
        for item in items {
            switch item.completion {
            case .callback(let callback):
                callback(result)
            case .connection(let handler, let acknowledgement):
                let loop = handler.eventLoop
                if let index = groups.firstIndex(where: { $0.loop === loop }) {
                    groups[index].completions.append((handler, acknowledgement))
                } else {
                    groups.append((loop, [(handler, acknowledgement)]))
                    groups[groups.count - 1].completions.reserveCapacity(items.count)
                }
            }
        }
        for group in groups {
            let completions = group.completions
            group.loop.execute {
                for (handler, acknowledgement) in completions {
                    handler.value.acknowledge(acknowledgement, result)
                }
            }
        }
    }
}
