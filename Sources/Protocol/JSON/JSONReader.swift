/// How object keys are spelled on the wire.
public enum JSONKeyStyle: Sendable, Hashable {
    /// OCPP's own spelling: `connectorId`, `meterValue`.
    case camelCase
    /// The REST API's spelling: `connector_id`, `meter_value`.
    case snakeCase
}

/// Options that shape how payloads are decoded.
public struct OCPPDecodingOptions: Sendable, Hashable {
    /// What to do with properties a schema does not define.
    public enum UnknownProperties: Sendable, Hashable {
        /// Accept them and report them in ``OCPPDecoded/unknownProperties`` (real chargers send vendor extras).
        case accept
        /// Refuse the payload with `FormationViolation` (the schemas' `additionalProperties: false`).
        case reject
    }

    /// What to do with properties a schema does not define. Defaults to ``UnknownProperties/accept``.
    public var unknownProperties: UnknownProperties
    /// How keys are spelled. Defaults to ``JSONKeyStyle/camelCase``.
    public var keyStyle: JSONKeyStyle

    /// - Parameters:
    ///   - unknownProperties: What to do with properties a schema does not define.
    ///   - keyStyle: How keys are spelled.
    public init(unknownProperties: UnknownProperties = .accept, keyStyle: JSONKeyStyle = .camelCase) {
        self.unknownProperties = unknownProperties
        self.keyStyle = keyStyle
    }

    /// Lenient OCPP decoding: unknown properties accepted and reported.
    public static let lenient = OCPPDecodingOptions()
    /// Strict OCPP decoding: unknown properties refused.
    public static let strict = OCPPDecodingOptions(unknownProperties: .reject)
}

/// The position of an object key inside the buffer being read.
public struct JSONKey: Sendable {
    let start: Int
    let count: Int
    /// The key's text when it held escapes; `nil` when the raw bytes are the key.
    let unescaped: String?
}

/// A pull reader over the bytes of one JSON document that decodes typed values straight
/// from the bytes: no `Any`, no intermediate tree or dictionary.
///
/// Generated payload decoders drive it; every type or constraint fault becomes an
/// ``OCPPError`` with the OCPP-J code the schemas call for.
public struct JSONReader: ~Copyable {
    let bytes: UnsafeRawBufferPointer
    var index: Int
    /// The options decoding runs with.
    public let options: OCPPDecodingOptions
    /// Properties that no schema defines, as `Type.property`, when they are accepted.
    public private(set) var unknownProperties: [String] = []
    /// Whether the next `nextKey` is the first of its object.
    private var atObjectStart = false

    static let maximumDepth = 64

    /// - Parameters:
    ///   - bytes: The JSON text, UTF-8. It must stay valid while the reader is used.
    ///   - options: The decoding options.
    public init(bytes: UnsafeRawBufferPointer, options: OCPPDecodingOptions = .lenient) {
        self.bytes = bytes
        self.index = 0
        self.options = options
    }

    // MARK: - Structure

