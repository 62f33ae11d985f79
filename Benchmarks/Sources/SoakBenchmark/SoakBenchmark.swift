import Foundation
import TimeSeries

/// The store's soak: the time-series store with the server's options and its maintenance
/// service (the server's own ``TimeSeriesMaintenance``), under a steady fleet's load on a
/// simulated clock that runs `--speed` times faster than real time, for `--days` simulated
/// days, with a retention of `--retention-days` and a maintenance pass every `--interval`
/// real seconds.
///
/// Every simulated minute, each charger's connectors send ten sampled values (as ingest
/// appends them: one append per minute of the fleet, acknowledged once durable); four
/// sessions per connector and day. Every simulated six hours it prints the store's gauges
/// (series, partitions, segments, open segment files, the process's descriptors and RSS, the
/// bytes on disk). At the end it reads back, charger by charger, every row inside the
/// retention window and compares it with what was acknowledged (the generator is
/// deterministic), and checks that nothing older than the window is left.
///
/// Usage: SoakBenchmark [--chargers N] [--days D] [--speed S] [--retention-days R]
///        [--interval SECONDS] [--directory PATH]
@main
enum SoakBenchmark {
    static let minute: Int64 = 60_000
    static let day: Int64 = 86_400_000
    /// 2026-01-01T00:00:00Z: the simulated clock's start.
    static let start: Int64 = 1_767_225_600_000

    static func main() async throws {
        var chargers = 1000
        var days = 6
        var speed = 1440.0
        var retentionDays = 1
        var interval = 1.0
        var directory = NSTemporaryDirectory() + "ocpp-ts-soak-\(UUID().uuidString)"
        var arguments = CommandLine.arguments.dropFirst().makeIterator()
        while let argument = arguments.next() {
            let value = arguments.next() ?? ""
            switch argument {
            case "--chargers": chargers = Int(value) ?? chargers
            case "--days": days = Int(value) ?? days
            case "--speed": speed = Double(value) ?? speed
            case "--retention-days": retentionDays = Int(value) ?? retentionDays
            case "--interval": interval = Double(value) ?? interval
            case "--directory": directory = value
            default:
                print(
                    "usage: SoakBenchmark [--chargers N] [--days D] [--speed S] [--retention-days R] "
                        + "[--interval SECONDS] [--directory PATH]"
                )
                exit(2)
            }
        }
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let began = DispatchTime.now().uptimeNanoseconds
        let rate = speed
        let clock = TimeSeriesClock {
            start + Int64(Double(DispatchTime.now().uptimeNanoseconds - began) / 1e6 * rate)
        }
        // The server's defaults (README, configuration), with the soak's retention and pace.
        var options = TimeSeriesOptions()
        options.retentionDays = retentionDays
        options.maintenanceInterval = .milliseconds(Int64(interval * 1000))
        options.maximumSeriesPerChargePoint = 1000
        // Simulated time runs at `speed`x: background work paced for real time would fall behind.
        options.backgroundCPUPercent = 100
        options.timestampWindow = TimestampWindow(pastDays: 30, futureHours: 24)
        let store = try TimeSeriesStore(directory: directory, options: options, clock: clock)
        let maintenance = TimeSeriesMaintenance(store: store, clock: clock)
        let service = Task { try await maintenance.run() }
        print(
            "soak: \(chargers) chargers x 2 connectors x 10 measurands every simulated minute, \(days) simulated days "
                + "at \(speed)x, retention \(retentionDays) day(s), a maintenance pass every \(interval) s; in \(directory)"
        )
        print("simulated time       | rows appended | series | days | segments | open segs | fds | RSS MiB | disk MiB")

        var streams = (0..<chargers).flatMap { charger in
            (1...2).map { ConnectorStream(charger: charger, connector: $0) }
        }
        var appended = 0
        var behind = 0
        let minutes = days * 1440
        for minuteIndex in 0..<minutes {
            let time = start + Int64(minuteIndex) * minute
            // Steady load: a minute's rows go when the simulated clock reaches that minute.
            let now = clock.now()
            if now < time {
                try await Task.sleep(nanoseconds: UInt64(Double(time - now) / speed * 1e6))
            } else if now - time > 5 * minute {
                behind += 1
            }
            var batch: [EventRow]? = []
            batch!.reserveCapacity(streams.count * 11)
            for index in streams.indices { streams[index].rows(minute: minuteIndex, into: &batch) }
            try store.appendBlocking(batch!)
            appended += batch!.count
            if minuteIndex % 360 == 359 { report(store, time + minute, appended, directory) }
        }
        service.cancel()
        try await service.value
        if behind > 0 { print("the writer fell more than 5 simulated minutes behind the clock in \(behind) minutes") }

        // Every row inside the retention window reads back as acknowledged; none older is left.
        let end = start + Int64(minutes) * minute
        let now = clock.now()
        _ = try store.maintain(now: now)
        let keptFrom = (now / day - Int64(retentionDays)) * day
        var checked = 0
        var mismatches = 0
        for charger in 0..<chargers {
            var expected: [EventRow] = []
            for connector in 1...2 {
                var stream = ConnectorStream(charger: charger, connector: connector)
                var rows: [EventRow]? = []
                var skipped: [EventRow]? = nil
                let firstKept = Int((keptFrom - start) / minute) - 1
                for minuteIndex in 0..<minutes {
                    if minuteIndex < firstKept {
                        stream.rows(minute: minuteIndex, into: &skipped)
                    } else {
                        stream.rows(minute: minuteIndex, into: &rows)
                    }
                }
                expected += rows!.filter { $0.timestamp >= keptFrom }
            }
            let stored = try store.query(
                EventQuery(chargePointIDs: [ConnectorStream.name(charger)], from: keptFrom, to: end, limit: Int.max)
            ).rows
            if stored.count != expected.count || Set(stored) != Set(expected) { mismatches += 1 }
            checked += expected.count
        }
        let older = try store.query(EventQuery(to: keptFrom, limit: 1)).rows.count
        report(store, now, appended, directory)
        print(
            "read back: \(checked) rows inside the retention window (from \(iso(keptFrom))), "
                + "\(mismatches) chargers differing; rows older than the window left: \(older)"
        )
        store.close()
        if mismatches > 0 || older > 0 { exit(1) }
    }

