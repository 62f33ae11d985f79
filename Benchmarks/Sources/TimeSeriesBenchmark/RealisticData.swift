import TimeSeries

/// Realistic EventsData for benchmarks: a fleet of chargers with 1 to 4 connectors each;
/// charging sessions with idle gaps; while charging, about ten measurands sampled every 15,
/// 30 or 60 s (energy register rising in Wh, power, three phase currents and voltages
/// fluctuating, SoC rising, temperature); status changes at each session's start and end.
/// Deterministic for a given seed.
struct RealisticFleet {
    let chargers: Int
    let days: Int
    let start: Int64
    var random: SplitMix

    init(chargers: Int, days: Int, start: Int64 = 1_714_521_600_000, seed: UInt64 = 42) {
        self.chargers = chargers
        self.days = days
        self.start = start
        self.random = SplitMix(state: seed)
    }

    /// Calls `body` with batches of rows (one charger-connector's whole history at a time,
    /// cut into batches of about `batchRows`), in no particular time order across batches.
    mutating func generate(batchRows: Int = 8192, _ body: ([EventRow]) throws -> Void) rethrows {
        let end = start + Int64(days) * 86_400_000
        var transactionID = 1
        var batch: [EventRow] = []
        batch.reserveCapacity(batchRows + 64)
        for charger in 0..<chargers {
            let chargePointID = "CP-\(String(charger, radix: 36).uppercased())-\(charger % 97)"
            let connectors = Int.random(in: 1...4, using: &random)
            let interval = Int64([15, 30, 60].randomElement(using: &random)!) * 1000
            var energy = Double(Int.random(in: 0...5_000_000, using: &random))
            for connector in 1...connectors {
                var time = start + Int64.random(in: 0...3_600_000, using: &random)
                let status = SeriesKey(chargePointID: chargePointID, connectorID: connector, kind: .status)
                let keys = Self.sampleKeys(chargePointID, connector)
                while time < end {
                    // A session.
                    let duration = Int64.random(in: 20...240, using: &random) * 60_000
                    let power = Double.random(in: 3_700...22_000, using: &random)
                    var soc = Double.random(in: 5...60, using: &random)
                    let temperature = Double.random(in: 15...35, using: &random)
                    transactionID += 1
                    batch.append(
                        EventRow(
                            series: status,
                            timestamp: time,
                            value: .status(StatusEvent(status: "Preparing", errorCode: "NoError"))
                        )
                    )
                    batch.append(
                        EventRow(
                            series: status,
                            timestamp: time + 5_000,
                            value: .status(StatusEvent(status: "Charging", errorCode: "NoError"))
                        )
                    )
                    var sampleTime = time + 10_000
                    while sampleTime < min(time + duration, end) {
                        let actualPower = power * Double.random(in: 0.97...1.03, using: &random)
                        energy += actualPower * Double(interval) / 3_600_000
                        soc = min(100, soc + actualPower * Double(interval) / 3_600_000 / 600)
                        let current = actualPower / 3 / 230
                        let texts = [
                            String(Int(energy)),
                            Self.decimal(actualPower, 1),
                            Self.decimal(current * Double.random(in: 0.98...1.02, using: &random), 2),
                            Self.decimal(current * Double.random(in: 0.98...1.02, using: &random), 2),
                            Self.decimal(current * Double.random(in: 0.98...1.02, using: &random), 2),
                            Self.decimal(230 + Double.random(in: -3...3, using: &random), 1),
                            Self.decimal(230 + Double.random(in: -3...3, using: &random), 1),
                            Self.decimal(230 + Double.random(in: -3...3, using: &random), 1),
                            String(Int(soc)),
                            Self.decimal(temperature + Double.random(in: -0.5...0.5, using: &random), 1),
                        ]
                        for (key, text) in zip(keys, texts) {
                            batch.append(
                                EventRow(
                                    series: key,
                                    timestamp: sampleTime,
                                    value: .sample(text),
                                    transactionID: transactionID
                                )
                            )
                        }
                        sampleTime += interval
                        if batch.count >= batchRows {
                            try body(batch)
                            batch.removeAll(keepingCapacity: true)
                        }
                    }
                    time += duration
                    batch.append(
                        EventRow(
                            series: status,
                            timestamp: time,
                            value: .status(StatusEvent(status: "Finishing", errorCode: "NoError"))
                        )
                    )
                    batch.append(
                        EventRow(
                            series: status,
                            timestamp: time + 60_000,
                            value: .status(StatusEvent(status: "Available", errorCode: "NoError"))
                        )
                    )
                    // Idle until the next session.
                    time += Int64.random(in: 30...360, using: &random) * 60_000
                }
            }
        }
        if !batch.isEmpty { try body(batch) }
    }

    static func sampleKeys(_ chargePointID: String, _ connector: Int) -> [SeriesKey] {
        let measured: [(String, String?, String)] = [
            ("Energy.Active.Import.Register", nil, "Wh"), ("Power.Active.Import", nil, "W"),
            ("Current.Import", "L1", "A"), ("Current.Import", "L2", "A"), ("Current.Import", "L3", "A"),
            ("Voltage", "L1-N", "V"), ("Voltage", "L2-N", "V"), ("Voltage", "L3-N", "V"),
            ("SoC", nil, "Percent"), ("Temperature", nil, "Celsius"),
        ]
        return measured.map { measurand, phase, unit in
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

    /// `value` with `places` decimals, as chargers print it ("229.8", "15.98").
    static func decimal(_ value: Double, _ places: Int) -> String {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = Int64((value * scale).rounded())
        let whole = scaled / Int64(scale)
        let fraction = abs(scaled % Int64(scale))
        var fractionText = String(fraction)
        while fractionText.count < places { fractionText = "0" + fractionText }
        return (scaled < 0 && whole == 0 ? "-" : "") + "\(whole).\(fractionText)"
    }
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
