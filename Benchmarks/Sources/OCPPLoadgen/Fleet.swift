import NIOCore

/// What a fleet charger sends next.
enum FleetCall {
    case meterValues
    case statusNotification(connector: Int, status: StaticString)
    case heartbeat
}

/// One fleet charger's calendar: a MeterValues on every tick (the `--interval`), a
/// StatusNotification and a Heartbeat on the first tick after each of their own times, which
/// start at a random point of their interval so that the fleet's do not fire together. A
/// charger has one call outstanding at most (OCPP-J 1.6, 4.1.1): what falls due meanwhile
/// waits, and a MeterValues due while the previous one still waits is merged into it.
struct FleetSchedule {
    let statusInterval: UInt64
    let heartbeatInterval: UInt64
    let connectors: Int
    private(set) var nextStatus: UInt64
    private(set) var nextHeartbeat: UInt64
    private(set) var meterDue = false
    private(set) var statusDue = false
    private(set) var heartbeatDue = false
    private var statusCount = 0

    init(settings: ChargerSettings, interval: TimeAmount, now: UInt64) {
        statusInterval = UInt64(max(1, settings.statusInterval.nanoseconds))
        heartbeatInterval = UInt64(max(1, settings.heartbeatInterval.nanoseconds))
        connectors = max(1, settings.connectors)
        nextStatus = now + UInt64.random(in: 0..<statusInterval)
        nextHeartbeat = now + UInt64.random(in: 0..<heartbeatInterval)
    }

    /// One tick of the MeterValues interval at `now`; true if the previous MeterValues was
    /// still waiting (it is merged with this one).
    mutating func tick(now: UInt64) -> Bool {
        let late = meterDue
        meterDue = true
        if now >= nextStatus {
            statusDue = true
            nextStatus = Self.following(nextStatus, every: statusInterval, after: now)
        }
        if now >= nextHeartbeat {
            heartbeatDue = true
            nextHeartbeat = Self.following(nextHeartbeat, every: heartbeatInterval, after: now)
        }
        return late
    }

    /// The next due call (status first, then heartbeat, then meter values), now marked sent.
    mutating func next() -> FleetCall? {
        if statusDue {
            statusDue = false
            statusCount += 1
            let connector = (statusCount - 1) % connectors + 1
            return .statusNotification(connector: connector, status: statusCount % 2 == 0 ? "Available" : "Charging")
        }
        if heartbeatDue {
            heartbeatDue = false
            return .heartbeat
        }
        if meterDue {
            meterDue = false
            return .meterValues
        }
        return nil
    }

    /// The first time of the series `time + k * every` later than `now`.
    private static func following(_ time: UInt64, every: UInt64, after now: UInt64) -> UInt64 {
        guard now >= time else { return time }
        return time + ((now - time) / every + 1) * every
    }
}
