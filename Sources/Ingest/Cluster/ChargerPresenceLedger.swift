import Foundation
import Relational

/// What a node still has to write about the chargers it holds or held, coalesced per charger:
/// the presence row its current connection asks for (latest state wins) and the residency
/// intervals not recorded yet. A plain state machine: the presence writer takes work from it,
/// writes, and reports back; nothing here waits or does I/O.
///
/// Its size is bounded by the chargers, not by the changes: a charger has one presence state
/// and at most ``maximumIntervals`` intervals waiting (older unrecorded ones are merged into
/// one covering them, which routes history to the same node). A write that fails leaves its
/// charger's work in place, to be retried after a backoff that doubles up to
/// ``maximumBackoff``.
struct ChargerPresenceLedger: Sendable {
    /// The connection holding a charger on this node.
    struct Holder: Sendable, Equatable {
        var serial: UInt64
        var connectedAt: Date
        /// Whether a claim for it has been written (and announced) once.
        var announced: Bool
    }

    /// A connection's residency interval, until its row is complete.
    struct Interval: Sendable, Equatable {
        var serial: UInt64
        var connectedAt: Date
        var disconnectedAt: Date?
        /// The row's id, once inserted.
        var residencyID: Int64?
        /// Whether the row is as this says (inserted, and ended if the connection ended).
        var recorded: Bool
        /// Part of the work being written.
        var inFlight: Bool
    }

    struct Charger: Sendable {
        var holder: Holder?
        var presenceDirty = false
        var intervals: [Interval] = []
        var inFlight = false
        var failures = 0
        var notBefore: ContinuousClock.Instant?

        var needsWork: Bool { presenceDirty || intervals.contains { !$0.recorded } }
    }

    /// One charger's writes, as taken by the writer.
    struct Work: Sendable, Equatable {
        var change: ChargerPresenceChange
        /// The connection a claim is for.
        var claimSerial: UInt64?
    }

    /// What the writer must do after a write.
    enum Followup: Sendable, Equatable {
        case none
        /// The claim was refused: a live node holds a newer connection, so this one is stale.
        case closeStale(chargePointID: String, serial: UInt64)
    }

    /// Unrecorded intervals kept per charger before the oldest are merged.
    static let maximumIntervals = 8
    /// The first retry's delay; each failure in a row doubles it.
    static let initialBackoff = Duration.milliseconds(50)
    /// The longest delay between retries.
    static let maximumBackoff = Duration.seconds(5)

    private(set) var chargers: [String: Charger] = [:]
    /// The chargers that need a write.
    private(set) var dirty: Set<String> = []

    /// Chargers with writes waiting (or being written).
    var pendingCount: Int { dirty.count }

    // MARK: - Changes from the registry

    /// Connection `serial` of `chargePointID` was accepted at `at`: it holds the charger here.
    mutating func connected(serial: UInt64, chargePointID: String, at: Date) {
        update(chargePointID) { charger in
            charger.holder = Holder(serial: serial, connectedAt: at, announced: false)
            charger.presenceDirty = true
            charger.intervals.append(
                Interval(
                    serial: serial,
                    connectedAt: at,
                    residencyID: nil,
                    recorded: false,
                    inFlight: false
                )
            )
        }
    }

    /// Connection `serial` of `chargePointID` closed at `at`.
    mutating func disconnected(serial: UInt64, chargePointID: String, at: Date) {
        update(chargePointID) { charger in
            if charger.holder?.serial == serial {
                charger.holder = nil
                charger.presenceDirty = true
            }
            if let index = charger.intervals.firstIndex(where: { $0.serial == serial && $0.disconnectedAt == nil }) {
                charger.intervals[index].disconnectedAt = at
                charger.intervals[index].recorded = false
            }
        }
    }

    /// Marks `chargePointID`'s presence to be written again from what this node holds
    /// (reconciliation: the row is missing, names another node, or should not exist).
    mutating func reassert(_ chargePointID: String) {
        update(chargePointID) { $0.presenceDirty = true }
    }

    private mutating func update(_ chargePointID: String, _ change: (inout Charger) -> Void) {
        var charger = chargers[chargePointID] ?? Charger()
        change(&charger)
        Self.bound(&charger.intervals)
        settle(chargePointID, charger)
    }

    /// Keeps at most ``maximumIntervals`` unrecorded ended intervals, merging the oldest two
    /// not being written (no row yet) into one that spans both.
    private static func bound(_ intervals: inout [Interval]) {
        while intervals.count > maximumIntervals {
            let mergeable = intervals.indices.filter {
                intervals[$0].residencyID == nil && intervals[$0].disconnectedAt != nil && !intervals[$0].inFlight
            }
            guard mergeable.count >= 2 else { return }
            let (first, second) = (mergeable[0], mergeable[1])
            intervals[first].disconnectedAt = max(intervals[first].disconnectedAt!, intervals[second].disconnectedAt!)
            intervals[first].connectedAt = min(intervals[first].connectedAt, intervals[second].connectedAt)
            intervals.remove(at: second)
        }
    }

    /// Stores `charger`, keeping `dirty` right, and forgets it once nothing is left to know.
    private mutating func settle(_ chargePointID: String, _ charger: Charger) {
        if charger.needsWork {
            dirty.insert(chargePointID)
        } else {
            dirty.remove(chargePointID)
        }
        if charger.holder == nil, !charger.needsWork, !charger.inFlight,
            charger.intervals.allSatisfy({ $0.disconnectedAt != nil })
        {
            chargers.removeValue(forKey: chargePointID)
        } else {
            chargers[chargePointID] = charger
        }
    }