    static func report(_ store: TimeSeriesStore, _ time: Int64, _ appended: Int, _ directory: String) {
        let statistics = store.statistics
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
        print(
            String(
                format: "%@ | %13d | %6d | %4d | %8d | %9d | %3d | %7.1f | %8.1f",
                iso(time),
                appended,
                statistics.seriesCount,
                statistics.partitions,
                statistics.segments,
                statistics.openFiles,
                descriptors,
                Double(residentBytes()) / 1_048_576,
                Double(diskBytes(directory)) / 1_048_576
            )
        )
    }

    static func iso(_ milliseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }

    static func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kilobytes * 1024
    }

    static func diskBytes(_ directory: String) -> Int {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return 0 }
        var total = 0
        while let path = enumerator.nextObject() as? String {
            let attributes = try? FileManager.default.attributesOfItem(atPath: directory + "/" + path)
            if attributes?[.type] as? FileAttributeType == .typeRegular {
                total += (attributes?[.size] as? Int) ?? 0
            }
        }
        return total
    }
}

/// One connector's rows, minute by minute, deterministic: four sessions a day (start and
/// length from a hash of charger, connector and day), ten sampled values every minute
/// (energy register rising while charging, power and currents near zero when idle, voltages,
/// SoC, temperature), a status row at each session's start and end.
struct ConnectorStream {
    let charger: Int
    let connector: Int
    let keys: [SeriesKey]
    let status: SeriesKey
    var energy: Double

