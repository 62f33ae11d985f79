import TimeSeries

/// The shape of the fleet-scale data set (issue 14's goals): every connector of every
/// charger samples `measurands` values every 60 s all day, idle or charging, and charges
/// `sessionsPerDay` times a day.
struct FleetShape: Sendable {
    var chargers = 1000
    var connectors = 2
    var measurands = 10
    var sessionsPerDay = 4
    var days = 30
    /// Chargers per site (the last site may have fewer).
    var siteSize = 100
    var seed: UInt64 = 42
    /// Midnight (UTC, milliseconds since 1970) of the first day.
    var start: Int64 = 0

    static let minutesPerDay = 1440
    static let millisecondsPerDay: Int64 = 86_400_000

    var sites: Int { (chargers + siteSize - 1) / siteSize }
    var sessions: Int { days * chargers * connectors * sessionsPerDay }
    var samplePoints: Int { days * chargers * connectors * measurands * Self.minutesPerDay }

    /// The charge point id of charger `index` (0-based).
    func chargePointID(_ index: Int) -> String {
        let digits = String(index + 1)
        return "FLEET-" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits
    }

    /// The transaction id of a session: the id of its row in `charge_sessions`, which the
    /// relational phase inserts in exactly this order (day, charger, connector, slot).
    func transactionID(day: Int, charger: Int, connector: Int, slot: Int) -> Int {
        ((day * chargers + charger) * connectors + (connector - 1)) * sessionsPerDay + slot + 1
    }

    /// When charger `charger` takes its sample of minute `minute` of day `day`: each charger
    /// samples at its own second of the minute, as real chargers' clocks do.
    func sampleTime(day: Int, minute: Int, charger: Int) -> Int64 {
        start + Int64(day) * Self.millisecondsPerDay + Int64(minute) * 60_000 + Int64(charger % 60) * 1000
    }

    /// The sessions of one connector on one day, in time order: one in each of the day's
    /// `sessionsPerDay` equal slots, 20 to 240 minutes long (shorter when slots are short).
    /// A pure function of the seed and its arguments, so the time-series and relational
    /// phases agree without sharing state.
    func sessions(day: Int, charger: Int, connector: Int) -> [FleetSession] {
        var random = SplitMix(
            state: seed ^ (UInt64(day) &* 0x1_0000_0001) ^ (UInt64(charger) << 24) ^ (UInt64(connector) << 52)
        )
        _ = random.next()
        let slotMinutes = Self.minutesPerDay / sessionsPerDay
        return (0..<sessionsPerDay).map { slot in
            let longest = max(1, min(240, slotMinutes - 10))
            let duration = Int.random(in: min(20, longest)...longest, using: &random)
            let offset = Int.random(in: 1...max(1, slotMinutes - duration - 1), using: &random)
            return FleetSession(
                slot: slot,
                firstMinute: slot * slotMinutes + offset,
                minutes: duration,
                power: Double.random(in: 3_700...22_000, using: &random),
                startSoC: Double.random(in: 5...60, using: &random)
            )
        }
    }

    /// Energy register (Wh) of a connector at the start of the data set.
    func initialRegister(charger: Int, connector: Int) -> Int64 {
        var random = SplitMix(state: seed ^ 0xE4E7 ^ (UInt64(charger) << 20) ^ UInt64(connector))
        return Int64.random(in: 0...5_000_000, using: &random)
    }
}

/// One charging session of a connector (minutes counted from the day's midnight).
struct FleetSession: Sendable {
    var slot: Int
    /// The minute of its first sample.
    var firstMinute: Int
    /// Its samples: one a minute.
    var minutes: Int
    /// Nominal power (W).
    var power: Double
    var startSoC: Double

    var endMinute: Int { firstMinute + minutes }
    /// Energy (Wh) the register shows `sampleIndex + 1` minutes in.
    func energy(after sampleIndex: Int) -> Int64 { Int64(power * Double(sampleIndex + 1) / 60) }
    var energy: Int64 { energy(after: minutes - 1) }
}

/// The sampled measurands, in the order chargers usually list them.
enum FleetMeasurands {
    static let all: [(measurand: String, phase: String?, unit: String)] = [
        ("Energy.Active.Import.Register", nil, "Wh"), ("Power.Active.Import", nil, "W"),
        ("Current.Import", "L1", "A"), ("Current.Import", "L2", "A"), ("Current.Import", "L3", "A"),
        ("Voltage", "L1-N", "V"), ("Voltage", "L2-N", "V"), ("Voltage", "L3-N", "V"),
        ("SoC", nil, "Percent"), ("Temperature", nil, "Celsius"),
    ]

    static func keys(_ chargePointID: String, _ connector: Int, count: Int) -> [SeriesKey] {
        all.prefix(count).map { measurand, phase, unit in
            SeriesKey(
                chargePointID: chargePointID,
                connectorID: connector,
                kind: .sample,
                measurand: measurand,
                phase: phase,
                unit: unit,
                location: measurand == "SoC" ? "EV" : "Outlet",
                context: "Sample.Periodic"
            )
        }
    }
}

/// A value as a charger prints it with `places` decimals ("229.8", "0.00", "41"), as the
/// ingest path stores that text (``EventValue/sample(_:signed:)``), without building the text
/// when the number alone gives it back.
func sampleValue(_ value: Double, places: Int) -> EventValue {
    let scale = places == 0 ? 1.0 : places == 1 ? 10.0 : 100.0
    let scaled = Int64((value * scale).rounded())
    if places == 0 { return .number(Double(scaled)) }
    if scaled > 0, scaled % 10 != 0 { return .number(Double(scaled) / scale) }
    return .sample(decimalText(scaled, places: places))
}

/// `scaled / 10^places` printed with `places` decimals.
func decimalText(_ scaled: Int64, places: Int) -> String {
    let scale: Int64 = places == 1 ? 10 : 100
    let whole = scaled / scale
    var fraction = String(abs(scaled % scale))
    while fraction.count < places { fraction = "0" + fraction }
    return (scaled < 0 && whole == 0 ? "-" : "") + "\(whole).\(fraction)"
}

/// A small deterministic random number generator.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
