import Foundation
import Relational
import Testing

@testable import Ingest

/// The presence ledger without a database: coalescing, bounds, retries, claims refused and
/// reconciliation, driven by hand.
@Suite("Charger presence ledger")
struct ChargerPresenceLedgerTests {
    let start = ContinuousClock.now
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// Completes `work` as the database would: ids for new intervals, claims taken.
    static func written(
        _ work: ChargerPresenceLedger.Work,
        firstID: Int64,
        claimed: Bool = true
    )
        -> ChargerPresenceOutcome
    {
        var ids: [UInt64: Int64] = [:]
        for (offset, interval) in work.change.newIntervals.enumerated() { ids[interval.key] = firstID + Int64(offset) }
        let claim: Bool? = if case .claim = work.change.presence { claimed } else { nil }
        return ChargerPresenceOutcome(claimed: claim, intervalIDs: ids)
    }

    @Test("The latest state wins: changes made before a write are one write")
    func coalesces() throws {
        var ledger = ChargerPresenceLedger()
        ledger.connected(serial: 1, chargePointID: "CP", at: t0)
        ledger.disconnected(serial: 1, chargePointID: "CP", at: t0 + 1)
        ledger.connected(serial: 2, chargePointID: "CP", at: t0 + 2)
        let work = ledger.take(limit: 10, now: start)
        #expect(work.count == 1)
        let item = try #require(work.first)
        #expect(item.change.presence == .claim(connectedAt: t0 + 2, announce: true))
        #expect(item.claimSerial == 2)
        #expect(
            item.change.newIntervals == [
                .init(key: 1, connectedAt: t0, disconnectedAt: t0 + 1),
                .init(key: 2, connectedAt: t0 + 2, disconnectedAt: nil),
            ]
        )
        #expect(ledger.take(limit: 10, now: start).isEmpty, "in flight: not given out twice")
        #expect(ledger.completed(item, outcome: Self.written(item, firstID: 10)) == .none)
        #expect(ledger.pendingCount == 0)
        // The open interval is remembered by id; its end is the next write, without a claim.
        ledger.disconnected(serial: 2, chargePointID: "CP", at: t0 + 3)
        let close = try #require(ledger.take(limit: 10, now: start).first)
        #expect(close.change.presence == .release)
        #expect(close.change.endedIntervals == [.init(id: 11, disconnectedAt: t0 + 3)])
        #expect(close.change.newIntervals.isEmpty)
        _ = ledger.completed(close, outcome: Self.written(close, firstID: 0))
        #expect(ledger.chargers.isEmpty, "a charger with nothing left to write is forgotten")
    }

    @Test("A connection that ends while its interval is being written gets its end written next")
    func endsDuringWrite() throws {
        var ledger = ChargerPresenceLedger()
        ledger.connected(serial: 7, chargePointID: "CP", at: t0)
        let item = try #require(ledger.take(limit: 1, now: start).first)
        ledger.disconnected(serial: 7, chargePointID: "CP", at: t0 + 5)
        _ = ledger.completed(item, outcome: Self.written(item, firstID: 40))
        let next = try #require(ledger.take(limit: 1, now: start).first)
        #expect(next.change.presence == .release)
        #expect(next.change.endedIntervals == [.init(id: 40, disconnectedAt: t0 + 5)])
    }

    @Test("A failed write is retried after a backoff that doubles up to its bound, with the latest state")
    func retries() throws {
        var ledger = ChargerPresenceLedger()
        ledger.connected(serial: 1, chargePointID: "CP", at: t0)
        var now = start
        for failure in 1...10 {
            let item = try #require(ledger.take(limit: 1, now: now).first, "attempt \(failure)")
            ledger.failed(item, now: now)
            let backoff = ChargerPresenceLedger.backoff(afterFailures: failure)
            #expect(ledger.take(limit: 1, now: now + backoff - .milliseconds(1)).isEmpty)
            #expect(ledger.nextRetry == now + backoff)
            now = now + backoff
        }
        #expect(ChargerPresenceLedger.backoff(afterFailures: 1) == .milliseconds(50))
        #expect(ChargerPresenceLedger.backoff(afterFailures: 2) == .milliseconds(100))
        #expect(ChargerPresenceLedger.backoff(afterFailures: 10) == ChargerPresenceLedger.maximumBackoff)
        // Meanwhile the charger left: the retry writes its interval's end and releases.
        ledger.disconnected(serial: 1, chargePointID: "CP", at: t0 + 9)
        let item = try #require(ledger.take(limit: 1, now: now).first)
        #expect(item.change.presence == .release)
        #expect(item.change.newIntervals == [.init(key: 1, connectedAt: t0, disconnectedAt: t0 + 9)])
        _ = ledger.completed(item, outcome: Self.written(item, firstID: 1))
        #expect(ledger.pendingCount == 0)
        #expect(ledger.chargers.isEmpty)
    }

    @Test("While the database refuses, a charger that comes and goes keeps a bounded ledger")
    func bounded() throws {
        var ledger = ChargerPresenceLedger()
        var now = start
        for serial in UInt64(1)...1000 {
            let at = t0 + Double(serial)
            ledger.connected(serial: serial, chargePointID: "CP-FLAP", at: at)
            ledger.disconnected(serial: serial, chargePointID: "CP-FLAP", at: at + 0.5)
            // Another charger's new connection replaces its previous one, which then closes.
            ledger.connected(serial: 10_000 + serial, chargePointID: "CP-\(serial % 50)", at: at)
            if serial > 50 {
                ledger.disconnected(serial: 10_000 + serial - 50, chargePointID: "CP-\(serial % 50)", at: at)
            }
            for item in ledger.take(limit: 8, now: now) { ledger.failed(item, now: now) }
            now = now + .milliseconds(100)
        }
        #expect(ledger.pendingCount == 51)
        let flapping = try #require(ledger.chargers["CP-FLAP"])
        #expect(flapping.intervals.count <= ChargerPresenceLedger.maximumIntervals)
        // The merged intervals still cover every connection, without overlapping.
        #expect(flapping.intervals.first?.connectedAt == t0 + 1)
        #expect(flapping.intervals.last?.disconnectedAt == t0 + 1000.5)
        for (earlier, later) in zip(flapping.intervals, flapping.intervals.dropFirst()) {
            #expect(try #require(earlier.disconnectedAt) <= later.connectedAt)
        }
        for charger in ledger.chargers.values {
            #expect(charger.intervals.count <= ChargerPresenceLedger.maximumIntervals)
        }
    }

    @Test("A claim refused by a newer connection elsewhere asks to close this one, once")
    func refusedClaim() throws {
        var ledger = ChargerPresenceLedger()
        ledger.connected(serial: 3, chargePointID: "CP", at: t0)
        let item = try #require(ledger.take(limit: 1, now: start).first)
        #expect(
            ledger.completed(item, outcome: Self.written(item, firstID: 1, claimed: false))
                == .closeStale(chargePointID: "CP", serial: 3)
        )
        #expect(ledger.pendingCount == 0)
        // A claim that went through is not announced again.
        ledger.connected(serial: 4, chargePointID: "CP", at: t0 + 1)
        let second = try #require(ledger.take(limit: 1, now: start).first)
        _ = ledger.completed(second, outcome: Self.written(second, firstID: 2))
        ledger.reassert("CP")
        let again = try #require(ledger.take(limit: 1, now: start).first)
        #expect(again.change.presence == .claim(connectedAt: t0 + 1, announce: false))
    }

    @Test("Reconciliation marks missing, foreign and stray rows, and finds intervals nothing knows of")
    func reconciles() throws {
        var ledger = ChargerPresenceLedger()
        for (serial, id) in [(UInt64(1), "CP-OK"), (2, "CP-MISSING"), (3, "CP-OTHER")] {
            ledger.connected(serial: serial, chargePointID: id, at: t0 + Double(serial))
        }
        var ids: Int64 = 100
        for item in ledger.take(limit: 10, now: start) {
            _ = ledger.completed(item, outcome: Self.written(item, firstID: ids))
            ids += 1
        }
        #expect(ledger.pendingCount == 0)
        let known = Set(ledger.chargers.values.flatMap { $0.intervals.compactMap(\.residencyID) })
        let (orphans, marked) = ledger.reconcile(
            rows: ["CP-OK": t0 + 1, "CP-OTHER": t0 - 60, "CP-STRAY": t0],
            openResidencies: known.union([7, 8])
        )
        #expect(orphans == [7, 8])
        #expect(marked == 3)
        let work = ledger.take(limit: 10, now: start)
        let presence = Dictionary(uniqueKeysWithValues: work.map { ($0.change.chargePointID, $0.change.presence) })
        #expect(
            presence == [
                "CP-MISSING": .claim(connectedAt: t0 + 2, announce: false),
                "CP-OTHER": .claim(connectedAt: t0 + 3, announce: false), "CP-STRAY": .release,
            ]
        )
    }
}
