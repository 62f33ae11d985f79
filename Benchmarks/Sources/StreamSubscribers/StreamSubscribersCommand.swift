import ArgumentParser
import Dispatch
import Foundation
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

@main
struct StreamSubscribersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ocpp-stream-subscribers",
        abstract: "Live-stream subscribers for scripts/benchmark-streams.sh.",
        discussion: """
            Opens one GET /db/chargers/{id}/meter-values/stream per charger in IDS, all on one \
            event loop thread (at most one core), and reads every stream: the HTTP/1.1 body \
            de-chunked, the Server-Sent Events split and counted by type (the rows of `samples` \
            events, `status` events, keep-alive comments, `ready`, `dropped`, `end`). Once every \
            stream has sent `ready` (or failed; a stream not ready within 60 s has) it writes \
            READY (the number of streams ready). On SIGTERM or SIGINT it keeps reading until no \
            byte has arrived for 3 s (at most 60 s), then writes RESULT as JSON: streams opened \
            and ready, events by type, streams dropped and ended by reason, bytes, this \
            process's CPU seconds from ready to the end, and the sample rows received per \
            quarter second (wall clock).
            """
    )

    @Argument(help: "The REST API's base URL, http://HOST:PORT (authentication off).")
    var base: String

    @Argument(help: "A JSON object {charge_point_id: database id} (scripts/lib/stream_subscribers.py register).")
    var ids: String

    @Argument(help: "Where the result's JSON goes.")
    var result: String

    @Argument(help: "The file written once every stream is ready or has failed.")
    var ready: String

    func run() async throws {
        let (host, port) = try Self.split(base)
        let chargerIDs = try Self.readIDs(ids)
        let stop = StopSignal()
        let signalSources = Self.catchSignals(stop)
        defer { for source in signalSources { source.cancel() } }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let subscribers = Subscribers(eventLoop: loop, host: host, port: port, ids: chargerIDs)

        let openedAt = Self.unixTime()
        try await subscribers.open().get()
        let readyAt = Self.unixTime()
        let readyCount = try await loop.submit { subscribers.totals.ready }.get()
        try "\(readyCount)\n".write(toFile: ready, atomically: false, encoding: .utf8)
        let cpuStart = Self.cpuSeconds()

        await stop.wait()
        let stoppedAt = Self.unixTime()
        // Drain: what the server sent before the load stopped is still arriving.
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let seen = try await loop.submit { subscribers.totals.bytes }.get()
            try await Task.sleep(for: .seconds(3))
            if try await loop.submit({ subscribers.totals.bytes }).get() == seen { break }
        }
        let cpuEnd = Self.cpuSeconds()

        let text = try await loop.submit {
            let ended = subscribers.endedStreams()
            subscribers.closeAll()
            let totals = subscribers.totals
            return Self.resultJSON([
                ("streams", "\(chargerIDs.count)"),
                ("opened", "\(subscribers.streams.count)"),
                ("ready", "\(totals.ready)"),
                ("open_seconds", Self.rounded(readyAt - openedAt)),
                ("sample_events", "\(totals.samples)"),
                ("status_events", "\(totals.status)"),
                ("keep_alives", "\(totals.keepAlives)"),
                ("dropped_streams", "\(totals.dropped)"),
                (
                    "ended_streams",
                    Self.object(ended.sorted { $0.key < $1.key }.map { (Self.quoted($0.key), "\($0.value)") })
                ),
                ("bytes", "\(totals.bytes)"),
                ("subscriber_cpu_seconds", Self.rounded(cpuEnd - cpuStart)),
                ("ready_at", "\(readyAt)"),
                ("stopped_at", "\(stoppedAt)"),
                ("slice_seconds", "\(Subscribers.slice)"),
                (
                    "timeline",
                    Self.object(
                        totals.timeline.sorted { $0.key < $1.key }.map { (Self.quoted("\($0.key)"), "\($0.value)") }
                    )
                ),
                ("errors", "[" + totals.errors.prefix(20).map(Self.quoted).joined(separator: ", ") + "]"),
            ])
        }.get()
        try text.write(toFile: result, atomically: false, encoding: .utf8)
        try await group.shutdownGracefully()
    }

    static func split(_ base: String) throws -> (host: String, port: Int) {
        guard base.hasPrefix("http://") else {
            throw ValidationError("the base URL must be http://HOST:PORT, got \(base)")
        }
        let authority = base.dropFirst("http://".count).prefix { $0 != "/" }
        let parts = authority.split(separator: ":", omittingEmptySubsequences: false)
        guard let host = parts.first, !host.isEmpty, parts.count <= 2 else {
            throw ValidationError("the base URL must be http://HOST:PORT, got \(base)")
        }
        guard parts.count == 2 else { return (String(host), 80) }
        guard let port = Int(parts[1]) else {
            throw ValidationError("the base URL must be http://HOST:PORT, got \(base)")
        }
        return (String(host), port)
    }

    /// The database ids of the file's chargers, in id order.
    static func readIDs(_ path: String) throws -> [Int] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ValidationError("\(path) is not a JSON object")
        }
        return try object.values.map { value in
            guard let id = value as? Int else { throw ValidationError("\(path): \(value) is not a charger id") }
            return id
        }.sorted()
    }

    /// Set by SIGTERM or SIGINT; ``wait()`` returns once it is.
    final class StopSignal: Sendable {
        let state = Mutex<(done: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

        func fire() {
            let waiter = state.withLock { state in
                state.done = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }

        func wait() async {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state in
                    if state.done { return true }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        }
    }

    /// From now on SIGTERM and SIGINT do not end the process but fire `stop`; the sources
    /// must live as long as that should hold.
    static func catchSignals(_ stop: StopSignal) -> [any DispatchSourceSignal] {
        [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stop.fire() }
            source.resume()
            return source
        }
    }

    static func unixTime() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// This process's user and system CPU seconds so far.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        #if os(Linux)
            getrusage(RUSAGE_SELF.rawValue, &usage)
        #else
            getrusage(RUSAGE_SELF, &usage)
        #endif
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    static func rounded(_ value: Double) -> String { "\((value * 1000).rounded() / 1000)" }

    static func object(_ members: [(String, String)]) -> String {
        "{" + members.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + "}"
    }

    static func resultJSON(_ members: [(String, String)]) -> String {
        object(members.map { (quoted($0.0), $0.1) })
    }

    /// `text` as a JSON string.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out +=
                    "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
