import CoreMetrics
import Synchronization

/// The store's metrics (swift-metrics; the server exports them at `/metrics`): gauges of what
/// it holds, set after each flush and each maintenance pass, and counters of failures.
final class TimeSeriesMetrics: Sendable {
    let series: Gauge
    let partitions: Gauge
    let segments: Gauge
    let openFiles: Gauge
    let diskBytes: Gauge
    /// Flushes (a memtable frozen, or written as segments) that failed and will be retried.
    let flushFailures: Counter
    /// Maintenance passes that failed (retention or compaction); the next pass tries again.
    let maintenanceFailures: Counter
    /// Maintenance passes done.
    let maintenancePasses: Counter
    /// Rows dated outside ``TimeSeriesOptions/timestampWindow``, filed under its edge days.
    let rowsOutsideWindow: Counter
    /// Live subscriptions open (``TimeSeriesStore/subscribe(_:)``).
    let liveSubscriptions: Gauge
    /// Live subscriptions dropped for falling more than their buffer behind.
    let liveDropped: Counter
    /// Held while the gauges are read from the store and set: the last to read sets last.
    let updating = Mutex(())

    init(factory: any MetricsFactory) {
        series = Gauge(label: "ocpp_ts_series", factory: factory)
        partitions = Gauge(label: "ocpp_ts_partitions", factory: factory)
        segments = Gauge(label: "ocpp_ts_segments", factory: factory)
        openFiles = Gauge(label: "ocpp_ts_open_files", factory: factory)
        diskBytes = Gauge(label: "ocpp_ts_disk_bytes", factory: factory)
        flushFailures = Counter(label: "ocpp_ts_flush_failures_total", factory: factory)
        maintenanceFailures = Counter(label: "ocpp_ts_maintenance_failures_total", factory: factory)
        maintenancePasses = Counter(label: "ocpp_ts_maintenance_passes_total", factory: factory)
        rowsOutsideWindow = Counter(label: "ocpp_ts_rows_outside_window_total", factory: factory)
        liveSubscriptions = Gauge(label: "ocpp_ts_live_subscriptions", factory: factory)
        liveDropped = Counter(label: "ocpp_ts_live_dropped_total", factory: factory)
    }
}

extension TimeSeriesStore {
    /// Bytes of the store's files: segments, write-ahead log and series dictionary.
    public var diskBytes: Int {
        let segmentBytes = state.withLock { $0.segments.reduce(0) { $0 + $1.byteCount } }
        let logBytes = FileIO.listDirectory(directory + "/wal").reduce(0) { total, name in
            total + FileIO.fileSize(directory + "/wal/" + name)
        }
        return segmentBytes + logBytes + FileIO.fileSize(dictionaryPath)
    }

    /// Sets the gauges from the store's state (a few `stat` calls: the log's files and the
    /// dictionary).
    func updateGauges() {
        metrics.updating.withLock { _ in
            let statistics = statistics
            metrics.series.record(statistics.seriesCount)
            metrics.partitions.record(statistics.partitions)
            metrics.segments.record(statistics.segments)
            metrics.openFiles.record(statistics.openFiles)
            metrics.diskBytes.record(diskBytes)
        }
    }
}
