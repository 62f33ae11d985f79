import Foundation
import NIOCore
import Synchronization
import Testing

@_spi(Benchmarks) @testable import Ingest

/// The event writer's commit interval, on a clock the test moves by hand: an idle writer
/// commits at once, a busy one gathers until the interval has passed on that clock, however
/// slowly the machine runs.
@Suite("Group commit interval")
struct GroupCommitTests {
    static func meterValues(second: Int) -> String {
        let time = String(format: "2026-01-02T03:04:%02dZ", second)
        return #"{"connectorId":1,"meterValue":[{"timestamp":"\#(time)","sampledValue":[{"value":"1"}]}]}"#
    }

    static func frame(_ uniqueID: String, second: Int) -> String {
        #"[2,"\#(uniqueID)","MeterValues",\#(meterValues(second: second))]"#
    }

    /// The interval on the clock: 5 ms, the production default.
    static let interval: UInt64 = 5_000_000

    @Test("A message reaching an idle writer is committed at once; the next waits for the interval on the clock")
    func interval() async throws {
        let clock = ManualCommitClock()
        let server = try await IngestTestServer.start(
            IngestConfiguration(commitIntervalMilliseconds: 5),
            commitClock: clock
        )
        let writer = server.ingest.services.events
        let first = try await server.connect("CP-GC-1")
        let second = try await server.connect("CP-GC-2")
        let before = writer.commits.load(ordering: .relaxed)

        // Idle: written though the clock never moved.
        let answer = try await first.call("g1", "MeterValues", Self.meterValues(second: 1))
        #expect(answer[0] as? Int == 3)
        #expect(writer.commits.load(ordering: .relaxed) == before + 1)

        // Right after that commit, two chargers' messages are held for the next one.
        try await first.send(Self.frame("g2", second: 2))
        try await second.send(Self.frame("g3", second: 3))
        try await server.eventually("the writer holds both messages") {
            let held = writer.itemsHeldForCommit.load(ordering: .relaxed)
            return held >= 1 && held + writer.queue.approximateCount == 2
        }
        #expect(writer.commits.load(ordering: .relaxed) == before + 1)
        #expect(try server.rows("CP-GC-1").count == 1)
        #expect(try server.rows("CP-GC-2").isEmpty)

        // Short of the interval, the writer looks at the clock and goes on waiting.
        let parks = clock.parks
        clock.advance(by: Self.interval - 1)
        try await server.eventually("the writer looked at the clock again") { clock.parks > parks }
        #expect(writer.commits.load(ordering: .relaxed) == before + 1)
        #expect(!first.hasEvent && !second.hasEvent)
        #expect(try server.rows("CP-GC-2").isEmpty)

        // The interval has passed: both are written in one commit and answered.
        clock.advance(by: 1)
        #expect(try parse(try await first.nextText())[1] as? String == "g2")
        #expect(try parse(try await second.nextText())[1] as? String == "g3")
        #expect(writer.commits.load(ordering: .relaxed) == before + 2)
        #expect(try server.rows("CP-GC-1").count == 2)
        #expect(try server.rows("CP-GC-2").count == 1)

        // A writer idle for the interval commits at once again.
        clock.advance(by: Self.interval)
        #expect(try await second.call("g4", "MeterValues", Self.meterValues(second: 4))[0] as? Int == 3)
        #expect(writer.commits.load(ordering: .relaxed) == before + 3)

        await first.close()
        await second.close()
        await server.stop()
    }

    @Test("A queue that fills while the writer gathers wakes it to make room; all go in one commit")
    func queueFillsWhileGathering() async throws {
        let clock = ManualCommitClock()
        let server = try await IngestTestServer.start(
            IngestConfiguration(queueCapacity: 4, commitIntervalMilliseconds: 5),
            commitClock: clock
        )
        let writer = server.ingest.services.events
        let charger = try await server.connect("CP-GC-FULL")
        _ = try await charger.call("0", "MeterValues", Self.meterValues(second: 0))
        let before = writer.commits.load(ordering: .relaxed)

        let count = 10
        for index in 1...count { try await charger.send(Self.frame("\(index)", second: index)) }
        // Ten messages through a queue of four: the writer took them out while it waited.
        try await server.eventually("the writer holds every message") {
            writer.itemsHeldForCommit.load(ordering: .relaxed) + writer.queue.approximateCount == count
        }
        #expect(writer.itemsHeldForCommit.load(ordering: .relaxed) > writer.queue.capacity)
        #expect(writer.commits.load(ordering: .relaxed) == before)
        #expect(!charger.hasEvent)

        clock.advance(by: Self.interval)
        var answered: [String] = []
        for _ in 1...count { answered.append(try parse(try await charger.nextText())[1] as? String ?? "") }
        #expect(answered == (1...count).map { "\($0)" })
        #expect(writer.commits.load(ordering: .relaxed) == before + 1)
        #expect(try server.rows("CP-GC-FULL").count == count + 1)
        await charger.close()
        await server.stop()
    }
}

/// A commit clock that moves only when the test moves it, and wakes the writer when it does.
final class ManualCommitClock: CommitClock {
    private struct State {
        var now: UInt64 = 1_000_000_000
        var wakeUps: [@Sendable () -> Void] = []
        var parks = 0
    }

    private let state = Mutex(State())

    func now() -> UInt64 { state.withLock { $0.now } }

    /// The writer parks until the clock moves.
    func parkingTime(until deadline: UInt64) -> TimeAmount? {
        state.withLock { $0.parks += 1 }
        return nil
    }

    func attach(wakeUp: @escaping @Sendable () -> Void) {
        state.withLock { $0.wakeUps.append(wakeUp) }
    }

    /// How often the writer has parked waiting for the clock.
    var parks: Int { state.withLock { $0.parks } }

    /// Moves the clock on and wakes the writer.
    func advance(by nanoseconds: UInt64) {
        let wakeUps = state.withLock { state in
            state.now += nanoseconds
            return state.wakeUps
        }
        for wakeUp in wakeUps { wakeUp() }
    }
}
