import Benchmark
import Foundation
@_spi(Benchmarks) import Ingest
import TimeSeries

/// The ingest path's building blocks: the lock-free queue between the event loops and the
/// writer (alone and with producers on other threads), and the time-series store's append
/// and scan, with instructions and allocations beside the time.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .instructions, .mallocCountTotal, .throughput],
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 10_000
    )

    Benchmark("Queue push and pop, one thread") { benchmark in
        let queue = IngestQueue<Int>(capacity: 1024)
        for index in benchmark.scaledIterations {
            blackHole(queue.push(index))
            blackHole(queue.pop())
        }
    }

    // Two producer threads push 50,000 elements each; this thread drains them all (parking
    // when the queue is empty), as the event writer does.
    Benchmark(
        "Queue, 2 producers x 1 consumer, 100,000 elements",
        configuration: .init(metrics: [.wallClock, .throughput], scalingFactor: .one, maxIterations: 50)
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            let queue = IngestQueue<Int>(capacity: 8192)
            let perProducer = 50_000
            let started = DispatchSemaphore(value: 0)
            for producer in 0..<2 {
                Thread {
                    started.signal()
                    for index in 0..<perProducer {
                        while !queue.push(producer &* perProducer &+ index) { sched_yield() }
                    }
                }.start()
            }
            started.wait()
            started.wait()
            var received = 0
            var batch: [Int] = []
            batch.reserveCapacity(4096)
            while received < 2 * perProducer {
                queue.drain(into: &batch, limit: 4096)
                if batch.isEmpty {
                    queue.waitForElement(timeout: .now() + .milliseconds(10))
                    continue
                }
                received += batch.count
                batch.removeAll(keepingCapacity: true)
            }
            blackHole(received)
        }
    }

    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("ocpp-ingest-benchmark-\(UUID().uuidString)").path
    let store = try! TimeSeriesStore(directory: directory, options: TimeSeriesOptions(syncPolicy: .never))
    let keys = (0..<10).map { index in
        SeriesKey(
            chargePointID: "CP-1",
            connectorID: 1,
            kind: .sample,
            measurand: "M\(index)",
            unit: "Wh",
            location: "Outlet",
            context: "Sample.Periodic",
            format: "Raw"
        )
    }
    let clock = Box(value: Int64(1_767_225_600_000))

    // One MeterValues' worth of rows per append, as the writer gets them (without the sync,
    // whose cost is the disk's).
    Benchmark("Time series append, 10 rows per call, no sync") { benchmark in
        for _ in benchmark.scaledIterations {
            clock.value += 1000
            let now = clock.value
            let rows = keys.enumerated().map { index, key in
                EventRow(series: key, timestamp: now, value: .number(Double(index) + Double(now % 1000)))
            }
            try store.appendBlocking(rows)
        }
    }

    Benchmark(
        "Time series scan, one series, 10,000 rows per page",
        configuration: .init(metrics: [.wallClock, .mallocCountTotal, .throughput], scalingFactor: .one)
    ) { benchmark in
        try store.flush()
        for _ in benchmark.scaledIterations {
            let page = try store.query(EventQuery(chargePointIDs: ["CP-1"], measurands: ["M3"], limit: 10_000))
            blackHole(page.rows.count)
        }
    }
}

/// A mutable value shared with benchmark closures (run one at a time).
final class Box: @unchecked Sendable {
    var value: Int64
    init(value: Int64) { self.value = value }
}
