import Foundation
import Histogram
import NIOCore
import Synchronization

/// The kinds of call a simulated charger sends, for latency per action.
enum CallAction: Int, CaseIterable, Sendable {
    case bootNotification, meterValues, statusNotification, heartbeat, authorize, startTransaction,
        stopTransaction, other

    var name: String {
        switch self {
        case .bootNotification: "BootNotification"
        case .meterValues: "MeterValues"
        case .statusNotification: "StatusNotification"
        case .heartbeat: "Heartbeat"
        case .authorize: "Authorize"
        case .startTransaction: "StartTransaction"
        case .stopTransaction: "StopTransaction"
        case .other: "other"
        }
    }

    init(_ action: StaticString) {
        let text = action.description
        self = Self.allCases.first { $0.name == text } ?? .other
    }
}

/// Counters shared by every connection (relaxed atomics: only totals matter) and latency
/// histograms (all calls, and one per action) per event loop, touched only on that loop.
final class LoadStatistics: Sendable {
    let connected = Atomic<Int>(0)
    let booted = Atomic<Int>(0)
    let confirmed = Atomic<Int>(0)
    let sampledValues = Atomic<Int>(0)
    let callErrors = Atomic<Int>(0)
    let disconnects = Atomic<Int>(0)
    let connectFailures = Atomic<Int>(0)
    /// Fleet: MeterValues that fell due while the one before had not been sent yet (the
    /// server was too slow for the interval), and were merged into it.
    let lateMeterValues = Atomic<Int>(0)
    /// When the measurement (and its timeline) started: CLOCK_MONOTONIC nanoseconds.
    let timelineOrigin = Atomic<UInt64>(0)
    /// The first few problems in full, for the summary.
    let firstProblems = Mutex<[String]>([])
    private let histograms: [ObjectIdentifier: (loop: any EventLoop, box: LatencyBox)]

    static func makeHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    }

    /// Touched only on its event loop (recording there, reading through `submit`).
    final class LatencyBox: @unchecked Sendable {
        var histogram = LoadStatistics.makeHistogram()
        var byAction = CallAction.allCases.map { _ in LoadStatistics.makeHistogram() }
        var recording = false
        /// When recording started (monotonic nanoseconds), and the answers of each slot since.
        var origin: UInt64 = 0
        var slots: [TimelineSlot] = []
    }

    init(loops: [any EventLoop]) {
        var histograms: [ObjectIdentifier: (loop: any EventLoop, box: LatencyBox)] = [:]
        for loop in loops { histograms[ObjectIdentifier(loop)] = (loop, LatencyBox()) }
        self.histograms = histograms
    }

    /// Records a latency in microseconds of a call answered at `now` (monotonic nanoseconds,
    /// on `loop`), while recording is on.
    func record(microseconds: UInt64, at now: UInt64, action: CallAction, on loop: any EventLoop) {
        guard let box = histograms[ObjectIdentifier(loop)]?.box, box.recording else { return }
        let value = min(microseconds, 60_000_000)
        _ = box.histogram.record(value)
        _ = box.byAction[action.rawValue].record(value)
        let slot = Int((now &- box.origin) / TimelineSlot.nanoseconds)
        guard now >= box.origin, slot < 864_000 else { return }
        while box.slots.count <= slot { box.slots.append(TimelineSlot(slot: box.slots.count)) }
        box.slots[slot].record(microseconds: value)
    }

    /// Starts or stops recording latencies on every loop; the timeline's slots count from
    /// the start.
    func setRecording(_ on: Bool) async throws {
        let origin = DispatchTimeNanoseconds.now
        if on { timelineOrigin.store(origin, ordering: .relaxed) }
        for (_, entry) in histograms {
            let box = entry.box
            try await entry.loop.submit {
                box.recording = on
                if on { box.origin = origin }
            }.get()
        }
    }

    /// Every loop's timeline, merged: the answers of each slot of the measurement.
    func mergedTimeline() async throws -> [TimelineSlot] {
        var merged: [TimelineSlot] = []
        for (_, entry) in histograms {
            let box = entry.box
            let slots = try await entry.loop.submit { box.slots }.get()
            for figures in slots {
                while merged.count <= figures.slot { merged.append(TimelineSlot(slot: merged.count)) }
                merged[figures.slot].add(figures)
            }
        }
        return merged
    }

    /// Every loop's histogram, merged.
    func mergedHistogram() async throws -> Histogram<UInt64> {
        var merged = Self.makeHistogram()
        for (_, entry) in histograms {
            let box = entry.box
            let histogram = try await entry.loop.submit { box.histogram }.get()
            merged.add(histogram)
        }
        return merged
    }

    /// Every loop's histograms per action, merged; actions without calls are left out.
    func mergedHistogramsByAction() async throws -> [(CallAction, Histogram<UInt64>)] {
        var merged = CallAction.allCases.map { _ in Self.makeHistogram() }
        for (_, entry) in histograms {
            let box = entry.box
            let histograms = try await entry.loop.submit { box.byAction }.get()
            for index in merged.indices { merged[index].add(histograms[index]) }
        }
        return CallAction.allCases.compactMap { action in
            merged[action.rawValue].totalCount > 0 ? (action, merged[action.rawValue]) : nil
        }
    }

    func problem(_ text: String) {
        firstProblems.withLock { problems in
            if problems.count < 5 { problems.append(text) }
        }
    }
}

/// Whether the run is still going: cleared when the measurement ends.
final class RunningFlag: Sendable {
    private let value = Atomic<Bool>(true)

    var isRunning: Bool { value.load(ordering: .relaxed) }

    func stop() { value.store(false, ordering: .relaxed) }
}

/// The calls answered in one tenth of a second of the measurement (by the time of the answer):
/// how many, how many took longer than 10, 50 and 200 ms, and the slowest. A stall shows as
/// slots whose slow answers stand out.
struct TimelineSlot: Sendable {
    /// The length of a slot.
    static let nanoseconds: UInt64 = 100_000_000

    var slot: Int
    var calls = 0
    var over10Milliseconds = 0
    var over50Milliseconds = 0
    var over200Milliseconds = 0
    var maximumMicroseconds: UInt64 = 0

    init(slot: Int) { self.slot = slot }

    mutating func record(microseconds: UInt64) {
        calls += 1
        if microseconds > 10_000 { over10Milliseconds += 1 }
        if microseconds > 50_000 { over50Milliseconds += 1 }
        if microseconds > 200_000 { over200Milliseconds += 1 }
        maximumMicroseconds = max(maximumMicroseconds, microseconds)
    }

    mutating func add(_ other: TimelineSlot) {
        calls += other.calls
        over10Milliseconds += other.over10Milliseconds
        over50Milliseconds += other.over50Milliseconds
        over200Milliseconds += other.over200Milliseconds
        maximumMicroseconds = max(maximumMicroseconds, other.maximumMicroseconds)
    }

    static let csvHeader = "at_ms,calls,over_10ms,over_50ms,over_200ms,max_ms"

    var csvLine: String {
        "\(UInt64(slot) * Self.nanoseconds / 1_000_000),\(calls),\(over10Milliseconds),\(over50Milliseconds),\(over200Milliseconds),"
            + String(format: "%.1f", Double(maximumMicroseconds) / 1000)
    }
}
