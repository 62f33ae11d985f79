#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Spreads a background thread's bulk work (a memtable's flush, a compaction) over time so
/// that it uses at most `share` of one core while it runs: on a machine whose cores the event
/// loops (and, in a benchmark, the load generator) already keep busy, a flush at full speed
/// takes a core away from them for the half second it lasts, and answers queue behind it. A
/// lower thread priority alone does not prevent that: the scheduler balances the cores'
/// run queues by load, not by priority, and leaves the bulk thread a core of its own.
///
/// The work calls ``pace(hurry:)`` between small steps (a block of rows); when the thread's CPU
/// time is ahead of `share` of the wall time since the start, it sleeps off the difference,
/// unless `hurry` answers true (more work queued behind this, which would otherwise build a
/// backlog that ingest waits for; a caller waiting for the flush; the store or maintenance
/// stopping): then the rest of the work goes at full speed.
struct BackgroundPacer {
    /// The share of one core the work may use, in (0, 1]; 1 does not pace.
    private(set) var share: Double
    private let startedCPU: UInt64
    private let startedWall: UInt64

    /// The least sleep worth taking: shorter debts are carried to the next step.
    static let minimumSleepNanoseconds: UInt64 = 2_000_000

    init(share: Double) {
        self.share = min(max(share, 0.01), 1)
        startedCPU = threadCPUNanoseconds()
        startedWall = monotonicNanoseconds()
    }

    /// Sleeps while the work is ahead of its share; `hurry` is asked only before a sleep.
    mutating func pace(hurry: () -> Bool) {
        guard share < 1 else { return }
        let cpu = threadCPUNanoseconds() &- startedCPU
        let wall = monotonicNanoseconds() &- startedWall
        let due = UInt64(Double(cpu) / share)
        guard due > wall, due - wall >= Self.minimumSleepNanoseconds else { return }
        if hurry() {
            share = 1
            return
        }
        var delay = timespec(tv_sec: Int(0), tv_nsec: Int(min(due - wall, 100_000_000)))
        _ = nanosleep(&delay, nil)
    }
}
