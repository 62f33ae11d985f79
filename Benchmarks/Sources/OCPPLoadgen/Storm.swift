import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A reconnect storm's result, for people and for scripts.
struct StormSummary: Codable {
    var chargers: Int
    /// Chargers whose BootNotification was answered Accepted.
    var accepted: Int
    /// Whether every charger was accepted before the timeout.
    var complete: Bool
    /// From the first connection attempt until the last charger was accepted.
    var seconds: Double?
    /// Each charger's time from the start until it was accepted, in seconds.
    var p50: Double?
    var p90: Double?
    var p99: Double?
    var attempts: Int
    /// Failed attempts (and final refusals) by reason.
    var failures: [String: Int]
    var serverCPUSeconds: Double?
    var serverCPUMillisecondsPerCharger: Double?
    var serverRSSBytes: Int?
    var serverRSSBytesPerConnection: Double?
    /// The load generator's own CPU time during the storm (it shares the machine).
    var loadgenCPUSeconds: Double?

    enum CodingKeys: String, CodingKey {
        case chargers, accepted, complete, seconds, p50, p90, p99, attempts, failures
        case serverCPUSeconds = "server_cpu_seconds"
        case serverCPUMillisecondsPerCharger = "server_cpu_ms_per_charger"
        case serverRSSBytes = "server_rss_bytes"
        case serverRSSBytesPerConnection = "server_rss_bytes_per_connection"
        case loadgenCPUSeconds = "loadgen_cpu_seconds"
    }