    @inline(__always)
    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"):
                index += 1
            default:
                return
            }
        }
    }

    /// The byte at the current position after whitespace, or `nil` at the end.
    @inline(__always)
    mutating func peekByte() -> UInt8? {
        skipWhitespace()
        return index < bytes.count ? bytes[index] : nil
    }

    /// Consumes `byte` if it is next (after whitespace).
    @inline(__always)
    mutating func consume(_ byte: UInt8) -> Bool {
        if peekByte() == byte {
            index += 1
            return true
        }
        return false
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws(OCPPError) {
        guard consume(byte) else {
            throw syntaxError("expected \(what)")
        }
    }

    func syntaxError(_ reason: String) -> OCPPError {
        .formation("not valid JSON: \(reason) at byte \(index)")
    }

    /// Whether everything after the current position is whitespace.
    public mutating func isAtEnd() -> Bool {
        peekByte() == nil
    }

    /// A word for the JSON type of the next value, for error messages.
    mutating func describeNextValue() -> String {
        guard let byte = peekByte() else { return "end of input" }
        switch byte {
        case UInt8(ascii: "\""): return "string"
        case UInt8(ascii: "{"): return "object"
        case UInt8(ascii: "["): return "array"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return "boolean"
        case UInt8(ascii: "n"): return "null"
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return "number"
        default: return "invalid JSON"
        }
    }

    /// Throws the type error for the next value (or the syntax error if it is no value).
    mutating func typeMismatch(expected: String) -> OCPPError {
        let found = describeNextValue()
        if found == "invalid JSON" || found == "end of input" {
            return syntaxError("expected a value")
        }
        return .type(expected: expected, found: found)
    }

    // MARK: - Objects

    /// Reads the `{` that opens an object.
    public mutating func beginObject() throws(OCPPError) {
        guard peekByte() == UInt8(ascii: "{") else {
            throw typeMismatch(expected: "object")
        }
        index += 1
        atObjectStart = true
    }

    /// Reads the next key and its colon, or the closing `}` (returning `nil`).
    public mutating func nextKey() throws(OCPPError) -> JSONKey? {
        if atObjectStart {
            atObjectStart = false
            if consume(UInt8(ascii: "}")) { return nil }
        } else {
            if consume(UInt8(ascii: "}")) { return nil }
            try expect(UInt8(ascii: ","), "',' or '}' in object")
        }
        guard peekByte() == UInt8(ascii: "\"") else {
            throw syntaxError("expected a string key")
        }
        let span = try scanString()
        let key: JSONKey
        if span.hasEscapes {
            key = JSONKey(start: span.start, count: span.count, unescaped: try decodeString(span))
        } else {
            key = JSONKey(start: span.start, count: span.count, unescaped: nil)
        }
        try expect(UInt8(ascii: ":"), "':' after key")
        return key
    }

    /// Whether `key` is the property named `camel` (or `snake` in snake-case mode).
    @inline(__always)
    public func key(_ key: JSONKey, is camel: StaticString, _ snake: StaticString) -> Bool {
        let name = options.keyStyle == .camelCase ? camel : snake
        if let text = key.unescaped {
            return text == name.description
        }
        guard key.count == name.utf8CodeUnitCount else { return false }
        return memoryEqual(bytes.baseAddress! + key.start, name.utf8Start, key.count)
    }

    /// The text of a key.
    public func keyText(_ key: JSONKey) -> String {
        if let text = key.unescaped { return text }
        return String(
            decoding: UnsafeRawBufferPointer(rebasing: bytes[key.start..<key.start + key.count]),
            as: UTF8.self
        )
    }

    /// Handles a property the schema of `typeName` does not define: skipped and recorded,
    /// or refused with `FormationViolation`, as the options say.
    public mutating func unknownProperty(_ key: JSONKey, in typeName: StaticString) throws(OCPPError) {
        let name = keyText(key)
        switch options.unknownProperties {
        case .accept:
            unknownProperties.append("\(typeName).\(name)")
            try skipValue()
        case .reject:
            throw OCPPError(
                code: .formationViolation,
                reason: "property is not defined by the schema (additional properties are not allowed)",
                path: [name]
            )
        }
    }

    // MARK: - Arrays

    /// Reads an array whose items `element` decodes, checking `minItems`.
    public mutating func readArray<Element>(
        minItems: Int = 0,
        _ element: (inout JSONReader) throws(OCPPError) -> Element
    ) throws(OCPPError) -> [Element] {
        guard peekByte() == UInt8(ascii: "[") else {
            throw typeMismatch(expected: "array")
        }
        index += 1
        var result: [Element] = []
        if !consume(UInt8(ascii: "]")) {
            // Room for a MeterValue's usual ten-odd sampled values in one allocation (growing
            // from empty allocates at 1, 2, 4, 8 and 16).
            result.reserveCapacity(16)
            repeat {
                do throws(OCPPError) {
                    result.append(try element(&self))
                } catch {
                    throw error.prefixed(index: result.count)
                }
            } while consume(UInt8(ascii: ","))
            try expect(UInt8(ascii: "]"), "',' or ']' in array")
        }
        if result.count < minItems {
            throw .tooFewItems(result.count, minimum: minItems)
        }
        return result
    }

    // MARK: - Scalars

    /// Reads a boolean.
    public mutating func readBool() throws(OCPPError) -> Bool {
        if matchLiteral("true") { return true }
        if matchLiteral("false") { return false }
        throw typeMismatch(expected: "boolean")
    }

    mutating func matchLiteral(_ literal: StaticString) -> Bool {
        guard peekByte() != nil else { return false }
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count,
            memoryEqual(bytes.baseAddress! + index, literal.utf8Start, count)
        else { return false }
        index += count
        return true
    }

    /// Reads a string of at most `maxLength` characters (Unicode scalars, as JSON Schema counts).
    public mutating func readString(maxLength: Int? = nil) throws(OCPPError) -> String {
        guard peekByte() == UInt8(ascii: "\"") else {
            throw typeMismatch(expected: "string")
        }
        let span = try scanString()
        let text = try decodeString(span)
        if let maxLength {
            let length = span.isASCII && !span.hasEscapes ? span.count : text.unicodeScalars.count
            if length > maxLength {
                throw .property("string is \(length) characters long, at most \(maxLength) are allowed")
            }
        }
        return text
    }

    /// Reads a string that must be a URI (it has a scheme).
    public mutating func readURI(maxLength: Int? = nil) throws(OCPPError) -> String {
        let text = try readString(maxLength: maxLength)
        guard URISyntax.hasScheme(text) else {
            throw .property("'\(text)' is not a URI (expected scheme:rest, e.g. ftp://host/path)")
        }
        return text
    }

    /// Reads a date-time string (RFC 3339).
    public mutating func readTimestamp() throws(OCPPError) -> OCPPTimestamp {
        guard peekByte() == UInt8(ascii: "\"") else {
            throw typeMismatch(expected: "string (date-time)")
        }
        let span = try scanString()
        if !span.hasEscapes,
            let timestamp = OCPPTimestamp(
                iso8601: UnsafeRawBufferPointer(rebasing: bytes[span.start..<span.start + span.count])
            )
        {
            return timestamp
        }
        let text = try decodeString(span)
        if span.hasEscapes, let timestamp = OCPPTimestamp(iso8601: text) {
            return timestamp
        }
        throw .property("'\(text)' is not a date-time (expected RFC 3339, e.g. 2024-01-31T13:45:00Z)")
    }

    /// Reads a string that must be one of the enumeration's values.
    public mutating func readEnum<Value: OCPPEnum>(_ type: Value.Type) throws(OCPPError) -> Value {
        guard peekByte() == UInt8(ascii: "\"") else {
            throw typeMismatch(expected: "string")
        }
        let span = try scanString()
        if !span.hasEscapes {
            let raw = UnsafeRawBufferPointer(rebasing: bytes[span.start..<span.start + span.count])
            if let value = Value.matching(raw) { return value }
        } else if let value = Value(rawValue: try decodeString(span)) {
            return value
        }
        let text = try decodeString(span)
        throw .property(
            "'\(text)' is not an allowed value; expected one of: "
                + Value.allCases.map(\.rawValue).joined(separator: ", ")
        )
    }

    /// Reads an integer. A number with a zero fraction (`3.0`) is an integer, as JSON Schema says.
    public mutating func readInteger() throws(OCPPError) -> Int {
        guard let first = peekByte(), first == UInt8(ascii: "-") || (first >= 0x30 && first <= 0x39) else {
            throw typeMismatch(expected: "integer")
        }
        let number = try scanNumber()
        if number.isInteger {
            var value = 0
            var position = number.start
            let negative = bytes[position] == UInt8(ascii: "-")
            if negative { position += 1 }
            while position < number.end {
                let digit = Int(bytes[position] &- 0x30)
                let (multiplied, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (added, overflow2) =
                    negative
                    ? multiplied.subtractingReportingOverflow(digit) : multiplied.addingReportingOverflow(digit)
                if overflow1 || overflow2 {
                    throw .type(expected: "integer in 64-bit range", found: "\(numberText(number))")
                }
                value = added
                position += 1
            }
            return value
        }
        let double = parseDouble(number)
        guard double.rounded() == double, let value = Int(exactly: double) else {
            throw .type(expected: "integer", found: "number \(numberText(number))")
        }
        return value
    }

    /// Reads a number, checking `multipleOf` when the schema states it.
    public mutating func readNumber(multipleOf: Double? = nil) throws(OCPPError) -> Double {
        guard let first = peekByte(), first == UInt8(ascii: "-") || (first >= 0x30 && first <= 0x39) else {
            throw typeMismatch(expected: "number")
        }
        let number = try scanNumber()
        let value = parseDouble(number)
        guard value.isFinite else {
            throw .property("number \(numberText(number)) is out of range")
        }
        if let multipleOf, !NumberRules.isMultiple(value, of: multipleOf) {
            throw .property("\(numberText(number)) is not a multiple of \(multipleOf)")
        }
        return value
    }

    // MARK: - Skipping

    /// Skips one whole value of any type, checking its syntax.
    public mutating func skipValue() throws(OCPPError) {
        // Iterative, so that a deeply nested vendor extra cannot exhaust the stack.
        var closers: [UInt8] = []
        var expectingValue = true
        while true {
            if expectingValue {
                guard let byte = peekByte() else { throw syntaxError("unexpected end of input") }
                switch byte {
                case UInt8(ascii: "{"):
                    index += 1
                    guard closers.count < Self.maximumDepth else { throw syntaxError("nesting too deep") }
                    if consume(UInt8(ascii: "}")) {
                        expectingValue = false
                    } else {
                        closers.append(UInt8(ascii: "}"))
                        try skipKeyAndColon()
                        continue
                    }
                case UInt8(ascii: "["):
                    index += 1
                    guard closers.count < Self.maximumDepth else { throw syntaxError("nesting too deep") }
                    if consume(UInt8(ascii: "]")) {
                        expectingValue = false
                    } else {
                        closers.append(UInt8(ascii: "]"))
                        continue
                    }
                case UInt8(ascii: "\""):
                    let span = try scanString()
                    if span.hasEscapes || !span.isASCII { _ = try decodeString(span) }
                    expectingValue = false
                case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
                    guard matchLiteral("true") || matchLiteral("false") || matchLiteral("null") else {
                        throw syntaxError("invalid literal")
                    }
                    expectingValue = false
                default:
                    _ = try scanNumber()
                    expectingValue = false
                }
            }
            guard let closer = closers.last else { return }
            if consume(UInt8(ascii: ",")) {
                if closer == UInt8(ascii: "}") { try skipKeyAndColon() }
                expectingValue = true
            } else {
                try expect(closer, closer == UInt8(ascii: "}") ? "',' or '}' in object" : "',' or ']' in array")
                closers.removeLast()
                expectingValue = false
            }
        }
    }

    private mutating func skipKeyAndColon() throws(OCPPError) {
        guard peekByte() == UInt8(ascii: "\"") else { throw syntaxError("expected a string key") }
        let span = try scanString()
        if span.hasEscapes || !span.isASCII { _ = try decodeString(span) }
        try expect(UInt8(ascii: ":"), "':' after key")
    }

    /// Whether `bytes` hold exactly one syntactically valid JSON value (with whitespace around it).
    public static func isValidJSON(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var reader = JSONReader(bytes: bytes)
        do {
            try reader.skipValue()
        } catch {
            return false
        }
        return reader.isAtEnd()
    }
}

@inline(__always)
func memoryEqual(_ lhs: UnsafeRawPointer, _ rhs: UnsafeRawPointer, _ count: Int) -> Bool {
    var offset = 0
    while offset < count {
        if lhs.load(fromByteOffset: offset, as: UInt8.self) != rhs.load(fromByteOffset: offset, as: UInt8.self) {
            return false
        }
        offset += 1
    }
    return true
}
