import Testing

@testable import API

/// A port's uptime from its connector's and its charger's status changes.
@Suite("Port uptime")
struct PortUptimeTests {
    typealias Change = PortUptime.Change
    static let hour: Int64 = 3_600_000

    static func change(_ hours: Int64, _ status: String, charger: Bool = false, error: String = "NoError") -> Change {
        Change(time: hours * hour, ofCharger: charger, status: status, errorCode: error)
    }

    @Test("Up, down and unknown time add up to the period; outages merge and name their cause")
    func timeline() {
        let uptime = PortUptime(
            from: 0,
            to: 100 * Self.hour,
            changes: [
                Self.change(-5, "Available"),  // in force at the start
                Self.change(10, "Faulted", error: "GroundFailure"),
                Self.change(12, "Available"),
                Self.change(20, "Unavailable", charger: true),
                Self.change(22, "Faulted", error: "HighTemperature"),  // still down: one outage
                Self.change(24, "Available", charger: true),
                Self.change(25, "Charging"),
                Self.change(130, "Faulted"),  // after the period
            ].reversed()
        )
        #expect(uptime.downMilliseconds == 7 * Self.hour)
        #expect(uptime.upMilliseconds == 93 * Self.hour)
        #expect(uptime.unknownMilliseconds == 0)
        #expect(uptime.uptime == 0.93)
        #expect(
            uptime.outages == [
                .init(start: 10 * Self.hour, end: 12 * Self.hour, status: "Faulted", errorCode: "GroundFailure"),
                .init(start: 20 * Self.hour, end: 25 * Self.hour, status: "Unavailable", errorCode: "NoError"),
            ]
        )
    }

    @Test("Before a port's first status its time is unknown, unless the charger is down")
    func unknown() {
        let uptime = PortUptime(
            from: 0,
            to: 10 * Self.hour,
            changes: [
                Self.change(1, "Unavailable", charger: true), Self.change(2, "Available", charger: true),
                Self.change(6, "Available"),
            ]
        )
        #expect(uptime.unknownMilliseconds == 5 * Self.hour)
        #expect(uptime.downMilliseconds == Self.hour)
        #expect(uptime.upMilliseconds == 4 * Self.hour)
        #expect(uptime.uptime == 0.8)
        #expect(PortUptime(from: 0, to: Self.hour, changes: []).uptime == nil)
    }
}
