import Histogram
import NIOCore
import Synchronization

/// Counters shared by every connection (relaxed atomics: only totals matter) and one latency
/// histogram per event loop, touched only on that loop.
final class LoadStatistics: Sendable {
    let connected = Atomic<Int>(0)
    let booted = Atomic<Int>(0)
    let confirmed = Atomic<Int>(0)
    let sampledValues = Atomic<Int>(0)
    let callErrors = Atomic<Int>(0)
    let disconnects = Atomic<Int>(0)
    let connectFailures = Atomic<Int>(0)
    /// The first few problems in full, for the summary.
    let firstProblems = Mutex<[String]>([])
    private let histograms: [ObjectIdentifier: (loop: any EventLoop, box: LatencyBox)]

    /// Touched only on its event loop (recording there, reading through `submit`).
    final class LatencyBox: @unchecked Sendable {
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var recording = false
    }

    init(loops: [any EventLoop]) {
        var histograms: [ObjectIdentifier: (loop: any EventLoop, box: LatencyBox)] = [:]
        for loop in loops { histograms[ObjectIdentifier(loop)] = (loop, LatencyBox()) }
        self.histograms = histograms
    }

    /// Records a latency in microseconds (on `loop`), while recording is on.
    func record(microseconds: UInt64, on loop: any EventLoop) {
        guard let box = histograms[ObjectIdentifier(loop)]?.box, box.recording else { return }
        _ = box.histogram.record(min(microseconds, 60_000_000))
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
        var merged = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        for (_, entry) in histograms {
            let box = entry.box
            let histogram = try await entry.loop.submit { box.histogram }.get()
            merged.add(histogram)
        }
        return merged
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
