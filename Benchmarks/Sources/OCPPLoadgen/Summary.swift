import Foundation
import Histogram

/// Latency percentiles in milliseconds.
struct LatencySummary: Codable {
    /// Calls answered while recording.
    var count: Int
    var p50: Double
    var p90: Double
    var p99: Double
    var p999: Double
    var max: Double

    init(_ histogram: Histogram<UInt64>) {
        func milliseconds(_ percentile: Double) -> Double {
            histogram.totalCount == 0 ? 0 : Double(histogram.valueAtPercentile(percentile)) / 1000
        }
        count = Int(histogram.totalCount)
        p50 = milliseconds(50)
        p90 = milliseconds(90)
        p99 = milliseconds(99)
        p999 = milliseconds(99.9)
        max = milliseconds(100)
    }
}

/// The run's result, for people and for scripts.
struct Summary: Codable {
    var chargers: Int
    var connectedChargers: Int
    var seconds: Double
    var confirmedMessages: Int
    var confirmedMessagesPerSecond: Double
    var sampledValuesPerSecond: Double
    var latency: LatencySummary
    /// Per action (MeterValues, StatusNotification, Heartbeat, ...), those that were sent.
    var latencyByAction: [String: LatencySummary] = [:]
    var callErrors: Int
    var disconnects: Int
    var connectFailures: Int
    var serverCPUMicrosecondsPerMessage: Double?
    var serverCPUCores: Double?
    var serverRSSBytes: Int?
    var serverRSSBytesPerConnection: Double?
    /// This process's own CPU time over the measurement (it shares the machine).
    var loadgenCPUMicrosecondsPerMessage: Double?
    var loadgenCPUCores: Double?
    /// Fleet: MeterValues merged into the one before because it was still waiting.
    var lateMeterValues: Int?
    var verification: VerificationSummary?

    enum CodingKeys: String, CodingKey {
        case chargers
        case connectedChargers = "connected_chargers"
        case seconds
        case confirmedMessages = "confirmed_messages"
        case confirmedMessagesPerSecond = "confirmed_messages_per_second"
        case sampledValuesPerSecond = "sampled_values_per_second"
        case latency = "latency_ms"
        case latencyByAction = "latency_by_action_ms"
        case callErrors = "callerrors"
        case disconnects
        case connectFailures = "connect_failures"
        case serverCPUMicrosecondsPerMessage = "server_cpu_us_per_message"
        case serverCPUCores = "server_cpu_cores"
        case serverRSSBytes = "server_rss_bytes"
        case serverRSSBytesPerConnection = "server_rss_bytes_per_connection"
        case loadgenCPUMicrosecondsPerMessage = "loadgen_cpu_us_per_message"
        case loadgenCPUCores = "loadgen_cpu_cores"
        case lateMeterValues = "late_meter_values"
        case verification = "verify"
    }

    var text: String {
        var lines = [
            "chargers connected      \(connectedChargers) of \(chargers) (connect failures \(connectFailures))",
            String(
                format: "confirmed messages/s    %.0f  (%d in %.1f s)",
                confirmedMessagesPerSecond,
                confirmedMessages,
                seconds
            ),
            String(format: "sampled values/s        %.0f", sampledValuesPerSecond),
            String(
                format: "latency ms              p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f",
                latency.p50,
                latency.p90,
                latency.p99,
                latency.p999,
                latency.max
            ),
        ]
        for action in CallAction.allCases.map(\.name) {
            guard let latency = latencyByAction[action] else { continue }
            lines.append(
                "  " + action.padding(toLength: 22, withPad: " ", startingAt: 0)
                    + String(
                        format: "n %d  p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f",
                        latency.count,
                        latency.p50,
                        latency.p90,
                        latency.p99,
                        latency.p999,
                        latency.max
                    )
            )
        }
        if let lateMeterValues {
            lines.append("late MeterValues        \(lateMeterValues) (merged into the one before)")
        }
        lines += [
            "callerrors              \(callErrors)",
            "disconnects             \(disconnects)",
        ]
        if let serverCPUMicrosecondsPerMessage, let serverCPUCores {
            lines.append(
                String(
                    format: "server CPU              %.2f us/message (%.2f cores)",
                    serverCPUMicrosecondsPerMessage,
                    serverCPUCores
                )
            )
        }
        if let loadgenCPUMicrosecondsPerMessage, let loadgenCPUCores {
            lines.append(
                String(
                    format: "load generator CPU      %.2f us/message (%.2f cores)",
                    loadgenCPUMicrosecondsPerMessage,
                    loadgenCPUCores
                )
            )
        }
        if let serverRSSBytes, let serverRSSBytesPerConnection {
            lines.append(
                String(
                    format: "server memory           %.1f MiB resident, %.0f bytes per connection",
                    Double(serverRSSBytes) / 1_048_576,
                    serverRSSBytesPerConnection
                )
            )
        }
        if let verification {
            lines.append(
                "verify                  \(verification.passed ? "passed" : "FAILED"): \(verification.chargersChecked) chargers, "
                    + "\(verification.acknowledgedSampledValues) acknowledged sampled values, "
                    + "\(verification.storedSampledValues) stored"
            )
            for failure in verification.failures.prefix(10) { lines.append("  \(failure)") }
        }
        return lines.joined(separator: "\n")
    }

    var json: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try? encoder.encode(self)) ?? Data()
    }
}

/// CPU time and resident memory of a process, from /proc.
struct ProcessSampler {
    let pid: Int32

    /// User plus system CPU time, in microseconds.
    func cpuMicroseconds() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name: state is field 3; utime and stime are 14 and 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        return (user + system) * 1_000_000 / ticks
    }

    /// Resident set size in bytes.
    func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let number = line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
            return number.map { $0 * 1024 }
        }
        return nil
    }
}

/// What `--verify` found.
struct VerificationSummary: Codable {
    var passed: Bool
    var chargersChecked: Int
    var acknowledgedSampledValues: Int
    var storedSampledValues: Int
    var failures: [String]

    enum CodingKeys: String, CodingKey {
        case passed
        case chargersChecked = "chargers_checked"
        case acknowledgedSampledValues = "acknowledged_sampled_values"
        case storedSampledValues = "stored_sampled_values"
        case failures
    }
}
