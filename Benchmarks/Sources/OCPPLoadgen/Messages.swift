import NIOCore
import Protocol

/// Builds the JSON of the messages a simulated charger sends, straight into a buffer: the
/// load generator must cost far less per message than the server it measures.
struct MessageBuilder {
    /// The measurands a charger reports, in the order it reports them: energy register,
    /// power, per-phase current and voltage, state of charge, temperature, then more.
    static let measurands: [(measurand: String, phase: String?, unit: String, location: String?)] = [
        ("Energy.Active.Import.Register", nil, "Wh", nil),
        ("Power.Active.Import", nil, "W", nil),
        ("Current.Import", "L1", "A", nil),
        ("Current.Import", "L2", "A", nil),
        ("Current.Import", "L3", "A", nil),
        ("Voltage", "L1-N", "V", nil),
        ("Voltage", "L2-N", "V", nil),
        ("Voltage", "L3-N", "V", nil),
        ("SoC", nil, "Percent", "EV"),
        ("Temperature", nil, "Celsius", "Body"),
        ("Frequency", nil, "Hertz", nil),
        ("Power.Offered", nil, "W", nil),
        ("Current.Offered", nil, "A", nil),
        ("Power.Factor", nil, "Percent", nil),
    ]

    /// `[2,"id","Action",` written into `buffer`.
    static func beginCall(_ buffer: inout ByteBuffer, uniqueID: UInt64, action: StaticString) {
        buffer.writeStaticString("[2,\"")
        writeInteger(&buffer, Int64(uniqueID))
        buffer.writeStaticString("\",\"")
        buffer.writeStaticString(action)
        buffer.writeStaticString("\",")
    }

    static func writeInteger(_ buffer: inout ByteBuffer, _ value: Int64) {
        var value = value
        if value < 0 {
            buffer.writeInteger(UInt8(ascii: "-"))
            value = -value
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        let count = withUnsafeMutableBytes(of: &digits) { raw -> Int in
            var index = raw.count
            repeat {
                index -= 1
                raw[index] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            } while value > 0
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[index...]))
            return raw.count - index
        }
        _ = count
    }

    /// A decimal with one fractional digit, from tenths.
    static func writeTenths(_ buffer: inout ByteBuffer, _ tenths: Int64) {
        writeInteger(&buffer, tenths / 10)
        buffer.writeInteger(UInt8(ascii: "."))
        buffer.writeInteger(UInt8(ascii: "0") + UInt8(abs(tenths % 10)))
    }

    /// `YYYY-MM-DDTHH:MM:SS.sssZ`, without a `String` per message.
    static func writeTimestamp(_ buffer: inout ByteBuffer, _ milliseconds: Int64) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        OCPPTimestamp(millisecondsSince1970: milliseconds).appendISO8601(to: &bytes)
        buffer.writeBytes(bytes)
    }

    /// A MeterValues request with `count` sampled values.
    static func meterValues(
        _ buffer: inout ByteBuffer,
        uniqueID: UInt64,
        connectorID: Int,
        transactionID: Int?,
        timestamp: Int64,
        state: inout MeterState,
        count: Int
    ) {
        beginCall(&buffer, uniqueID: uniqueID, action: "MeterValues")
        buffer.writeStaticString("{\"connectorId\":")
        writeInteger(&buffer, Int64(connectorID))
        if let transactionID {
            buffer.writeStaticString(",\"transactionId\":")
            writeInteger(&buffer, Int64(transactionID))
        }
        buffer.writeStaticString(",\"meterValue\":[{\"timestamp\":\"")
        writeTimestamp(&buffer, timestamp)
        buffer.writeStaticString("\",\"sampledValue\":[")
        sampledValues(&buffer, state: &state, count: count, context: nil)
        buffer.writeStaticString("]}]}]")
    }

    /// What follows each measurand's value, rendered once: `","measurand":"...","unit":"..."}`.
    static let suffixes: [[UInt8]] = measurands.map { entry in
        var text = #"","measurand":"\#(entry.measurand)","unit":"\#(entry.unit)""#
        if let phase = entry.phase { text += #","phase":"\#(phase)""# }
        if let location = entry.location { text += #","location":"\#(location)""# }
        return Array(text.utf8)
    }

    static func sampledValues(_ buffer: inout ByteBuffer, state: inout MeterState, count: Int, context: StaticString?) {
        state.advance()
        for index in 0..<count {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            buffer.writeStaticString("{\"value\":\"")
            writeTenths(&buffer, state.tenths(of: index))
            buffer.writeBytes(suffixes[index % suffixes.count])
            if let context {
                buffer.writeStaticString(",\"context\":\"")
                buffer.writeStaticString(context)
                buffer.writeInteger(UInt8(ascii: "\""))
            }
            buffer.writeInteger(UInt8(ascii: "}"))
        }
    }

    static func simple(_ buffer: inout ByteBuffer, uniqueID: UInt64, action: StaticString, payload: String) {
        beginCall(&buffer, uniqueID: uniqueID, action: action)
        buffer.writeString(payload)
        buffer.writeInteger(UInt8(ascii: "]"))
    }
}

/// What one connector's meter reads: the energy register rises with the power drawn,
/// current and voltage fluctuate, the state of charge climbs.
struct MeterState {
    var energyTenths: Int64
    var powerTenths: Int64 = 110_000
    var socTenths: Int64 = 200
    var step: UInt64 = 0
    var random: UInt64

    init(seed: UInt64) {
        random = seed | 1
        energyTenths = Int64(seed % 10_000_000) * 10
    }

    mutating func next() -> UInt64 {
        random ^= random << 13
        random ^= random >> 7
        random ^= random << 17
        return random
    }

    mutating func advance() {
        step += 1
        powerTenths = 100_000 + Int64(next() % 20_000)
        energyTenths += powerTenths / 360
        socTenths = min(1000, socTenths + 1)
    }

    mutating func tenths(of index: Int) -> Int64 {
        switch index % MessageBuilder.measurands.count {
        case 0: return energyTenths
        case 1: return powerTenths
        case 2, 3, 4: return 150 + Int64(next() % 20)
        case 5, 6, 7: return 2280 + Int64(next() % 40)
        case 8: return socTenths
        case 9: return 250 + Int64(next() % 50)
        case 10: return 499 + Int64(next() % 3)
        case 11: return 110_000
        case 12: return 160
        default: return 950 + Int64(next() % 50)
        }
    }
}