    // MARK: - The writer

    /// Takes up to `limit` chargers' work whose backoff has passed; they are in flight until
    /// ``completed(_:outcome:)`` or ``failed(_:now:)``.
    mutating func take(limit: Int, now: ContinuousClock.Instant) -> [Work] {
        var work: [Work] = []
        for chargePointID in dirty {
            guard work.count < limit else { break }
            guard var charger = chargers[chargePointID], !charger.inFlight else { continue }
            if let notBefore = charger.notBefore, notBefore > now { continue }
            var change = ChargerPresenceChange(chargePointID: chargePointID, presence: .unchanged)
            var claimSerial: UInt64?
            if charger.presenceDirty {
                charger.presenceDirty = false
                if let holder = charger.holder {
                    change.presence = .claim(connectedAt: holder.connectedAt, announce: !holder.announced)
                    claimSerial = holder.serial
                } else {
                    change.presence = .release
                }
            }
            for index in charger.intervals.indices where !charger.intervals[index].recorded {
                let interval = charger.intervals[index]
                if let id = interval.residencyID {
                    guard let end = interval.disconnectedAt else { continue }
                    change.endedIntervals.append(.init(id: id, disconnectedAt: end))
                } else {
                    change.newIntervals.append(
                        .init(
                            key: interval.serial,
                            connectedAt: interval.connectedAt,
                            disconnectedAt: interval.disconnectedAt
                        )
                    )
                }
                charger.intervals[index].inFlight = true
            }
            charger.inFlight = true
            chargers[chargePointID] = charger
            work.append(Work(change: change, claimSerial: claimSerial))
        }
        return work
    }

    /// Records that `work` was written.
    mutating func completed(_ work: Work, outcome: ChargerPresenceOutcome) -> Followup {
        let chargePointID = work.change.chargePointID
        guard var charger = chargers[chargePointID] else { return .none }
        var followup = Followup.none
        if let serial = work.claimSerial, let claimed = outcome.claimed {
            if claimed {
                if charger.holder?.serial == serial { charger.holder?.announced = true }
            } else {
                followup = .closeStale(chargePointID: chargePointID, serial: serial)
            }
        }
        for new in work.change.newIntervals {
            guard let index = charger.intervals.firstIndex(where: { $0.serial == new.key && $0.residencyID == nil })
            else { continue }
            charger.intervals[index].residencyID = outcome.intervalIDs[new.key]
            // Ended while it was being written: the end is still to be recorded.
            charger.intervals[index].recorded = charger.intervals[index].disconnectedAt == new.disconnectedAt
        }
        let ended = Set(work.change.endedIntervals.map(\.id))
        for index in charger.intervals.indices {
            if let id = charger.intervals[index].residencyID, ended.contains(id) {
                charger.intervals[index].recorded = true
            }
            charger.intervals[index].inFlight = false
        }
        charger.intervals.removeAll { $0.recorded && $0.disconnectedAt != nil }
        charger.inFlight = false
        charger.failures = 0
        charger.notBefore = nil
        Self.bound(&charger.intervals)
        settle(chargePointID, charger)
        return followup
    }

    /// Records that writing `work` failed: it is retried after the charger's backoff.
    mutating func failed(_ work: Work, now: ContinuousClock.Instant) {
        let chargePointID = work.change.chargePointID
        guard var charger = chargers[chargePointID] else { return }
        if work.change.presence != .unchanged { charger.presenceDirty = true }
        for index in charger.intervals.indices { charger.intervals[index].inFlight = false }
        charger.inFlight = false
        charger.failures += 1
        charger.notBefore = now + Self.backoff(afterFailures: charger.failures)
        Self.bound(&charger.intervals)
        settle(chargePointID, charger)
    }

    /// The delay before the next attempt after `failures` failures in a row.
    static func backoff(afterFailures failures: Int) -> Duration {
        let doublings = min(max(failures - 1, 0), 16)
        return min(initialBackoff * (1 << doublings), maximumBackoff)
    }

    /// When the earliest charger waiting out a backoff may be tried again; `nil` when none waits.
    var nextRetry: ContinuousClock.Instant? {
        dirty.lazy.compactMap { self.chargers[$0].flatMap { $0.inFlight ? nil : $0.notBefore } }.min()
    }

    // MARK: - Reconciliation

    /// Compares what the database holds for this node with what the node holds (the
    /// registry's connections, which this ledger follows), and marks what differs to be
    /// written again: a held charger whose row is missing, names another node or another
    /// connection, and a row of a charger the node does not hold.
    /// - Parameters:
    ///   - rows: This node's presence rows, with their connection times.
    ///   - openResidencies: The ids of this node's intervals that have not ended in the database.
    /// - Returns: The open intervals nothing here knows of (rows whose end was lost, or written
    ///   twice), to be ended; and how many presence rows were marked.
    mutating func reconcile(rows: [String: Date], openResidencies: Set<Int64>) -> (orphans: [Int64], reasserted: Int) {
        var marked: [String] = []
        for (chargePointID, charger) in chargers {
            guard let holder = charger.holder else { continue }
            if let row = rows[chargePointID], abs(row.timeIntervalSince(holder.connectedAt)) < 0.001 { continue }
            marked.append(chargePointID)
        }
        for chargePointID in rows.keys where chargers[chargePointID]?.holder == nil {
            marked.append(chargePointID)
        }
        for chargePointID in marked { reassert(chargePointID) }
        let known = Set(chargers.values.flatMap { $0.intervals.compactMap(\.residencyID) })
        return (openResidencies.subtracting(known).sorted(), marked.count)
    }
}
