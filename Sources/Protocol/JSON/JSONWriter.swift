/// Writes compact JSON into a byte array. Generated payload encoders drive it.
public struct JSONWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8]
    /// How keys are spelled.
    public let keyStyle: JSONKeyStyle
    /// Whether the next member of the current object or array is its first (no comma before it).
    private var atContainerStart = true

    /// - Parameters:
    ///   - keyStyle: How keys are spelled.
    ///   - capacity: Bytes to reserve up front.
    public init(keyStyle: JSONKeyStyle = .camelCase, capacity: Int = 256) {
        self.bytes = []
        self.bytes.reserveCapacity(capacity)
        self.keyStyle = keyStyle
    }

    @inline(__always)
    private mutating func separate() {
        if atContainerStart {
            atContainerStart = false
        } else {
            bytes.append(UInt8(ascii: ","))
        }
    }

    /// Opens an object.
    public mutating func beginObject() {
        bytes.append(UInt8(ascii: "{"))
        atContainerStart = true
    }

    /// Closes an object.
    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        atContainerStart = false
    }

    /// Opens an array.
    public mutating func beginArray() {
        bytes.append(UInt8(ascii: "["))
        atContainerStart = true
    }

    /// Closes an array.
    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        atContainerStart = false
    }

    /// Writes a key in the writer's key style; the value follows.
    public mutating func key(_ camel: StaticString, _ snake: StaticString) {
        separate()
        let name = keyStyle == .camelCase ? camel : snake
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        atContainerStart = true
    }

    /// Opens an object as the next value: at the top, after a key, or as an array's element.
    public mutating func beginObjectValue() {
        separate()
        beginObject()
    }

    /// Opens an array as the next value: at the top, after a key, or as an array's element.
    public mutating func beginArrayValue() {
        separate()
        beginArray()
    }

    /// Writes a key known only at run time (escaped); the value follows.
    public mutating func key(_ name: String) {
        separate()
        Self.appendString(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        atContainerStart = true
    }

    /// Writes a string, escaped as JSON requires.
    public mutating func write(_ value: String) {
        separate()
        Self.appendString(value, to: &bytes)
    }

    /// Appends `text` as a JSON string literal: quotes, backslashes and control characters
    /// escaped (`\n`, `\r`, `\t`, otherwise `\u00XX`), everything else as its UTF-8 bytes.
    /// Every JSON string the project writes goes through here.
    @inline(__always)
    public static func appendString(_ text: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { utf8 in
            var runStart = 0
            for position in 0..<utf8.count {
                let byte = utf8[position]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<position]))
                runStart = position + 1
                switch byte {
                case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
                case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [
                        UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                        hex[Int(byte >> 4)], hex[Int(byte & 0x0F)],
                    ])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<utf8.count]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Writes `null`.
    public mutating func writeNull() {
        separate()
        bytes.append(contentsOf: "null".utf8)
    }

    /// Writes a 64-bit integer.
    public mutating func write(_ value: Int64) {
        separate()
        bytes.append(contentsOf: String(value).utf8)
    }

    /// Writes an unsigned 64-bit integer.
    public mutating func write(_ value: UInt64) {
        separate()
        bytes.append(contentsOf: String(value).utf8)
    }

    /// Writes an integer.
    public mutating func write(_ value: Int) {
        separate()
        if value >= 0 && value < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(value))
        } else {
            bytes.append(contentsOf: String(value).utf8)
        }
    }

    /// Writes a number in its shortest form that reads back to the same value.
    public mutating func write(_ value: Double) {
        separate()
        if value.isFinite, value.rounded() == value, abs(value) < 1e15 {
            // Integral values as plain integers with one decimal, e.g. 32.0, as Python writes them.
            bytes.append(contentsOf: String(Int(value)).utf8)
            bytes.append(contentsOf: [UInt8(ascii: "."), UInt8(ascii: "0")])
        } else if value.isFinite {
            bytes.append(contentsOf: value.description.utf8)
        } else {
            // JSON has no infinities or NaN; validation keeps them out of payloads.
            bytes.append(contentsOf: "null".utf8)
        }
    }

    /// Writes a boolean.
    public mutating func write(_ value: Bool) {
        separate()
        bytes.append(contentsOf: value ? "true".utf8 : "false".utf8)
    }

    /// Writes a date-time as `YYYY-MM-DDTHH:MM:SS.sssZ`.
    public mutating func write(_ value: OCPPTimestamp) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        value.appendISO8601(to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    /// Writes an enumeration's value.
    public mutating func write<Value: OCPPEnum>(_ value: Value) {
        write(value.rawValue)
    }

    /// Writes a payload (an object).
    public mutating func write<Value: OCPPPayload>(_ value: Value) {
        separate()
        value.write(to: &self)
    }

    /// Writes an array of payloads.
    public mutating func write<Value: OCPPPayload>(_ values: [Value]) {
        separate()
        beginArray()
        for value in values { write(value) }
        endArray()
    }

    /// Writes an array of strings.
    public mutating func write(_ values: [String]) {
        separate()
        beginArray()
        for value in values { write(value) }
        endArray()
    }

    /// Appends bytes that already are valid JSON (a payload kept raw).
    public mutating func writeRaw(_ json: [UInt8]) {
        separate()
        bytes.append(contentsOf: json)
    }
}
