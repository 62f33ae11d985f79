import Atomics
import Histogram
import NIOConcurrencyHelpers
import NIOCore

/// Counters shared by every connection (relaxed atomics: only totals matter) and one latency
/// histogram per event loop, touched only on that loop.
final class LoadStatistics: Sendable {
    let connected = ManagedAtomic<Int>(0)
    let booted = ManagedAtomic<Int>(0)
    let confirmed = ManagedAtomic<Int>(0)
    let sampledValues = ManagedAtomic<Int>(0)
    let callErrors = ManagedAtomic<Int>(0)
    let disconnects = ManagedAtomic<Int>(0)
    let connectFailures = ManagedAtomic<Int>(0)
    /// The first few problems in full, for the summary.
    let firstProblems = NIOLockedValueBox<[String]>([])
    private let histograms: [ObjectIdentifier: NIOLoopBound<LatencyBox>]

    final class LatencyBox {
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var recording = false
    }

    init(loops: [any EventLoop]) {
        var histograms: [ObjectIdentifier: NIOLoopBound<LatencyBox>] = [:]
        for loop in loops { histograms[ObjectIdentifier(loop)] = NIOLoopBound(LatencyBox(), eventLoop: loop) }
        self.histograms = histograms
    }

    /// Records a latency in microseconds (on `loop`), while recording is on.
    func record(microseconds: UInt64, on loop: any EventLoop) {
        guard let box = histograms[ObjectIdentifier(loop)]?.value, box.recording else { return }
        _ = box.histogram.record(min(microseconds, 60_000_000))
    }

    /// Starts or stops recording latencies on every loop.
    func setRecording(_ on: Bool) async throws {
        for (_, bound) in histograms {
            try await bound.eventLoop.submit { bound.value.recording = on }.get()
        }
    }

    /// Every loop's histogram, merged.
    func mergedHistogram() async throws -> Histogram<UInt64> {
        var merged = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        for (_, bound) in histograms {
            let histogram = try await bound.eventLoop.submit { bound.value.histogram }.get()
            merged.add(histogram)
        }
        return merged
    }

    func problem(_ text: String) {
        firstProblems.withLockedValue { problems in
            if problems.count < 5 { problems.append(text) }
        }
    }
}
