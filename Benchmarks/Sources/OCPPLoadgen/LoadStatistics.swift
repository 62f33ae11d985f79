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
    }

    init(loops: [any EventLoop]) {
        var histograms: [ObjectIdentifier: (loop: any EventLoop, box: LatencyBox)] = [:]
        for loop in loops { histograms[ObjectIdentifier(loop)] = (loop, LatencyBox()) }
        self.histograms = histograms
    }

    /// Records a latency in microseconds (on `loop`), while recording is on.
    func record(microseconds: UInt64, action: CallAction, on loop: any EventLoop) {
        guard let box = histograms[ObjectIdentifier(loop)]?.box, box.recording else { return }
        let value = min(microseconds, 60_000_000)
        _ = box.histogram.record(value)
        _ = box.byAction[action.rawValue].record(value)
    }

    /// Starts or stops recording latencies on every loop.
    func setRecording(_ on: Bool) async throws {
        for (_, entry) in histograms {
            let box = entry.box
            try await entry.loop.submit { box.recording = on }.get()
        }
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
