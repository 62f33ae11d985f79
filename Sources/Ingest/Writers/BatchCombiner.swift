import NIOCore
import Synchronization

/// Combines requests that arrive together into batches: one database round trip (and, for
/// writes, one commit) for many callers, each of which still gets its own answer only once
/// its batch is done.
///
/// There is no timer and no task of its own. A caller that finds fewer than
/// `maximumConcurrentBatches` batches running leads: it takes itself and the callers queued
/// behind it (up to `maximumBatchSize`) as one batch, runs it, answers them, and hands the
/// lead to the next queued caller, if any. A lone request is therefore run at once; under a
/// storm, requests pile up while a batch runs and go together in the next.
final class BatchCombiner<Item: Sendable, Output: Sendable>: Sendable {
    /// What a batch does: one result per item, in the items' order.
    typealias Run = @Sendable ([Item]) async -> [Result<Output, any Error>]

    private enum Turn: Sendable {
        /// The caller's batch is done.
        case done(Result<Output, any Error>)
        /// The caller leads the next batch.
        case lead
    }

    private struct Waiter: Sendable {
        let item: Item
        let continuation: CheckedContinuation<Turn, Never>
    }

    private struct State: Sendable {
        var queue = CircularBuffer<Waiter>()
        var running = 0
    }

    private let state = Mutex(State())
    private let maximumBatchSize: Int
    private let maximumConcurrentBatches: Int
    private let run: Run
    /// The batches run so far (tests and metrics read it).
    let batches = Atomic<Int>(0)

    /// - Parameters:
    ///   - maximumBatchSize: The most items in one batch (at least 1).
    ///   - maximumConcurrentBatches: The most batches running at once (at least 1).
    ///   - run: Runs one batch.
    init(maximumBatchSize: Int, maximumConcurrentBatches: Int, run: @escaping Run) {
        precondition(maximumBatchSize >= 1 && maximumConcurrentBatches >= 1)
        self.maximumBatchSize = maximumBatchSize
        self.maximumConcurrentBatches = maximumConcurrentBatches
        self.run = run
    }

    /// The callers waiting for a batch to take them.
    var queued: Int { state.withLock { $0.queue.count } }

    /// Runs `item` in a batch and returns its result.
    func submit(_ item: Item) async throws -> Output {
        let turn = await withCheckedContinuation { (continuation: CheckedContinuation<Turn, Never>) in
            let leads = state.withLock { state -> Bool in
                if state.running < maximumConcurrentBatches {
                    state.running += 1
                    return true
                }
                state.queue.append(Waiter(item: item, continuation: continuation))
                return false
            }
            if leads { continuation.resume(returning: .lead) }
        }
        switch turn {
        case .done(let result):
            return try result.get()
        case .lead:
            return try await lead(item).get()
        }
    }

    /// Runs a batch of `own` and the callers queued behind it, answers them, and passes the
    /// lead on (or gives up its slot when nobody waits).
    private func lead(_ own: Item) async -> Result<Output, any Error> {
        let followers = state.withLock { state -> [Waiter] in
            let count = min(state.queue.count, maximumBatchSize - 1)
            var taken: [Waiter] = []
            taken.reserveCapacity(count)
            for _ in 0..<count { taken.append(state.queue.removeFirst()) }
            return taken
        }
        var items = [own]
        items.reserveCapacity(followers.count + 1)
        for follower in followers { items.append(follower.item) }
        var results = await run(items)
        batches.add(1, ordering: .relaxed)
        if results.count != items.count {
            results = Array(
                repeating: .failure(BatchCombinerError.resultCountMismatch(items: items.count, results: results.count)),
                count: items.count
            )
        }
        let next = state.withLock { state -> Waiter? in
            if let next = state.queue.popFirst() { return next }
            state.running -= 1
            return nil
        }
        for (follower, result) in zip(followers, results.dropFirst()) {
            follower.continuation.resume(returning: .done(result))
        }
        next?.continuation.resume(returning: .lead)
        return results[0]
    }
}

/// A batch that answered with the wrong number of results (a programming error; every
/// caller of that batch gets it).
enum BatchCombinerError: Error, CustomStringConvertible {
    case resultCountMismatch(items: Int, results: Int)

    var description: String {
        switch self {
        case .resultCountMismatch(let items, let results):
            "a batch of \(items) items answered \(results) results"
        }
    }
}
