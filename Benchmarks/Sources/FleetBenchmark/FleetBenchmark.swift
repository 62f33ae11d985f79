import Foundation
import TimeSeries

/// Issue 14's fleet-scale data set, phase "load": writes a fresh work directory laid out as
/// the server's embedded defaults expect when started in it (`./data`, the time-series store,
/// and `./ocpp_server.db`, the SQLite database), then reports what loading cost: points,
/// append rate (wall and per CPU core), series, segments, partitions, bytes per point on disk,
/// peak RSS and open files. Phase "serve" (the server's start and REST latencies) is
/// scripts/lib/fleet_serve.py, which reads the `fleet.json` this writes.
///
/// Usage: FleetBenchmark --directory DIR [--chargers 1000] [--connectors 2] [--measurands 10]
///        [--sessions-per-day 4] [--days 30] [--site-size 100] [--seed 42] [--sync always|never|MS]
///        [--compaction passes|days]
@main
enum FleetBenchmark {
    static let usage =
        "usage: FleetBenchmark --directory DIR [--chargers N] [--connectors N] [--measurands 1-10]"
        + " [--sessions-per-day N] [--days N] [--site-size N] [--seed N] [--sync always|never|MS]"
        + " [--compaction passes|days]"

    static func main() async throws {
        var shape = FleetShape()
        var directory: String?
        var sync = SyncPolicy.always
        var wholeDays = false
        var arguments = CommandLine.arguments.dropFirst().makeIterator()
        func number(_ range: ClosedRange<Int>) -> Int {
            guard let text = arguments.next(), let value = Int(text), range.contains(value) else {
                fail("a number in \(range.lowerBound)...\(range.upperBound) expected")
            }
            return value
        }
        while let argument = arguments.next() {
            switch argument {
            case "--chargers": shape.chargers = number(1...99_999)
            case "--connectors": shape.connectors = number(1...100)
            case "--measurands": shape.measurands = number(1...FleetMeasurands.all.count)
            case "--sessions-per-day": shape.sessionsPerDay = number(1...96)
            case "--days": shape.days = number(1...3650)
            case "--site-size": shape.siteSize = number(1...99_999)
            case "--seed": shape.seed = UInt64(number(0...Int.max))
            case "--directory": directory = arguments.next()
            case "--compaction":
                switch arguments.next() {
                case "passes": wholeDays = false
                case "days": wholeDays = true
                default: fail("--compaction needs passes (the server's maintenance) or days (compact())")
                }
            case "--sync":
                switch arguments.next() {
                case "always": sync = .always
                case "never": sync = .never
                case let text?:
                    guard let milliseconds = Int(text), milliseconds > 0 else { fail("--sync \(text)?") }
                    sync = .interval(milliseconds: milliseconds)
                case nil: fail("--sync needs always, never or milliseconds")
                }
            default: fail("unknown argument \(argument)")
            }
        }
        guard let directory else { fail("--directory is required") }
        guard shape.sessions <= Int(Int32.max) else { fail("more sessions than charge_sessions ids allow") }
        try checkSampleValues()

        let dataDirectory = directory + "/data"
        let database = directory + "/ocpp_server.db"
        for path in [dataDirectory, database] where FileManager.default.fileExists(atPath: path) {
            fail("\(path) exists: the load needs a fresh directory")
        }
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        // The data set ends at today's midnight (UTC): inside the window of days the server
        // files rows under their own day.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        shape.start = (now / FleetShape.millisecondsPerDay - Int64(shape.days)) * FleetShape.millisecondsPerDay
        print(
            "fleet: \(shape.chargers) chargers x \(shape.connectors) connectors x \(shape.measurands) measurands"
                + " every 60 s, \(shape.sessionsPerDay) sessions per connector per day, \(shape.days) days"
                + " (\(shape.samplePoints) sample points, \(shape.sessions) sessions) in \(directory)"
        )

        // The server's defaults (ServerConfiguration): the store's default options, the
        // series limit and the timestamp window (widened to the data set's days).
        var options = TimeSeriesOptions(syncPolicy: sync)
        options.maximumSeriesPerChargePoint = 1000
        // 30 days are loaded as fast as they go: background work paced for real time would fall behind.
        options.backgroundCPUPercent = 100
        options.timestampWindow = TimestampWindow(pastDays: max(30, shape.days + 1), futureHours: 24)

        let relational = try await FleetRelational(shape: shape, databaseURL: "sqlite:///" + database).run()
        print(
            String(
                format:
                    "relational: %.1f s (company, %d sites, %d chargers, %d connectors; %d sessions in %.1f s, %.0f/s)",
                relational.seconds,
                shape.sites,
                shape.chargers,
                shape.chargers * shape.connectors,
                shape.sessions,
                relational.sessionSeconds,
                Double(shape.sessions) / relational.sessionSeconds
            )
        )

        print(
            "time series (sync \(sync); at each day's end flushed and "
                + (wholeDays ? "compacted whole (compact()):" : "compacted by maintenance passes (maintain(now:)):")
        )
        let load = try FleetLoad(shape: shape, directory: dataDirectory, options: options, wholeDays: wholeDays).run()
        let disk = ProcessFigures.diskUsage(dataDirectory)
        let statistics = load.statistics!
        let appendSeconds = load.loadSeconds - load.compactionSeconds
        let appendCPU = load.processCPU - load.generatorCPU - load.compactionCPU
        let summary: [(String, String)] = [
            ("points", "\(load.points) samples + \(load.statusRows) status rows"),
            (
                "append rate",
                String(
                    format: "%.2f M points/s wall (%.1f s), %.2f M points/s per core (%.1f CPU s of the store)",
                    Double(load.points) / appendSeconds / 1e6,
                    appendSeconds,
                    Double(load.points) / appendCPU / 1e6,
                    appendCPU
                )
            ),
            (
                "store threads",
                load.writerCPU.map { writer in
                    String(
                        format: "writer %.1f CPU s (%.2f M points/s per core), flusher %.1f CPU s",
                        writer,
                        Double(load.points) / writer / 1e6,
                        load.flusherCPU ?? 0
                    )
                } ?? "not told apart"
            ),
            (
                "generator",
                String(format: "%.1f CPU s on its own thread (not counted above)", load.generatorCPU)
            ),
            (
                "compaction",
                String(
                    format: "%.1f s, %.1f CPU s (%d segments merged); final flush %.2f s",
                    load.compactionSeconds,
                    load.compactionCPU,
                    load.compactedSegments,
                    load.finalFlushSeconds
                )
            ),
            ("series", "\(statistics.seriesCount)"),
            ("segments", "\(statistics.segments) in \(statistics.partitions) partitions"),
            (
                "bytes per point",
                String(
                    format: "%.3f on disk (%d bytes in %d files under data/), %.3f in segments",
                    Double(disk.bytes) / Double(load.points),
                    disk.bytes,
                    disk.files,
                    Double(statistics.segmentBytes) / Double(max(1, statistics.segmentRows))
                )
            ),
            (
                "segment bytes per point by column",
                load.columns.map { part in
                    part.column + String(format: " %.3f", Double(part.bytes) / Double(max(1, statistics.segmentRows)))
                }.joined(separator: ", ")
            ),
            ("peak RSS", ProcessFigures.megabytes(ProcessFigures.peakRSS())),
            ("open files", "\(load.descriptorsAtEnd) at the end, at most \(load.peakDescriptors) at a day's end"),
        ]
        print("summary (load):")
        for (name, value) in summary { print("  \(name): \(value)") }

        let manifest: [String: Any] = [
            "start_ms": Int(shape.start), "days": shape.days, "chargers": shape.chargers,
            "connectors": shape.connectors, "measurands": shape.measurands,
            "sessions_per_day": shape.sessionsPerDay, "site_size": shape.siteSize,
            "company_id": Int(relational.companyID),
            "site_ids": [Int(relational.siteIDs.lowerBound), Int(relational.siteIDs.upperBound)],
            "charger_ids": [Int(relational.chargerIDs.lowerBound), Int(relational.chargerIDs.upperBound)],
            "sessions": sessionSample(shape), "points": load.points,
        ]
        let json = try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys])
        try json.write(to: URL(fileURLWithPath: directory + "/fleet.json"))
    }

    /// Up to 2,000 sessions picked at random (seeded), with the samples each must answer.
    static func sessionSample(_ shape: FleetShape) -> [[Int]] {
        var random = SplitMix(state: shape.seed ^ 0x5E55)
        return (0..<min(2000, shape.sessions)).map { _ in
            let day = Int.random(in: 0..<shape.days, using: &random)
            let charger = Int.random(in: 0..<shape.chargers, using: &random)
            let connector = Int.random(in: 1...shape.connectors, using: &random)
            let session = shape.sessions(day: day, charger: charger, connector: connector)
                .randomElement(using: &random)!
            let id = shape.transactionID(day: day, charger: charger, connector: connector, slot: session.slot)
            return [id, session.minutes * shape.measurands]
        }
    }

    /// The generator builds numbers without their text when the text would be canonical;
    /// this checks that against the ingest path's own parse, should its rules change.
    static func checkSampleValues() throws {
        var random = SplitMix(state: 7)
        for _ in 0..<20_000 {
            let places = Int.random(in: 1...2, using: &random)
            let value = Double.random(in: 0...300, using: &random)
            let scaled = Int64((value * (places == 1 ? 10 : 100)).rounded())
            let expected = EventValue.sample(decimalText(scaled, places: places))
            guard sampleValue(value, places: places) == expected else {
                throw FleetError("sampleValue(\(value), \(places)) differs from the ingest path's \(expected)")
            }
        }
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("\(message)\n\(usage)\n".utf8))
        exit(2)
    }
}
