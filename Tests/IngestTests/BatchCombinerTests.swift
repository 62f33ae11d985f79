import Foundation
import Synchronization
import TestSupport
import Testing

@testable import Ingest

/// The combiner that turns requests arriving together into batches (the reconnect storm's
/// boots and credential lookups).
@Suite("Batch combiner")
struct BatchCombinerTests {
    /// A batch runner that records what it ran, can be held at its start, and says which
    /// items it has finished (the "commit").
    final class Runner: Sendable {
        struct State {
            var batches: [[Int]] = []
            var finished: Set<Int> = []
            var running = 0
            var mostRunning = 0
            var held = false
            var heldRuns: [CheckedContinuation<Void, Never>] = []
        }

        let state = Mutex(State())

        func hold() { state.withLock { $0.held = true } }

        func release() {
            let waiting = state.withLock { state in
                state.held = false
                defer { state.heldRuns = [] }
                return state.heldRuns
            }
            for run in waiting { run.resume() }
        }

        func run(_ items: [Int], fail: (Int) -> Bool) async -> [Result<String, any Error>] {
            state.withLock { state in
                state.batches.append(items)
                state.running += 1
                state.mostRunning = max(state.mostRunning, state.running)
            }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let wait = state.withLock { state in
                    if state.held { state.heldRuns.append(continuation) }
                    return state.held
                }
                if !wait { continuation.resume() }
            }
            await Task.yield()
            state.withLock { state in
                state.finished.formUnion(items)
                state.running -= 1
            }
            return items.map { fail($0) ? .failure(TestError(item: $0)) : .success("item \($0)") }
        }

        var batches: [[Int]] { state.withLock { $0.batches } }
        func isFinished(_ item: Int) -> Bool { state.withLock { $0.finished.contains(item) } }
        var mostRunning: Int { state.withLock { $0.mostRunning } }
    }

    struct TestError: Error, Equatable { let item: Int }

    static func eventually(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting until \(what)") }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    @Test("A lone request runs at once, in a batch of its own")
    func lone() async throws {
        let runner = Runner()
        let combiner = BatchCombiner<Int, String>(maximumBatchSize: 10, maximumConcurrentBatches: 1) {
            await runner.run($0) { _ in false }
        }
        #expect(try await combiner.submit(7) == "item 7")
        #expect(try await combiner.submit(8) == "item 8")
        #expect(runner.batches == [[7], [8]])
        #expect(combiner.queued == 0)
    }

    @Test("Requests that arrive while a batch runs go together in the next; each gets its own answer after its batch")
    func combined() async throws {
        let runner = Runner()
        let combiner = BatchCombiner<Int, String>(maximumBatchSize: 50, maximumConcurrentBatches: 1) {
            await runner.run($0) { $0 % 7 == 3 }
        }
        runner.hold()
        let first = Task { try await combiner.submit(0) }
        try await Self.eventually("the first batch runs") { runner.batches.count == 1 }
        let answers = await withTaskGroup(of: (Int, Result<String, TestError>, Bool).self) { group in
            for item in 1...120 {
                group.addTask {
                    do {
                        let answer = try await combiner.submit(item)
                        return (item, .success(answer), runner.isFinished(item))
                    } catch {
                        return (item, .failure(error as! TestError), runner.isFinished(item))
                    }
                }
            }
            while combiner.queued < 120 { try? await Task.sleep(for: .milliseconds(2)) }
            runner.release()
            var answers: [(Int, Result<String, TestError>, Bool)] = []
            for await answer in group { answers.append(answer) }
            return answers
        }
        #expect(try await first.value == "item 0")
        #expect(answers.count == 120)
        for (item, result, finished) in answers {
            // Answered only once its batch was done, with its own outcome.
            #expect(finished, "item \(item) was answered before its batch finished")
            if item % 7 == 3 {
                #expect(result == .failure(TestError(item: item)))
            } else {
                #expect(result == .success("item \(item)"))
            }
        }
        // One batch of the first request, then batches of at most 50 of the 120 queued.
        let batches = runner.batches
        #expect(batches.count == 4, "\(batches.map(\.count))")
        #expect(batches.map(\.count) == [1, 50, 50, 20])
        #expect(Set(batches.flatMap { $0 }) == Set(0...120))
        #expect(runner.mostRunning == 1)
    }

    @Test("At most the allowed number of batches run at once")
    func concurrency() async throws {
        let runner = Runner()
        let combiner = BatchCombiner<Int, String>(maximumBatchSize: 4, maximumConcurrentBatches: 3) {
            await runner.run($0) { _ in false }
        }
        runner.hold()
        let answers = await withTaskGroup(of: String?.self) { group in
            for item in 0..<40 { group.addTask { try? await combiner.submit(item) } }
            while runner.batches.count < 3 || combiner.queued < 37 { try? await Task.sleep(for: .milliseconds(2)) }
            runner.release()
            var answers: [String?] = []
            for await answer in group { answers.append(answer) }
            return answers
        }
        #expect(Set(answers.compactMap { $0 }) == Set((0..<40).map { "item \($0)" }))
        #expect(runner.mostRunning == 3)
        #expect(runner.batches.allSatisfy { $0.count <= 4 })
        #expect(combiner.queued == 0)
    }

    @Test("A batch that answers the wrong number of results fails each of its callers")
    func mismatch() async throws {
        let combiner = BatchCombiner<Int, String>(maximumBatchSize: 4, maximumConcurrentBatches: 1) { _ in [] }
        await #expect(throws: BatchCombinerError.self) { try await combiner.submit(1) }
        // The combiner is free again afterwards.
        await #expect(throws: BatchCombinerError.self) { try await combiner.submit(2) }
        #expect(combiner.batches.load(ordering: .relaxed) == 2)
    }
}
