import Foundation
import TimeSeries

/// Phase "load", time-series side: the generator runs on a thread of its own and hands
/// minute batches through a short queue to this thread, which appends them (one append, one
/// log record and with the default sync policy one fdatasync, per minute of the fleet). As in
/// a live server, the memtable becomes segments when it is `memtableAgeMilliseconds` old by
/// the data's clock (or full first), and at the end of each day the day is compacted as the
/// server's maintenance does; appending and compacting are timed apart.
struct FleetLoad {
    let shape: FleetShape
    let directory: String
    let options: TimeSeriesOptions
    /// Each day's segments merged into one (``TimeSeriesStore/compact()``, as
    /// TimeSeriesBenchmark does) instead of the server's maintenance passes (segments of at
    /// most `compactionTargetRows`, at most `compactionRowsPerPass` merged per pass).
    let wholeDays: Bool

    struct Result {
        var points = 0
        var statusRows = 0
        var loadSeconds = 0.0
        var compactionSeconds = 0.0
        var compactionCPU = 0.0
        var processCPU = 0.0
        /// The store's writer and flusher threads (CPU seconds), when they could be told apart.
        var writerCPU: Double?
        var flusherCPU: Double?
        var generatorCPU = 0.0
        var finalFlushSeconds = 0.0
        var statistics: TimeSeriesStatistics?
        /// The segments' bytes by column (read after the load, not timed).
        var columns: [(column: String, bytes: Int)] = []
        var peakDescriptors = 0
        var descriptorsAtEnd = 0
        var compactedSegments = 0
    }

    func run() throws -> Result {
        let threadsBefore = ProcessFigures.threadIDs()
        let store = try TimeSeriesStore(directory: directory, options: options)
        defer { store.close() }
        // The store starts its writer, then its flusher: the two new threads, in id order.
        let storeThreads = ProcessFigures.threadIDs().subtracting(threadsBefore).sorted()
        let queue = BatchQueue(capacity: 8)
        let generatorShape = shape
        let generator = Thread {
            var fleet = FleetGenerator(shape: generatorShape)
            for day in 0..<generatorShape.days {
                fleet.generate(day: day) { queue.put(.batch($0)) }
                queue.put(.dayEnd(day))
            }
            queue.put(.finished(cpu: ProcessFigures.threadCPUSeconds()))
        }
        generator.stackSize = 8 << 20

        var result = Result()
        let started = ProcessFigures.now()
        let cpuStarted = ProcessFigures.cpuSeconds()
        var dayStarted = started
        var dayPoints = 0
        var minutes = 0
        let flushMinutes = max(1, Int(options.memtableAgeMilliseconds / 60_000))
        generator.start()
        loop: while true {
            switch queue.take() {
            case .batch(let rows):
                try store.appendBlocking(rows)
                minutes += 1
                // A live fleet's memtable is flushed when it is 10 minutes old (or full first):
                // the same here, by the data's clock.
                if minutes % flushMinutes == 0 { try store.flush() }
                var statuses = 0
                for row in rows where row.series.kind == .status { statuses += 1 }
                result.statusRows += statuses
                result.points += rows.count - statuses
                dayPoints += rows.count - statuses
            case .dayEnd(let day):
                try store.flush()
                let compactStarted = ProcessFigures.now()
                let compactCPUStarted = ProcessFigures.threadCPUSeconds()
                if wholeDays {
                    result.compactedSegments += try store.compact().mergedSegments
                } else {
                    // The server's passes, until one finds nothing left to merge.
                    while true {
                        let merged = try store.maintain(now: TimeSeriesClock.system.now()).mergedSegments
                        if merged == 0 { break }
                        result.compactedSegments += merged
                    }
                }
                result.compactionSeconds += ProcessFigures.now() - compactStarted
                result.compactionCPU += ProcessFigures.threadCPUSeconds() - compactCPUStarted
                let statistics = store.statistics
                let descriptors = ProcessFigures.openDescriptors()
                result.peakDescriptors = max(result.peakDescriptors, descriptors)
                let now = ProcessFigures.now()
                print(
                    String(
                        format:
                            "  day %2d: %.2f M points/s (with compaction), %d series, %d segments, %d partitions, RSS %@, %d open files",
                        day + 1,
                        Double(dayPoints) / (now - dayStarted) / 1e6,
                        statistics.seriesCount,
                        statistics.segments,
                        statistics.partitions,
                        ProcessFigures.megabytes(ProcessFigures.currentRSS()),
                        descriptors
                    )
                )
                dayStarted = now
                dayPoints = 0
            case .finished(let cpu):
                result.generatorCPU = cpu
                break loop
            }
        }
        let flushStarted = ProcessFigures.now()
        try store.flush()
        result.finalFlushSeconds = ProcessFigures.now() - flushStarted
        result.loadSeconds = ProcessFigures.now() - started
        result.processCPU = ProcessFigures.cpuSeconds() - cpuStarted
        if storeThreads.count == 2 {
            result.writerCPU = ProcessFigures.threadCPUSeconds(id: storeThreads[0])
            result.flusherCPU = ProcessFigures.threadCPUSeconds(id: storeThreads[1])
        }
        result.statistics = store.statistics
        result.descriptorsAtEnd = ProcessFigures.openDescriptors()
        result.peakDescriptors = max(result.peakDescriptors, result.descriptorsAtEnd)
        // After the descriptors are counted: this reads every segment, opening each file.
        result.columns = try store.segmentBytesByColumn()
        return result
    }
}

/// A bounded queue between the generator thread and the appending thread.
final class BatchQueue: @unchecked Sendable {
    enum Item {
        case batch([EventRow])
        case dayEnd(Int)
        case finished(cpu: Double)
    }

    private let condition = NSCondition()
    private var items: [Item] = []
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func put(_ item: Item) {
        condition.lock()
        while items.count >= capacity { condition.wait() }
        items.append(item)
        condition.broadcast()
        condition.unlock()
    }

    func take() -> Item {
        condition.lock()
        while items.isEmpty { condition.wait() }
        let item = items.removeFirst()
        condition.broadcast()
        condition.unlock()
        return item
    }
}
