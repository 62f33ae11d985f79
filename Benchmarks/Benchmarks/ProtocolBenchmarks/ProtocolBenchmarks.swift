import Benchmark
import Protocol

/// Decoding and encoding of the hot OCPP messages, per message: wall time, instructions
/// and mallocs. The frames are realistic: a 1-sample MeterValues (energy register only)
/// and a 10-sample one (energy, power, per-phase current and voltage, SoC, temperature).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .instructions, .mallocCountTotal, .throughput],
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 10_000
    )

    let oneSample = Frames.meterValues(samples: 1)
    let tenSamples = Frames.meterValues(samples: 10)
    let status = Array(
        #"[2,"5b1c","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Charging","timestamp":"2024-05-01T12:00:00.000Z"}]"#
            .utf8
    )
    let heartbeat = Array(#"[2,"5b1d","Heartbeat",{}]"#.utf8)

    Benchmark("Decode MeterValues, 1 sample") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try OCPPFrameDecoder.decode(oneSample, as: ChargePointRequest.self))
        }
    }

    Benchmark("Decode MeterValues, 10 samples") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try OCPPFrameDecoder.decode(tenSamples, as: ChargePointRequest.self))
        }
    }

    Benchmark("Decode StatusNotification") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try OCPPFrameDecoder.decode(status, as: ChargePointRequest.self))
        }
    }

    Benchmark("Decode Heartbeat") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try OCPPFrameDecoder.decode(heartbeat, as: ChargePointRequest.self))
        }
    }

    Benchmark("Encode MeterValues CALLRESULT") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(OCPPFrameEncoder.callResult(uniqueID: "5b1c", payload: MeterValuesResponse()))
        }
    }

    let request = try! OCPPFrameDecoder.decode(tenSamples, as: ChargePointRequest.self)
    guard case .call(_, .meterValues(let meterValues), _) = request else { fatalError("fixture does not decode") }
    Benchmark("Encode MeterValues CALL, 10 samples") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(OCPPFrameEncoder.call(uniqueID: "5b1c", request: meterValues))
        }
    }
}

/// Realistic frames, as chargers send them.
enum Frames {
    static let measurands: [(measurand: String, phase: String?, unit: String, value: String)] = [
        ("Energy.Active.Import.Register", nil, "Wh", "1523456.7"),
        ("Power.Active.Import", nil, "W", "11020.5"),
        ("Current.Import", "L1", "A", "15.98"),
        ("Current.Import", "L2", "A", "16.02"),
        ("Current.Import", "L3", "A", "15.87"),
        ("Voltage", "L1-N", "V", "229.8"),
        ("Voltage", "L2-N", "V", "231.2"),
        ("Voltage", "L3-N", "V", "230.4"),
        ("SoC", nil, "Percent", "57"),
        ("Temperature", nil, "Celsius", "31.5"),
    ]

    static func meterValues(samples: Int) -> [UInt8] {
        let sampled = measurands.prefix(samples).map { sample in
            var fields = [
                #""value":"\#(sample.value)""#, #""context":"Sample.Periodic""#, #""format":"Raw""#,
                #""measurand":"\#(sample.measurand)""#, #""location":"Outlet""#, #""unit":"\#(sample.unit)""#,
            ]
            if let phase = sample.phase { fields.append(#""phase":"\#(phase)""#) }
            return "{" + fields.joined(separator: ",") + "}"
        }
        let text =
            #"[2,"c0ffee42-0001","MeterValues",{"connectorId":1,"transactionId":170234,"meterValue":[{"timestamp":"2024-05-01T12:00:00.000Z","sampledValue":["#
            + sampled.joined(separator: ",") + "]}]}]"
        return Array(text.utf8)
    }
}
