import Foundation
import Testing

@testable import Ingest

/// The event writer's commit interval: an idle writer commits at once, a busy one gathers.
@Suite("Group commit interval")
struct GroupCommitTests {
    static func meterValues(second: Int) -> String {
        #"{"connectorId":1,"meterValue":[{"timestamp":"2026-01-02T03:04:0\#(second)Z","sampledValue":[{"value":"1"}]}]}"#
    }

    @Test("A message reaching an idle writer is committed at once; the next waits for the interval")
    func interval() async throws {
        // Long, so that a slow first sync on a busy machine (seconds, with other tests
        // syncing in parallel) is still far from it.
        let interval = 12.0
        let server = try await IngestTestServer.start(IngestConfiguration(commitIntervalMilliseconds: 12_000))
        let first = try await server.connect("CP-GC-1")
        let second = try await server.connect("CP-GC-2")

        let started = Date()
        let answer = try await first.call("g1", "MeterValues", Self.meterValues(second: 1), timeout: .seconds(60))
        let idleLatency = Date().timeIntervalSince(started)
        #expect(answer[0] as? Int == 3)
        // Idle: written without waiting for the interval.
        #expect(idleLatency < interval / 2, "the first message waited \(idleLatency) s")

        // Right after that commit, two chargers' messages are gathered into the next one, which
        // starts no sooner than the interval after the first.
        async let fromFirst = first.call("g2", "MeterValues", Self.meterValues(second: 2), timeout: .seconds(60))
        async let fromSecond = second.call("g3", "MeterValues", Self.meterValues(second: 3), timeout: .seconds(60))
        let answers = try await [fromFirst, fromSecond]
        let busyLatency = Date().timeIntervalSince(started)
        #expect(answers.allSatisfy { $0[0] as? Int == 3 })
        #expect(busyLatency >= interval * 0.9, "the gathered commit came after only \(busyLatency) s")
        #expect(try server.rows("CP-GC-1").count == 2)
        #expect(try server.rows("CP-GC-2").count == 1)
        await first.close()
        await second.close()
        await server.stop()
    }
}
