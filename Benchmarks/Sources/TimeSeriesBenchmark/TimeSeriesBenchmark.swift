import Foundation
import TimeSeries

/// The time-series store's figures on realistic data (see RealisticFleet):
/// append throughput with and without sync, bytes per point on disk, scan rate, the latency
/// of one session's history and of a 30-day hourly aggregate for one charger, and WAL replay.
///
/// Usage: TimeSeriesBenchmark [--chargers N] [--days D] [--directory PATH] [--append-only]
@main
enum TimeSeriesBenchmark {
    static func main() throws {
        var chargers = 200
        var days = 30
        var directory = NSTemporaryDirectory() + "ocpp-ts-bench-\(UUID().uuidString)"
        var appendOnly = false
        var arguments = CommandLine.arguments.dropFirst().makeIterator()
        while let argument = arguments.next() {
            switch argument {
            case "--chargers": chargers = Int(arguments.next() ?? "") ?? chargers
            case "--days": days = Int(arguments.next() ?? "") ?? days
            case "--directory": directory = arguments.next() ?? directory
            case "--append-only": appendOnly = true
            default:
                print("usage: TimeSeriesBenchmark [--chargers N] [--days D] [--directory PATH] [--append-only]")
                exit(2)
            }
        }
        defer { try? FileManager.default.removeItem(atPath: directory) }
        print("realistic fleet: \(chargers) chargers, \(days) days; store in \(directory)")

        // 1. Append throughput of the store alone: points generated beforehand, so that the
        // generator does not compete for the two cores with the writer and the flusher.
        for (policy, flushing) in [(SyncPolicy.never, true), (.never, false), (.always, true)] {
            let appendDirectory = directory + "-append"
            defer { try? FileManager.default.removeItem(atPath: appendDirectory) }
            var sample = RealisticFleet(chargers: max(1, chargers / 3), days: days, seed: 11)
            var batches: [[EventRow]] = []
            sample.generate { batches.append($0) }
            var options = TimeSeriesOptions(syncPolicy: policy)
            if !flushing {
                options.memtableRows = Int.max
                options.memtableAgeMilliseconds = Int64.max
            }
            let appendStore = try TimeSeriesStore(directory: appendDirectory, options: options)
            let started = DispatchTime.now().uptimeNanoseconds
            for batch in batches { try appendStore.appendBlocking(batch) }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            let count = batches.reduce(0) { $0 + $1.count }
            let mode = policy == .never ? "no sync" : "fdatasync per batch"
            let flush =
                flushing ? "memtables flushed meanwhile on the flusher thread" : "writer only, no flush during the run"
            print(
                String(
                    format: "append, %@: %.2f M points/s (%d points in batches of 8192; %@)",
                    mode,
                    Double(count) / seconds / 1e6,
                    count,
                    flush
                )
            )
            appendStore.close()
        }
        // For profiling the write path alone.
        if appendOnly { return }

        // 2. Load the whole fleet (streaming), for the reads.
        var fleet = RealisticFleet(chargers: chargers, days: days)
        let store = try TimeSeriesStore(directory: directory, options: TimeSeriesOptions(syncPolicy: .never))
        var points = 0
        var sessions: [(String, Int)] = []
        try fleet.generate { batch in
            try store.appendBlocking(batch)
            points += batch.count
            if sessions.count < 64, let row = batch.first(where: { $0.transactionID != nil }) {
                sessions.append((row.series.chargePointID, row.transactionID!))
            }
        }
        let flushStarted = DispatchTime.now().uptimeNanoseconds
        try store.flush()
        let flushSeconds = Double(DispatchTime.now().uptimeNanoseconds - flushStarted) / 1e9
        // The fleet is loaded charger by charger over the whole period, so each memtable
        // spans every day; compaction merges each day's segments, as a running store's
        // maintenance does.
        let segmentsBefore = store.statistics.segments
        let compactStarted = DispatchTime.now().uptimeNanoseconds
        try store.compact()
        let compactSeconds = Double(DispatchTime.now().uptimeNanoseconds - compactStarted) / 1e9
        let statistics = store.statistics
        print(
            "points: \(points), series: \(statistics.seriesCount), segments: \(segmentsBefore) -> \(statistics.segments) after compaction"
        )
        print(
            String(
                format: "compaction: %.1f s (%.2f M points/s)",
                compactSeconds,
                Double(points) / compactSeconds / 1e6
            )
        )
        print(String(format: "final flush: %.2f s", flushSeconds))
        print(
            String(
                format: "bytes per point on disk: %.3f (%d bytes)",
                Double(statistics.segmentBytes) / Double(statistics.segmentRows),
                statistics.segmentBytes
            )
        )

        // 2. Scan: aggregate every point (decompress, filter, bucket).
        var scanRates: [Double] = []
        for _ in 0..<3 {
            let started = DispatchTime.now().uptimeNanoseconds
            let buckets = try store.aggregate(EventQuery(kinds: [.sample]), bucketMilliseconds: 86_400_000)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            let scanned = buckets.reduce(0) { $0 + $1.count }
            scanRates.append(Double(scanned) / seconds)
        }
        print(String(format: "scan (daily aggregate of all samples): median %.2f M points/s", median(scanRates) / 1e6))

        // 3. One session's full history.
        var sessionLatencies: [Double] = []
        var sessionRows = 0
        for (chargePointID, transactionID) in sessions {
            let started = DispatchTime.now().uptimeNanoseconds
            let rows = try store.query(
                EventQuery(chargePointIDs: [chargePointID], transactionID: transactionID, limit: Int.max)
            ).rows
            sessionLatencies.append(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6)
            sessionRows += rows.count
        }
        print(
            String(
                format: "one session's history: median %.3f ms (%d sessions, %.0f points each on average)",
                median(sessionLatencies),
                sessions.count,
                Double(sessionRows) / Double(max(1, sessions.count))
            )
        )

        // 4. A 30-day hourly aggregate for one charger.
        var aggregateLatencies: [Double] = []
        for (chargePointID, _) in sessions.prefix(16) {
            let started = DispatchTime.now().uptimeNanoseconds
            _ = try store.aggregate(
                EventQuery(chargePointIDs: [chargePointID], kinds: [.sample]),
                bucketMilliseconds: 3_600_000
            )
            aggregateLatencies.append(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6)
        }
        print(
            String(format: "%d-day hourly aggregate of one charger: median %.2f ms", days, median(aggregateLatencies))
        )
        store.close()

        // 5. WAL replay: a store closed with its rows only in the log.
        let replayDirectory = directory + "-replay"
        defer { try? FileManager.default.removeItem(atPath: replayDirectory) }
        let unflushed = try TimeSeriesStore(
            directory: replayDirectory,
            options: TimeSeriesOptions(syncPolicy: .never, memtableRows: Int.max, memtableAgeMilliseconds: Int64.max)
        )
        var replayFleet = RealisticFleet(chargers: max(1, chargers / 10), days: days, seed: 7)
        try replayFleet.generate { try unflushed.appendBlocking($0) }
        unflushed.close()
        let replayStarted = DispatchTime.now().uptimeNanoseconds
        let reopened = try TimeSeriesStore(directory: replayDirectory)
        let replaySeconds = Double(DispatchTime.now().uptimeNanoseconds - replayStarted) / 1e9
        print(
            String(
                format: "WAL replay: %.2f M points/s (%d points)",
                Double(reopened.recovery.replayedRows) / replaySeconds / 1e6,
                reopened.recovery.replayedRows
            )
        )
        reopened.close()
    }

    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        return values.sorted()[values.count / 2]
    }
}
