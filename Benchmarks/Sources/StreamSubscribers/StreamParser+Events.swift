#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// The body split into Server-Sent Events: lines end at `\n` (a `\r` before it is dropped), an
// empty line dispatches the event gathered. The stream writes every event as an `id:` line,
// an `event:` line and one `data:` line, and comments as `: text` lines.
extension StreamParser {
    mutating func split(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        let count = bytes.count
        var position = 0
        while position < count && phase == .body {
            switch line {
            case .skip, .samplesData:
                let newline = memchr(base + position, Int32(UInt8(ascii: "\n")), count - position)
                let end = newline.map { base.distance(to: UnsafeRawPointer($0)) } ?? count
                if line == .samplesData {
                    rows.feed(UnsafeRawBufferPointer(rebasing: bytes[position..<end]))
                }
                if newline == nil {
                    position = count
                } else {
                    position = end + 1
                    line = .start
                }
            case .start:
                let want = min(count - position, Self.lineStartLimit - lineStart.count)
                let newline = memchr(base + position, Int32(UInt8(ascii: "\n")), want)
                if let newline {
                    let end = base.distance(to: UnsafeRawPointer(newline))
                    lineStart.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[position..<end]))
                    position = end + 1
                    endShortLine()
                } else {
                    lineStart.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[position..<(position + want)]))
                    position += want
                    if lineStart.count == Self.lineStartLimit { startLongLine() }
                }
            }
        }
    }

    private static let eventField = Array("event:".utf8)
    private static let dataField = Array("data:".utf8)
    private static let keepAlive = Array(": keep-alive".utf8)

    /// A line shorter than ``lineStartLimit``, whole in ``lineStart``.
    private mutating func endShortLine() {
        defer {
            lineStart.removeAll(keepingCapacity: true)
            line = .start
        }
        if lineStart.last == UInt8(ascii: "\r") { lineStart.removeLast() }
        if lineStart.isEmpty {
            dispatch()
        } else if lineStart.starts(with: Self.eventField) {
            var name = lineStart.dropFirst(Self.eventField.count)
            if name.first == UInt8(ascii: " ") { name = name.dropFirst() }
            event = Self.eventType(name)
        } else if lineStart.first == UInt8(ascii: ":") {
            if lineStart.elementsEqual(Self.keepAlive) { keepAlives += 1 }
        } else if lineStart.starts(with: Self.dataField) && event == .samples {
            lineStart.dropFirst(Self.dataField.count).withUnsafeBytes { rows.feed($0) }
        }
    }

    /// A line longer than ``lineStartLimit``: a `samples` event's data is counted, the rest
    /// of any other line skipped.
    private mutating func startLongLine() {
        if lineStart.starts(with: Self.dataField) && event == .samples {
            lineStart.dropFirst(Self.dataField.count).withUnsafeBytes { rows.feed($0) }
            line = .samplesData
        } else {
            // An event name this long is none of the ones counted.
            if lineStart.starts(with: Self.eventField) { event = .other }
            line = .skip
        }
        lineStart.removeAll(keepingCapacity: true)
    }

    static func eventType(_ name: ArraySlice<UInt8>) -> EventType {
        switch String(decoding: name, as: UTF8.self) {
        case "samples": .samples
        case "status": .status
        case "ready": .ready
        case "dropped": .dropped
        case "end": .end
        default: .other
        }
    }

    /// The empty line: the event gathered since the last one is complete.
    private mutating func dispatch() {
        switch event {
        case .samples: samples += rows.rows
        case .status: statusEvents += 1
        case .ready: ready = true
        case .dropped: finishEvent("dropped")
        case .end: finishEvent("end")
        case .none, .other: break
        }
        event = .none
        rows = RowCounter()
    }

    private mutating func finishEvent(_ why: String) {
        phase = .over
        finished = why
    }
}

/// Counts the rows of one `samples` event's data,
/// `{"series":[{"charge_point_id":...,"rows":[[ts,value,tx(,raw)],...]},...]}`, exactly,
/// without parsing it into values: it follows the JSON's structure byte by byte and counts
/// the arrays that are elements of an array under the key `rows` of an object that is an
/// element of the array under the key `series` of the top object.
///
/// Why this is exact: outside strings, JSON's structure is its brackets, braces, colons and
/// commas, so the nesting depth and each container's kind follow from them. Inside a string
/// none of them count: a string ends only at a `"` that is not escaped, and the only escapes
/// are `\` and the byte after it (`\"`, `\\`, `\uXXXX`'s `u`: the hex digits that follow are
/// plain), so tracking "in a string" and "after a backslash" finds every string's end.
/// Bytes of multi-byte UTF-8 characters are all 0x80 or above, never one of those ASCII
/// bytes, and a string cannot hold a raw newline, so the data line is the whole JSON text.
/// A key is the string after which a `:` follows; `rows` and `series` are recognised only as
/// keys at their depths, so a charger or measurand named "rows" (a value) does not count.
struct RowCounter {
    private static let seriesKey = Array("series".utf8)
    private static let rowsKey = Array("rows".utf8)

    /// The rows counted.
    private(set) var rows = 0
    /// The number of containers open.
    private var depth = 0
    /// Bit `d`: the container at depth `d` (1: the top one) is an object.
    private var objects: UInt64 = 0
    private var inString = false
    private var escaped = false
    /// How many bytes of the key wanted at this depth the string has matched so far (-1: not
    /// that key).
    private var matched = -1
    private var wanted = RowCounter.seriesKey
    /// 1: the last token was the wanted key; 2: and a `:` followed it.
    private var key = 0
    /// The array at depth 2 is the top object's `series`.
    private var seriesOpen = false
    /// The array at depth 4 is the `rows` of a `series` element.
    private var rowsOpen = false

    private func isObject(_ level: Int) -> Bool { level < 64 && objects & (1 << UInt64(level)) != 0 }

    mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        for byte in bytes {
            if inString {
                if escaped {
                    escaped = false
                    matched = -1
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                    matched = -1
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                    key = matched == wanted.count ? 1 : 0
                } else if matched >= 0 {
                    matched = matched < wanted.count && wanted[matched] == byte ? matched + 1 : -1
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
                key = 0
                if depth == 1 && isObject(1) {
                    matched = 0
                    wanted = Self.seriesKey
                } else if depth == 3 && isObject(3) {
                    matched = 0
                    wanted = Self.rowsKey
                } else {
                    matched = -1
                }
            case UInt8(ascii: ":"):
                key = key == 1 ? 2 : 0
            case UInt8(ascii: "["):
                if depth == 1 {
                    seriesOpen = key == 2
                } else if depth == 3 {
                    rowsOpen = key == 2 && seriesOpen && !isObject(2)
                } else if depth == 4 && rowsOpen && !isObject(4) {
                    rows += 1
                }
                depth += 1
                if depth < 64 { objects &= ~(1 << UInt64(depth)) }
                key = 0
            case UInt8(ascii: "{"):
                depth += 1
                if depth < 64 { objects |= 1 << UInt64(depth) }
                key = 0
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                if depth > 0 { depth -= 1 }
                key = 0
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                break
            default:
                key = 0
            }
        }
    }
}
