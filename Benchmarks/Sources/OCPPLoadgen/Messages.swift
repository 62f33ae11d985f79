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
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 64 + action.utf8CodeUnitCount) { bytes in
            var writer = RawWriter(bytes)
            writer.beginCall(uniqueID: uniqueID, action: action)
            return writer.count
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS.sssZ`, without a `String` per message.
    static func writeTimestamp(_ buffer: inout ByteBuffer, _ milliseconds: Int64) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 32) { bytes in
            var writer = RawWriter(bytes)
            writer.timestamp(milliseconds)
            return writer.count
        }
    }

    /// The longest text a sampled value takes: its value, the longest attributes and a context.
    static let maximumSampledValueBytes = 64 + (suffixes.map(\.count).max() ?? 0) + 64

    /// A MeterValues request with `count` sampled values, written in one call into `buffer`
    /// through a raw pointer (a hundred per-byte `ByteBuffer` writes were a third of the
    /// simulator's CPU).
    static func meterValues(
        _ buffer: inout ByteBuffer,
        uniqueID: UInt64,
        connectorID: Int,
        transactionID: Int?,
        timestamp: Int64,
        state: inout MeterState,
        count: Int
    ) {
        let bound = 256 + count * maximumSampledValueBytes
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { bytes in
            var writer = RawWriter(bytes)
            writer.beginCall(uniqueID: uniqueID, action: "MeterValues")
            writer.write("{\"connectorId\":")
            writer.integer(Int64(connectorID))
            if let transactionID {
                writer.write(",\"transactionId\":")
                writer.integer(Int64(transactionID))
            }
            writer.write(",\"meterValue\":[{\"timestamp\":\"")
            writer.timestamp(timestamp)
            writer.write("\",\"sampledValue\":[")
            sampledValues(&writer, state: &state, count: count, context: nil)
            writer.write("]}]}]")
            precondition(writer.count <= bound, "a MeterValues message outgrew its bound")
            return writer.count
        }
    }

    /// What follows each measurand's value, rendered once: `","measurand":"...","unit":"..."}`.
    static let suffixes: [[UInt8]] = measurands.map { entry in
        var text = #"","measurand":"\#(entry.measurand)","unit":"\#(entry.unit)""#
        if let phase = entry.phase { text += #","phase":"\#(phase)""# }
        if let location = entry.location { text += #","location":"\#(location)""# }
        return Array(text.utf8)
    }

    static func sampledValues(_ writer: inout RawWriter, state: inout MeterState, count: Int, context: StaticString?) {
        state.advance()
        for index in 0..<count {
            if index > 0 { writer.byte(UInt8(ascii: ",")) }
            writer.write("{\"value\":\"")
            writer.tenths(state.tenths(of: index))
            writer.write(suffixes[index % suffixes.count])
            if let context {
                writer.write(",\"context\":\"")
                writer.write(context)
                writer.byte(UInt8(ascii: "\""))
            }
            writer.byte(UInt8(ascii: "}"))
        }
    }

    static func simple(_ buffer: inout ByteBuffer, uniqueID: UInt64, action: StaticString, payload: String) {
        beginCall(&buffer, uniqueID: uniqueID, action: action)
        buffer.writeString(payload)
        buffer.writeInteger(UInt8(ascii: "]"))
    }
}

/// Writes bytes through a raw pointer into room reserved beforehand (the caller bounds the
/// size): a store and an increment per byte, no capacity or uniqueness checks.
struct RawWriter {
    private let base: UnsafeMutableRawPointer
    private let capacity: Int
    private(set) var count = 0

    init(_ bytes: UnsafeMutableRawBufferPointer) {
        base = bytes.baseAddress!
        capacity = bytes.count
    }

    @inline(__always)
    mutating func byte(_ value: UInt8) {
        precondition(count < capacity)
        base.storeBytes(of: value, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    mutating func write(_ text: StaticString) {
        let length = text.utf8CodeUnitCount
        precondition(count + length <= capacity)
        (base + count).copyMemory(from: text.utf8Start, byteCount: length)
        count += length
    }

    mutating func write(_ bytes: [UInt8]) {
        precondition(count + bytes.count <= capacity)
        bytes.withUnsafeBytes { (base + count).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        count += bytes.count
    }

    /// Decimal digits of `value`.
    mutating func integer(_ value: Int64) {
        var magnitude = value.magnitude
        if value < 0 { byte(UInt8(ascii: "-")) }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { raw in
            var index = raw.count
            repeat {
                index -= 1
                raw[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            let length = raw.count - index
            precondition(count + length <= capacity)
            (base + count).copyMemory(from: raw.baseAddress! + index, byteCount: length)
            count += length
        }
    }

    /// A decimal with one fractional digit, from tenths.
    mutating func tenths(_ tenths: Int64) {
        if tenths < 0 { byte(UInt8(ascii: "-")) }
        integer(Int64(tenths.magnitude / 10))
        byte(UInt8(ascii: "."))
        byte(UInt8(ascii: "0") + UInt8(tenths.magnitude % 10))
    }

    /// `YYYY-MM-DDTHH:MM:SS.sssZ` (UTC), digit by digit: no array per message.
    mutating func timestamp(_ milliseconds: Int64) {
        let millisecondsPerDay: Int64 = 86_400_000
        let days = milliseconds >= 0 ? milliseconds / millisecondsPerDay : (milliseconds + 1) / millisecondsPerDay - 1
        let ofDay = milliseconds - days * millisecondsPerDay
        let (year, month, day) = OCPPTimestamp.civilFromDays(Int(days))
        digits(Int64(year), 4)
        byte(UInt8(ascii: "-"))
        digits(Int64(month), 2)
        byte(UInt8(ascii: "-"))
        digits(Int64(day), 2)
        byte(UInt8(ascii: "T"))
        digits(ofDay / 3_600_000, 2)
        byte(UInt8(ascii: ":"))
        digits(ofDay / 60_000 % 60, 2)
        byte(UInt8(ascii: ":"))
        digits(ofDay / 1000 % 60, 2)
        byte(UInt8(ascii: "."))
        digits(ofDay % 1000, 3)
        byte(UInt8(ascii: "Z"))
    }

    /// `value` in exactly `width` decimal digits (zero-padded).
    private mutating func digits(_ value: Int64, _ width: Int) {
        precondition(count + width <= capacity)
        var remaining = value
        for offset in stride(from: width - 1, through: 0, by: -1) {
            base.storeBytes(of: UInt8(ascii: "0") + UInt8(remaining % 10), toByteOffset: count + offset, as: UInt8.self)
            remaining /= 10
        }
        count += width
    }

    /// `[2,"id","Action",`.
    mutating func beginCall(uniqueID: UInt64, action: StaticString) {
        write("[2,\"")
        integer(Int64(uniqueID))
        write("\",\"")
        write(action)
        write("\",")
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