    var text: String {
        var lines = [
            "storm chargers          \(chargers), accepted \(accepted)" + (complete ? "" : " (INCOMPLETE)"),
            "all booted after        " + (seconds.map { String(format: "%.2f s", $0) } ?? "never (timeout)"),
            "booted after (s)        "
                + String(format: "p50 %.2f  p90 %.2f  p99 %.2f", p50 ?? .nan, p90 ?? .nan, p99 ?? .nan),
            "connection attempts     \(attempts)",
        ]
        if failures.isEmpty {
            lines.append("failures                none")
        } else {
            lines.append("failures                \(failures.values.reduce(0, +))")
            for (reason, count) in failures.sorted(by: { $0.value > $1.value }) {
                lines.append("  \(count)  \(reason)")
            }
        }
        if let serverCPUSeconds, let serverCPUMillisecondsPerCharger {
            lines.append(
                String(
                    format: "server CPU              %.2f s (%.3f ms per charger)",
                    serverCPUSeconds,
                    serverCPUMillisecondsPerCharger
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
        if let loadgenCPUSeconds {
            lines.append(String(format: "load generator CPU      %.2f s", loadgenCPUSeconds))
        }
        return lines.joined(separator: "\n")
    }
}

/// Failed attempts by reason.
final class FailureTally: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    func count(_ reason: String) { counts.withLock { $0[reason, default: 0] += 1 } }

    var all: [String: Int] { counts.withLock { $0 } }

    /// A short reason that groups alike failures.
    static func reason(_ error: any Error) -> String {
        switch error {
        case let refused as UpgradeRefused:
            refused.status.map { "upgrade refused: HTTP \($0.code) \($0.reasonPhrase)" } ?? refused.description
        case let error as IOError: "I/O error: errno \(error.errnoCode)"
        case let error as NIOSSLError: "TLS: \(error)"
        case is BootUnanswered: "closed before the BootNotification was answered"
        default: "\(type(of: error)): \(String(describing: error).prefix(80))"
        }
    }
}

/// How one charger's storm ended.
private enum StormOutcome: Sendable {
    /// Accepted at this `DispatchTimeNanoseconds` time.
    case accepted(UInt64, attempts: Int)
    case failed(attempts: Int)
}

extension LoadgenCommand {
    /// Opens every connection at once; each charger boots as soon as it is upgraded and
    /// retries a failed attempt (not a 4xx refusal) until the timeout.
    func runStorm(options: ConnectionOptions) async throws {
        let timeout = try parseDuration(stormTimeout, "--storm-timeout")
        let retry = try parseDuration(retryDelay, "--retry-delay")
        let sources = try sourceAddresses.map(parseAddresses) ?? []
        let group = MultiThreadedEventLoopGroup(numberOfThreads: eventLoops)
        let statistics = LoadStatistics(loops: Array(group.makeIterator()))
        let running = RunningFlag()
        let settings = ChargerSettings(
            scenario: .heartbeat,
            connectors: connectorsPerCharger,
            sampledValues: sampledValues,
            interval: nil,
            window: 1,
            meterValuesPerSession: meterValuesPerSession,
            idleAfterBoot: true
        )
        let concurrency = connectConcurrency ?? chargers
        let sampler = serverPID.map { ProcessSampler(pid: $0) }
        let baselineRSS = sampler?.residentBytes()
        let cpuBefore = sampler?.cpuMicroseconds()
        let ownSampler = ProcessSampler(pid: getpid())
        let ownCPUBefore = ownSampler.cpuMicroseconds()
        print(
            "ocpp-loadgen: storm of \(chargers) chargers -> \(url), \(concurrency) attempts at once, "
                + "authentication \(options.authentication.label)"
        )
        let handlers = ConnectionSet()
        let failures = FailureTally()
        let progress = Task { await Self.progressLoop(statistics: statistics, total: chargers) }
        let start = DispatchTimeNanoseconds.now
        let deadline = start + UInt64(timeout * 1e9)
        // At the deadline every connection closes: the boots still unanswered fail.
        let watchdog = Task {
            try await Task.sleep(for: .nanoseconds(Int64(timeout * 1e9)))
            running.stop()
            handlers.stopAll()
        }
        let outcomes = await withTaskGroup(of: StormOutcome.self, returning: [StormOutcome].self) { tasks in
            var outcomes: [StormOutcome] = []
            outcomes.reserveCapacity(chargers)
            var inFlight = 0
            for index in 0..<chargers {
                if inFlight >= concurrency, let outcome = await tasks.next() {
                    outcomes.append(outcome)
                    inFlight -= 1
                }
                inFlight += 1
                let source = sources.isEmpty ? nil : sources[index % sources.count]
                let chargePointID = "\(idPrefix)-\(index)"
                tasks.addTask {
                    await Self.stormCharger(
                        index: index,
                        chargePointID: chargePointID,
                        options: options,
                        source: source,
                        group: group,
                        settings: settings,
                        statistics: statistics,
                        running: running,
                        handlers: handlers,
                        failures: failures,
                        deadline: deadline,
                        retryDelay: retry
                    )
                }
            }
            for await outcome in tasks { outcomes.append(outcome) }
            return outcomes
        }
        watchdog.cancel()
        let cpuAfter = sampler?.cpuMicroseconds()
        let rss = sampler?.residentBytes()
        let ownCPUAfter = ownSampler.cpuMicroseconds()
        progress.cancel()

        var times: [Double] = []
        var attempts = 0
        for outcome in outcomes {
            switch outcome {
            case .accepted(let time, let tries):
                times.append(Double(time - start) / 1e9)
                attempts += tries
            case .failed(let tries):
                attempts += tries
            }
        }
        times.sort()
        func percentile(_ fraction: Double) -> Double? {
            times.isEmpty ? nil : times[min(times.count - 1, Int(Double(times.count) * fraction))]
        }
        let complete = times.count == chargers
        var summary = StormSummary(
            chargers: chargers,
            accepted: times.count,
            complete: complete,
            seconds: complete ? times.last : nil,
            p50: percentile(0.5),
            p90: percentile(0.9),
            p99: percentile(0.99),
            attempts: attempts,
            failures: failures.all
        )
        if let ownCPUBefore, let ownCPUAfter {
            summary.loadgenCPUSeconds = Double(ownCPUAfter - ownCPUBefore) / 1e6
        }
        if let cpuBefore, let cpuAfter {
            summary.serverCPUSeconds = Double(cpuAfter - cpuBefore) / 1e6
            summary.serverCPUMillisecondsPerCharger = Double(cpuAfter - cpuBefore) / 1e3 / Double(chargers)
        }
        if let rss, let baselineRSS, !times.isEmpty {
            summary.serverRSSBytes = rss
            summary.serverRSSBytesPerConnection = Double(max(0, rss - baselineRSS)) / Double(times.count)
        }
        print("")
        print(summary.text)
        let problems = statistics.firstProblems.withLock { $0 }
        if !problems.isEmpty {
            print("first problems:")
            for problem in problems { print("  \(problem)") }
        }
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(summary).write(to: URL(fileURLWithPath: json))
        }
        running.stop()
        handlers.stopAll()
        try? await Task.sleep(for: .milliseconds(500))
        try await group.shutdownGracefully()
        if !complete { throw ExitCode.failure }
    }

    /// One charger of the storm: connects and boots, retrying until accepted, refused with a
    /// 4xx, answered otherwise, or out of time.
    private static func stormCharger(
        index: Int,
        chargePointID: String,
        options: ConnectionOptions,
        source: SocketAddress?,
        group: MultiThreadedEventLoopGroup,
        settings: ChargerSettings,
        statistics: LoadStatistics,
        running: RunningFlag,
        handlers: ConnectionSet,
        failures: FailureTally,
        deadline: UInt64,
        retryDelay: Double
    ) async -> StormOutcome {
        var attempts = 0
        while true {
            attempts += 1
            do {
                let connection = try await connect(
                    index: index,
                    chargePointID: chargePointID,
                    options: options,
                    source: source,
                    group: group,
                    settings: settings,
                    statistics: statistics,
                    running: running
                )
                handlers.add(connection.handler)
                if !running.isRunning { connection.handler.eventLoop.execute { connection.handler.value.stop() } }
                let answer = try await connection.bootAnswer.get()
                if answer.status == "Accepted" { return .accepted(answer.nanoseconds, attempts: attempts) }
                failures.count("BootNotification answered \(answer.status)")
                statistics.problem("charger \(chargePointID): BootNotification answered \(answer.status)")
                return .failed(attempts: attempts)
            } catch {
                failures.count(FailureTally.reason(error))
                statistics.problem("charger \(chargePointID): \(error)")
                if let refused = error as? UpgradeRefused, let status = refused.status,
                    (400..<500).contains(Int(status.code))
                {
                    return .failed(attempts: attempts)
                }
                let pause = retryDelay * Double.random(in: 0.5...1.5)
                guard running.isRunning, DispatchTimeNanoseconds.now + UInt64(pause * 1e9) < deadline
                else {
                    return .failed(attempts: attempts)
                }
                try? await Task.sleep(for: .nanoseconds(Int64(pause * 1e9)))
            }
        }
    }
}

extension UpgradeAuthentication {
    var label: String {
        switch self {
        case .none: "none"
        case .shared: "HTTP Basic, one key for all"
        case .perCharger: "HTTP Basic, a key per charger"
        }
    }
}
