import TimeSeries

/// Generates the fleet's rows minute by minute across the whole fleet (as a live fleet
/// sends them: day by day, every charger in each minute): one batch a minute holding every
/// connector's samples of that minute and the status changes of sessions starting or ending
/// in it. Memory is one batch plus a few values per connector, whatever the number of days.
struct FleetGenerator {
    let shape: FleetShape
    private var random: SplitMix
    private var connectors: [ConnectorState]

    private struct ConnectorState {
        var charger: Int
        var connector: Int
        var keys: [SeriesKey]
        var status: SeriesKey
        /// The register (Wh) at the start of the current or next session.
        var register: Int64
        var temperature: Double
        var sessions: [FleetSession] = []
        var next = 0
    }

    init(shape: FleetShape) {
        self.shape = shape
        random = SplitMix(state: shape.seed ^ 0x5A3D)
        connectors = []
        connectors.reserveCapacity(shape.chargers * shape.connectors)
        for charger in 0..<shape.chargers {
            let chargePointID = shape.chargePointID(charger)
            for connector in 1...shape.connectors {
                connectors.append(
                    ConnectorState(
                        charger: charger,
                        connector: connector,
                        keys: FleetMeasurands.keys(chargePointID, connector, count: shape.measurands),
                        status: SeriesKey(chargePointID: chargePointID, connectorID: connector, kind: .status),
                        register: shape.initialRegister(charger: charger, connector: connector),
                        temperature: Double.random(in: 12...32, using: &random)
                    )
                )
            }
        }
    }

    /// Calls `body` with each minute's batch of day `day`, in time order.
    mutating func generate(day: Int, _ body: ([EventRow]) throws -> Void) rethrows {
        for index in connectors.indices {
            connectors[index].sessions = shape.sessions(
                day: day,
                charger: connectors[index].charger,
                connector: connectors[index].connector
            )
            connectors[index].next = 0
        }
        var batch: [EventRow] = []
        batch.reserveCapacity(connectors.count * (shape.measurands + 1))
        for minute in 0..<FleetShape.minutesPerDay {
            for index in connectors.indices {
                append(day: day, minute: minute, connector: index, to: &batch)
            }
            try body(batch)
            batch.removeAll(keepingCapacity: true)
        }
    }

    private mutating func append(day: Int, minute: Int, connector index: Int, to batch: inout [EventRow]) {
        var state = connectors[index]
        defer { connectors[index] = state }
        let time = shape.sampleTime(day: day, minute: minute, charger: state.charger)
        var session: FleetSession?
        if state.next < state.sessions.count, state.sessions[state.next].firstMinute <= minute {
            session = state.sessions[state.next]
        }
        var values: [EventValue]
        var transactionID: Int?
        if let session {
            let sample = minute - session.firstMinute
            transactionID = shape.transactionID(
                day: day,
                charger: state.charger,
                connector: state.connector,
                slot: session.slot
            )
            if sample == 0 {
                batch.append(status(state, "Preparing", at: time - 20_000))
                batch.append(status(state, "Charging", at: time - 15_000))
            }
            let power = session.power * Double.random(in: 0.97...1.03, using: &random)
            let current = power / 3 / 230
            let soc = min(100, session.startSoC + session.power * Double(sample + 1) / 60 / 600)
            values = [
                .number(Double(state.register + session.energy(after: sample))),
                sampleValue(power, places: 1),
                sampleValue(current * Double.random(in: 0.98...1.02, using: &random), places: 2),
                sampleValue(current * Double.random(in: 0.98...1.02, using: &random), places: 2),
                sampleValue(current * Double.random(in: 0.98...1.02, using: &random), places: 2),
                sampleValue(230 + Double.random(in: -3...3, using: &random), places: 1),
                sampleValue(230 + Double.random(in: -3...3, using: &random), places: 1),
                sampleValue(230 + Double.random(in: -3...3, using: &random), places: 1),
                .number(soc.rounded(.down)),
                sampleValue(state.temperature + 6 + Double.random(in: -0.5...0.5, using: &random), places: 1),
            ]
            if minute + 1 == session.endMinute {
                batch.append(status(state, "Finishing", at: time + 20_000))
                batch.append(status(state, "Available", at: time + 30_000))
                state.register += session.energy
                state.next += 1
            }
        } else {
            // Idle: the register stands still, power and currents show the meter's noise.
            values = [
                .number(Double(state.register)),
                sampleValue(Double.random(in: 0...3, using: &random), places: 1),
                sampleValue(Double.random(in: 0...0.02, using: &random), places: 2),
                sampleValue(Double.random(in: 0...0.02, using: &random), places: 2),
                sampleValue(Double.random(in: 0...0.02, using: &random), places: 2),
                sampleValue(230 + Double.random(in: -3...3, using: &random), places: 1),
                sampleValue(230 + Double.random(in: -3...3, using: &random), places: 1),
                sampleValue(230 + Double.random(in: -3...3, using: &random), places: 1),
                .number(0),
                sampleValue(state.temperature + Double.random(in: -0.5...0.5, using: &random), places: 1),
            ]
        }
        for measurand in 0..<shape.measurands {
            batch.append(
                EventRow(
                    series: state.keys[measurand],
                    timestamp: time,
                    value: values[measurand],
                    transactionID: transactionID
                )
            )
        }
    }

    private func status(_ state: ConnectorState, _ status: String, at time: Int64) -> EventRow {
        EventRow(
            series: state.status,
            timestamp: time,
            value: .status(StatusEvent(status: status, errorCode: "NoError"))
        )
    }
}
