/// A JSON object that one of the official OCPP 1.6 schemas describes: a request, a
/// confirmation, or an object nested in one.
///
/// Conforming types are generated from the schemas (`scripts/generate-protocol.py`), so
/// decoding validates every constraint the schema states.
public protocol OCPPPayload: Sendable, Hashable {
    /// The Swift name of the type, used when reporting unknown properties.
    static var typeName: StaticString { get }

    /// Decodes and validates one object from `reader`.
    /// - Throws: ``OCPPError`` with the OCPP-J error code for the first violation found.
    init(reading reader: inout JSONReader) throws(OCPPError)

    /// Writes the object to `writer`.
    func write(to writer: inout JSONWriter)
}

/// A payload decoded from bytes, with the properties the schema did not define (when accepted).
public struct OCPPDecoded<Value: Sendable>: Sendable {
    /// The decoded value.
    public var value: Value
    /// Properties no schema defines, as `Type.property`; empty for a clean payload.
    public var unknownProperties: [String]
}

extension OCPPPayload {
    /// Decodes a payload from JSON bytes.
    /// - Parameters:
    ///   - bytes: One JSON object, UTF-8.
    ///   - options: Strictness and key style.
    /// - Returns: The value and any unknown properties that were accepted.
    /// - Throws: ``OCPPError``: `FormationViolation` for bytes that are not JSON, otherwise
    ///   the code of the first schema violation.
    public static func decode(
        from bytes: UnsafeRawBufferPointer,
        options: OCPPDecodingOptions = .lenient
    ) throws(OCPPError) -> OCPPDecoded<Self> {
        var reader = JSONReader(bytes: bytes, options: options)
        do throws(OCPPError) {
            let value = try Self(reading: &reader)
            guard reader.isAtEnd() else { throw reader.syntaxError("unexpected data after the object") }
            return OCPPDecoded(value: value, unknownProperties: reader.unknownProperties)
        } catch {
            // A schema violation found early does not hide that the document is not JSON at all.
            if error.code != .formationViolation, !JSONReader.isValidJSON(bytes) {
                throw .formation("not valid JSON")
            }
            throw error
        }
    }

    /// Decodes a payload from JSON bytes.
    /// - Throws: ``OCPPError`` as ``decode(from:options:)-(UnsafeRawBufferPointer,_)`` does.
    public static func decode(
        from bytes: [UInt8],
        options: OCPPDecodingOptions = .lenient
    ) throws(OCPPError)
        -> OCPPDecoded<Self>
    {
        try bytes.withUnsafeBytes { buffer in
            Result { () throws(OCPPError) in try decode(from: buffer, options: options) }
        }.get()
    }

    /// The payload as compact JSON.
    /// - Parameter keyStyle: How keys are spelled (OCPP's camelCase by default).
    public func encoded(keyStyle: JSONKeyStyle = .camelCase) -> [UInt8] {
        var writer = JSONWriter(keyStyle: keyStyle)
        write(to: &writer)
        return writer.bytes
    }

    /// Checks that the value conforms to its schema (string lengths, item counts, multiples,
    /// URIs, per-message value restrictions) by encoding it and decoding it strictly.
    /// - Throws: ``OCPPError`` naming the first violation.
    public func validate() throws(OCPPError) {
        _ = try Self.decode(from: encoded(), options: .strict)
    }
}

/// The payload of a CALL: a request of one OCPP action.
public protocol OCPPRequest: OCPPPayload {
    /// The confirmation the receiver answers with.
    associatedtype Response: OCPPPayload
    /// The action this request belongs to.
    static var action: OCPPAction { get }
}

/// A string enumeration of the OCPP schemas.
public protocol OCPPEnum: RawRepresentable<String>, CaseIterable, Sendable, Hashable {
    /// The case whose raw value is exactly `raw` (UTF-8), or `nil`.
    static func matching(_ raw: UnsafeRawBufferPointer) -> Self?
}

/// Whether the bytes `raw` are exactly `text`.
@inline(__always)
func rawEquals(_ raw: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
    raw.count == text.utf8CodeUnitCount && memoryEqual(raw.baseAddress!, text.utf8Start, raw.count)
}

extension JSONReader {
    /// The property name in the reader's key style, for error paths.
    public func name(_ camel: StaticString, _ snake: StaticString) -> String {
        options.keyStyle == .camelCase ? camel.description : snake.description
    }

    /// The error for a missing required property, named in the reader's key style.
    public func missing(_ camel: StaticString, _ snake: StaticString) -> OCPPError {
        .missing(name(camel, snake))
    }
}

extension OCPPError {
    /// The same error located under the property `name`.
    public func under(_ name: String) -> OCPPError {
        prefixed(name)
    }

    /// The same error located at the array index `index`.
    public func at(index: Int) -> OCPPError {
        prefixed(index: index)
    }

    /// A value that the schema of this particular message does not allow.
    public static func notAllowedHere(_ value: String, allowed: [String]) -> OCPPError {
        .property("'\(value)' is not an allowed value here; expected one of: " + allowed.joined(separator: ", "))
    }
}

extension OCPPError {
    /// An array with fewer items than the schema of this particular message requires.
    public static func tooFewItems(_ count: Int, minimum: Int) -> OCPPError {
        OCPPError(code: .occurenceConstraintViolation, reason: "expected at least \(minimum) item(s), found \(count)")
    }
}

/// A value as an optional, whether or not it already was one (for generated traversals).
@inline(__always)
func optional<Value>(_ value: Value?) -> Value? { value }

/// An optional array's elements, or none.
@inline(__always)
func orEmpty<Element>(_ array: [Element]?) -> [Element] { array ?? [] }

/// A request decoded from a CALL, as one case per action a sender may send.
public protocol OCPPIncomingRequest: Sendable, Hashable {
    /// Decodes the payload of a CALL of `action`.
    /// - Throws: ``OCPPError``: `NotSupported` for an action not sent in this direction,
    ///   otherwise the code of the first schema violation.
    init(action: OCPPAction, reading reader: inout JSONReader) throws(OCPPError)
    /// The action of the request.
    var action: OCPPAction { get }
    /// The request payload.
    var payload: any OCPPRequest { get }
}
