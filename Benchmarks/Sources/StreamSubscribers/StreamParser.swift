/// One live stream's bytes as they arrive: the HTTP/1.1 response head, the chunked body
/// de-chunked, the body split into Server-Sent Events and the events counted by type. Every
/// read is scanned once, in place, byte by byte or with `memchr`; nothing is copied but a
/// line's first few bytes (to tell an event's type) and the response head.
///
/// The counts gather here until the caller takes them (``takeCounts()``) after each read.
struct StreamParser {
    enum Phase {
        case head
        case body
        /// The stream is over (see ``finished``): later bytes are not looked at.
        case over
    }

    /// What an event line named.
    enum EventType {
        case none, samples, status, ready, dropped, end, other
    }

    /// Where the de-chunking is.
    enum Chunking {
        /// In a chunk-size line (hex digits, then maybe `;extensions`, then CRLF).
        case size(value: Int, digits: Int, inExtension: Bool)
        /// Inside a chunk's data: the bytes still to come.
        case data(left: Int)
        /// The CRLF after a chunk's data: the bytes still to skip.
        case dataEnd(left: Int)
    }

    /// Where the event splitting is within the current line.
    enum Line {
        /// The line's first bytes, gathered in ``lineStart`` until its type is known.
        case start
        /// A `data:` line of a `samples` event: its bytes go to ``rows``.
        case samplesData
        /// A line of no interest, up to its newline.
        case skip
    }

    /// The most bytes of a line looked at to tell its type: the longest line that matters,
    /// `event: dropped` or `: keep-alive`, is shorter.
    static let lineStartLimit = 24

    var phase = Phase.head
    var head: [UInt8] = []
    var chunked = false
    var chunking = Chunking.size(value: 0, digits: 0, inExtension: false)
    var line = Line.start
    var lineStart: [UInt8] = []
    var event = EventType.none
    var rows = RowCounter()

    // Counts since the caller last took them.
    var samples = 0
    var statusEvents = 0
    var keepAlives = 0
    /// Set by the first `ready` event.
    var ready = false
    /// Why the stream is over, once it is: `dropped`, `end`, the server ending the response,
    /// an HTTP status other than 200 or a malformed body.
    var finished: String?
    /// The error to record (a status other than 200, a malformed body).
    var error: String?

    init() {
        head.reserveCapacity(512)
        lineStart.reserveCapacity(Self.lineStartLimit)
    }

    /// Takes the sample rows, status events and keep-alives counted since the last call.
    mutating func takeCounts() -> (samples: Int, status: Int, keepAlives: Int) {
        defer {
            samples = 0
            statusEvents = 0
            keepAlives = 0
        }
        return (samples, statusEvents, keepAlives)
    }

    mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        switch phase {
        case .over:
            return
        case .head:
            readHead(bytes)
        case .body:
            if chunked { dechunk(bytes) } else { split(bytes) }
        }
    }

    private mutating func finish(_ why: String, error: String? = nil) {
        guard phase != .over else { return }
        phase = .over
        finished = why
        if let error { self.error = error }
    }

    // MARK: The response head

    private mutating func readHead(_ bytes: UnsafeRawBufferPointer) {
        let before = head.count
        head.append(contentsOf: bytes)
        // The blank line may straddle reads: look from 3 bytes before this read's.
        let from = max(0, before - 3)
        guard let end = Self.find([13, 10, 13, 10], in: head, from: from) else { return }
        let rest = Array(head[(end + 4)...])
        let text = String(decoding: head[..<end], as: UTF8.self).lowercased()
        head = []
        let words = text.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        let status = words.count > 1 ? String(words[1]) : "?"
        guard status == "200" else {
            let body = String(decoding: rest.prefix(200), as: UTF8.self)
            let why = "HTTP \(status): \(body)"
            finish(why, error: why)
            return
        }
        phase = .body
        chunked = text.contains("transfer-encoding: chunked")
        rest.withUnsafeBytes { feed($0) }
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var index = from
        while index + needle.count <= haystack.count {
            if haystack[index] == needle[0] && haystack[index..<(index + needle.count)].elementsEqual(needle) {
                return index
            }
            index += 1
        }
        return nil
    }

    // MARK: De-chunking

    private mutating func dechunk(_ bytes: UnsafeRawBufferPointer) {
        var position = 0
        let count = bytes.count
        while position < count && phase == .body {
            switch chunking {
            case .data(let left):
                let take = min(left, count - position)
                split(UnsafeRawBufferPointer(rebasing: bytes[position..<(position + take)]))
                position += take
                chunking = take == left ? .dataEnd(left: 2) : .data(left: left - take)
            case .dataEnd(let left):
                let take = min(left, count - position)
                position += take
                chunking = take == left ? .size(value: 0, digits: 0, inExtension: false) : .dataEnd(left: left - take)
            case .size(var value, var digits, var inExtension):
                let byte = bytes[position]
                position += 1
                if byte == UInt8(ascii: "\n") {
                    guard digits > 0 else {
                        finish("a malformed chunk size", error: "a chunk size line without digits")
                        return
                    }
                    if value == 0 {
                        finish("the server ended the response")
                        return
                    }
                    chunking = .data(left: value)
                    continue
                }
                if !inExtension {
                    if let digit = Self.hexDigit(byte) {
                        guard digits < 15 else {
                            finish("a malformed chunk size", error: "a chunk size of more than 15 hex digits")
                            return
                        }
                        value = value << 4 | digit
                        digits += 1
                    } else if byte == UInt8(ascii: ";") {
                        inExtension = true
                    } else if byte != UInt8(ascii: "\r") && byte != UInt8(ascii: " ") && byte != UInt8(ascii: "\t") {
                        finish("a malformed chunk size", error: "a chunk size with the byte \(byte)")
                        return
                    }
                }
                chunking = .size(value: value, digits: digits, inExtension: inExtension)
            }
        }
    }

    static func hexDigit(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