    static let measurands: [(String, String?, String)] = [
        ("Energy.Active.Import.Register", nil, "Wh"), ("Power.Active.Import", nil, "W"),
        ("Current.Import", "L1", "A"), ("Current.Import", "L2", "A"), ("Current.Import", "L3", "A"),
        ("Voltage", "L1-N", "V"), ("Voltage", "L2-N", "V"), ("Voltage", "L3-N", "V"),
        ("SoC", nil, "Percent"), ("Temperature", nil, "Celsius"),
    ]

    static func name(_ charger: Int) -> String { "SOAK-\(charger)" }

    init(charger: Int, connector: Int) {
        self.charger = charger
        self.connector = connector
        keys = Self.measurands.map { measurand, phase, unit in
            SeriesKey(
                chargePointID: Self.name(charger),
                connectorID: connector,
                kind: .sample,
                measurand: measurand,
                phase: phase,
                unit: unit,
                context: "Sample.Periodic"
            )
        }
        status = SeriesKey(chargePointID: Self.name(charger), connectorID: connector, kind: .status)
        energy = Double(Self.hash(charger, connector, 0, 0) % 1_000_000)
    }

    static func hash(_ a: Int, _ b: Int, _ c: Int, _ d: Int) -> UInt64 {
        var z = UInt64(truncatingIfNeeded: a &* 1_000_003 &+ b &* 10_007 &+ c &* 101 &+ d) &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The session (its number in the day) charging at minute `minuteOfDay`, with its start
    /// and end minutes.
    func session(day: Int, minuteOfDay: Int) -> (number: Int, start: Int, end: Int)? {
        let number = minuteOfDay / 360
        let seed = Self.hash(charger, connector, day, number)
        let start = number * 360 + Int(seed % 120)
        let end = start + 45 + Int((seed >> 8) % 150)
        return minuteOfDay >= start && minuteOfDay < end ? (number, start, end) : nil
    }

    /// Appends minute `minuteIndex`'s rows to `rows` (the minutes must come in order, from 0:
    /// the energy register carries over); with `rows` nil, only moves the register on.
    mutating func rows(minute minuteIndex: Int, into rows: inout [EventRow]?) {
        let time = SoakBenchmark.start + Int64(minuteIndex) * SoakBenchmark.minute
        let day = minuteIndex / 1440
        let minuteOfDay = minuteIndex % 1440
        let charging = session(day: day, minuteOfDay: minuteOfDay)
        let transaction = charging.map { ((charger * 2 + connector) * 100_000) + day * 4 + $0.number + 1 }
        let noise = Self.hash(charger, connector, minuteIndex, 7)
        if let charging, charging.start == minuteOfDay {
            rows?.append(
                EventRow(
                    series: status,
                    timestamp: time - 1000,
                    value: .status(StatusEvent(status: "Charging", errorCode: "NoError"))
                )
            )
        }
        var power = 0.0
        var soc = 0.0
        if let charging {
            let level = 7_000 + Double(Self.hash(charger, connector, day, charging.number) % 4_000)
            power = (level * (0.98 + Double(noise % 400) / 10_000)).rounded()
            soc = Double(min(100, 20 + (minuteOfDay - charging.start) * 70 / max(1, charging.end - charging.start)))
            energy += (power / 60).rounded()
        }
        guard rows != nil else { return }
        let current = (power / 3 / 230 * 10).rounded() / 10
        let values: [Double] = [
            energy, power, current, current, current,
            2300 + Double(noise % 40), 2300 + Double((noise >> 8) % 40), 2300 + Double((noise >> 16) % 40),
            soc, 200 + Double((noise >> 24) % 60),
        ]
        for (index, key) in keys.enumerated() {
            let value = index >= 5 && index <= 7 || index == 9 ? values[index] / 10 : values[index]
            rows?.append(EventRow(series: key, timestamp: time, value: .number(value), transactionID: transaction))
        }
        if let charging, charging.end - 1 == minuteOfDay {
            rows?.append(
                EventRow(
                    series: status,
                    timestamp: time + 1000,
                    value: .status(StatusEvent(status: "Finishing", errorCode: "NoError"))
                )
            )
        }
    }
}
