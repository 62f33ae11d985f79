/// A port's uptime over a period, from the status history of its connector and of the
/// charger itself (connector 0, whose Unavailable or Faulted takes every port down).
///
/// Up: Available, Preparing, Charging, SuspendedEV, SuspendedEVSE, Finishing, Reserved.
/// Down: Unavailable, Faulted. Unknown: before the first status the port (or the charger, when
/// it is down) reported. Uptime is up over up plus down: time no status covers is neither.
struct PortUptime: Sendable, Equatable {
    struct Outage: Sendable, Equatable {
        var start: Int64
        var end: Int64
        var status: String
        var errorCode: String
    }

    /// One status change: when, of the port or of the charger, and what.
    struct Change: Sendable {
        var time: Int64
        var ofCharger: Bool
        var status: String
        var errorCode: String
    }

    static let down: Set<String> = ["Unavailable", "Faulted"]

    var upMilliseconds: Int64 = 0
    var downMilliseconds: Int64 = 0
    var unknownMilliseconds: Int64 = 0
    var outages: [Outage] = []

    /// Up over up plus down, or nil when no status covers the period.
    var uptime: Double? {
        let known = upMilliseconds + downMilliseconds
        return known > 0 ? Double(upMilliseconds) / Double(known) : nil
    }

    /// The uptime over `from..<to`. `changes` holds the last change of each (port, charger)
    /// before `from`, if any, and every change inside the period, in any order.
    init(from: Int64, to: Int64, changes: [Change]) {
        var port: Change?
        var charger: Change?
        var time = from
        func account(until end: Int64) {
            guard end > time else { return }
            let length = end - time
            let cause: Change? =
                if let port, Self.down.contains(port.status) {
                    port
                } else if let charger, Self.down.contains(charger.status) {
                    charger
                } else {
                    nil
                }
            if let cause {
                downMilliseconds += length
                if let last = outages.last, last.end == time {
                    outages[outages.count - 1].end = end
                } else {
                    outages.append(Outage(start: time, end: end, status: cause.status, errorCode: cause.errorCode))
                }
            } else if port != nil {
                upMilliseconds += length
            } else {
                unknownMilliseconds += length
            }
            time = end
        }
        for change in changes.sorted(by: { $0.time < $1.time }) {
            account(until: min(max(change.time, from), to))
            if change.ofCharger { charger = change } else { port = change }
        }
        account(until: to)
    }
}
