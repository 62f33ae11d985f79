import ArgumentParser
import Foundation
import NIOCore
import Synchronization

/// The live handlers, to close at the end.
final class ConnectionSet: Sendable {
    private let handlers = Mutex<[NIOLoopBound<ChargerHandler>]>([])

    func add(_ handler: NIOLoopBound<ChargerHandler>) { handlers.withLock { $0.append(handler) } }

    var all: [NIOLoopBound<ChargerHandler>] { handlers.withLock { $0 } }

    func stopAll() {
        for handler in all {
            handler.eventLoop.execute { handler.value.stop() }
        }
    }
}

func parseDuration(_ text: String, _ name: String) throws -> Double {
    let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
    for (suffix, factor) in units where text.hasSuffix(suffix) {
        if let value = Double(text.dropLast(suffix.count)), value >= 0 { return value * factor }
    }
    if let value = Double(text), value >= 0 { return value }
    throw ValidationError("\(name) '\(text)' is not a duration such as 500ms, 15s, 2m")
}

/// `127.0.0.2-127.0.0.20` or a comma-separated list.
func parseAddresses(_ text: String) throws -> [SocketAddress] {
    var result: [SocketAddress] = []
    for part in text.split(separator: ",") {
        let bounds = part.split(separator: "-")
        if bounds.count == 2 {
            let low = bounds[0].split(separator: ".")
            let high = bounds[1].split(separator: ".")
            guard low.count == 4, high.count == 4, low[0..<3] == high[0..<3], let first = Int(low[3]),
                let last = Int(high[3]), first <= last
            else { throw ValidationError("--source-addresses range '\(part)' must differ only in its last number") }
            for value in first...last {
                result.append(try SocketAddress(ipAddress: low[0..<3].joined(separator: ".") + ".\(value)", port: 0))
            }
        } else {
            result.append(try SocketAddress(ipAddress: String(part), port: 0))
        }
    }
    return result
}

/// Raises the open-file limit to its hard maximum (tens of thousands of sockets).
func raiseOpenFileLimit() {
    var limit = rlimit()
    guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
    limit.rlim_cur = limit.rlim_max
    _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
}

/// This process's user plus system CPU time, in microseconds (every thread).
func ownCPUMicroseconds() -> Int {
    var usage = rusage()
    guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else { return 0 }
    return (Int(usage.ru_utime.tv_sec) + Int(usage.ru_stime.tv_sec)) * 1_000_000 + Int(usage.ru_utime.tv_usec)
        + Int(usage.ru_stime.tv_usec)
}
