import Foundation
public import Hummingbird
import NIOCore
import Protocol

/// The response encoder of the REST API: every `ResponseEncodable` a route returns, and
/// every ``APIError``, becomes JSON here (`application/json`).
///
/// Unlike Foundation's `JSONEncoder` it keeps keys in the order `encode(to:)` writes them,
/// writes a nil optional as `null` (the API states every field of a response, present or
/// not), writes a `Date` as an ISO 8601 UTC date-time with milliseconds, copies a
/// ``RawJSON`` as it is, and escapes strings with ``JSONWriter``, as the OCPP side does.
public struct APIJSONEncoder: ResponseEncoder {
    public init() {}

    public func encode(_ value: some Encodable, from request: Request, context: some RequestContext) throws -> Response
    {
        Self.response(try Self.bytes(value))
    }

    /// `value` as JSON text.
    static func bytes(_ value: some Encodable) throws -> [UInt8] {
        let root = EncodedJSON()
        try EncodedJSON.encode(value, into: root, codingPath: [])
        var writer = JSONWriter(capacity: 1024)
        root.write(to: &writer)
        return writer.bytes
    }

    /// A response carrying JSON `bytes`.
    /// JSON already written into a buffer, sent as it is.
    static func response(_ buffer: ByteBuffer, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: buffer))
    }

    static func response(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }
}

/// JSON text that is already encoded (an OCPP confirmation, a charger's error details, a
/// page of meter history), returned or embedded as it is.
struct RawJSON: ResponseEncodable, Sendable {
    var bytes: [UInt8]

    /// For encoders other than ``APIJSONEncoder``, which copies the bytes instead.
    func encode(to encoder: any Encoder) throws {
        guard let value = JSONValue.parse(bytes) else {
            throw EncodingError.invalidValue(
                bytes,
                .init(codingPath: encoder.codingPath, debugDescription: "not JSON")
            )
        }
        try value.encode(to: encoder)
    }
}

/// A JSON value as it is encoded; containers are references, so nested containers handed
/// out by the `Encoder` fill them later.
private final class EncodedJSON {
    enum Scalar {
        case null, bool(Bool), integer(Int64), unsigned(UInt64), number(Double), string(String), raw([UInt8])
    }

    enum Kind {
        case scalar(Scalar), array, object
    }

    /// A value nothing was encoded into is an empty object, as with Foundation's encoder.
    var kind = Kind.object
    var elements: [EncodedJSON] = []
    var keys: [String] = []
    var members: [String: EncodedJSON] = [:]

    func set(_ scalar: Scalar) { kind = .scalar(scalar) }

    func becomeObject() {
        if case .object = kind { return }
        kind = .object
    }

    func becomeArray() {
        if case .array = kind { return }
        kind = .array
    }

    /// The member `key`, created empty at the end when new.
    func member(_ key: String) -> EncodedJSON {
        if let existing = members[key] { return existing }
        let node = EncodedJSON()
        keys.append(key)
        members[key] = node
        return node
    }

    func appendElement() -> EncodedJSON {
        let node = EncodedJSON()
        elements.append(node)
        return node
    }

    static func encode<Value: Encodable>(_ value: Value, into node: EncodedJSON, codingPath: [any CodingKey]) throws {
        switch value {
        case let raw as RawJSON: node.set(.raw(raw.bytes))
        case let date as Date:
            let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
            node.set(.string(OCPPTimestamp(millisecondsSince1970: milliseconds).iso8601))
        default: try value.encode(to: TreeEncoder(node: node, codingPath: codingPath))
        }
    }

    func write(to writer: inout JSONWriter) {
        switch kind {
        case .scalar(let scalar):
            switch scalar {
            case .null: writer.writeNull()
            case .bool(let value): writer.write(value)
            case .integer(let value): writer.write(value)
            case .unsigned(let value): writer.write(value)
            case .number(let value): writer.write(value)
            case .string(let value): writer.write(value)
            case .raw(let bytes): writer.writeRaw(bytes)
            }
        case .array:
            writer.beginArrayValue()
            for element in elements { element.write(to: &writer) }
            writer.endArray()
        case .object:
            writer.beginObjectValue()
            for key in keys {
                writer.key(key)
                members[key]!.write(to: &writer)
            }
            writer.endObject()
        }
    }
}

/// Each primitive the `Encoder` containers take, as the scalar it is written as.
extension EncodedJSON.Scalar {
    init(_ value: Bool) { self = .bool(value) }
    init(_ value: String) { self = .string(value) }
    init(_ value: Double) { self = .number(value) }
    init(_ value: Float) { self = .number(Double(value)) }
    init(_ value: some SignedInteger & FixedWidthInteger) { self = .integer(Int64(value)) }
    init(_ value: some UnsignedInteger & FixedWidthInteger) { self = .unsigned(UInt64(value)) }
}

private struct TreeEncoder: Encoder {
    let node: EncodedJSON
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.becomeObject()
        return KeyedEncodingContainer(KeyedContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        node.becomeArray()
        return UnkeyedContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleValueContainer(node: node, codingPath: codingPath)
    }
}

private struct IndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String { "\(intValue ?? 0)" }
    init(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { nil }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: EncodedJSON
    let codingPath: [any CodingKey]

    private func put(_ scalar: EncodedJSON.Scalar?, _ key: Key) { node.member(key.stringValue).set(scalar ?? .null) }

    mutating func encodeNil(forKey key: Key) throws { put(.null, key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { put(.init(value), key) }
    mutating func encode(_ value: String, forKey key: Key) throws { put(.init(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { put(.init(value), key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { put(.init(value), key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { put(.init(value), key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { put(.init(value), key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { put(.init(value), key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { put(.init(value), key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { put(.init(value), key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { put(.init(value), key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { put(.init(value), key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { put(.init(value), key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { put(.init(value), key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { put(.init(value), key) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try EncodedJSON.encode(value, into: node.member(key.stringValue), codingPath: codingPath + [key])
    }

    // A nil optional is written as null rather than left out.
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { put(value.map { .init($0) }, key) }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { put(value.map { .init($0) }, key) }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { put(value.map { .init($0) }, key) }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { put(value.map { .init($0) }, key) }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { put(value.map { .init($0) }, key) }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { put(value.map { .init($0) }, key) }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { put(value.map { .init($0) }, key) }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { put(value.map { .init($0) }, key) }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { put(value.map { .init($0) }, key) }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { put(value.map { .init($0) }, key) }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { put(value.map { .init($0) }, key) }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { put(value.map { .init($0) }, key) }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { put(value.map { .init($0) }, key) }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { put(value.map { .init($0) }, key) }
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) } else { put(.null, key) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type,
        forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        let child = node.member(key.stringValue)
        child.becomeObject()
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: child, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = node.member(key.stringValue)
        child.becomeArray()
        return UnkeyedContainer(node: child, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder {
        TreeEncoder(node: node.member("super"), codingPath: codingPath)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        TreeEncoder(node: node.member(key.stringValue), codingPath: codingPath + [key])
    }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let node: EncodedJSON
    let codingPath: [any CodingKey]
    var count: Int { node.elements.count }

    private func append(_ scalar: EncodedJSON.Scalar) { node.appendElement().set(scalar) }

    mutating func encodeNil() throws { append(.null) }
    mutating func encode(_ value: Bool) throws { append(.init(value)) }
    mutating func encode(_ value: String) throws { append(.init(value)) }
    mutating func encode(_ value: Double) throws { append(.init(value)) }
    mutating func encode(_ value: Float) throws { append(.init(value)) }
    mutating func encode(_ value: Int) throws { append(.init(value)) }
    mutating func encode(_ value: Int8) throws { append(.init(value)) }
    mutating func encode(_ value: Int16) throws { append(.init(value)) }
    mutating func encode(_ value: Int32) throws { append(.init(value)) }
    mutating func encode(_ value: Int64) throws { append(.init(value)) }
    mutating func encode(_ value: UInt) throws { append(.init(value)) }
    mutating func encode(_ value: UInt8) throws { append(.init(value)) }
    mutating func encode(_ value: UInt16) throws { append(.init(value)) }
    mutating func encode(_ value: UInt32) throws { append(.init(value)) }
    mutating func encode(_ value: UInt64) throws { append(.init(value)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let index = IndexKey(intValue: count)
        try EncodedJSON.encode(value, into: node.appendElement(), codingPath: codingPath + [index])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type
    ) -> KeyedEncodingContainer<NestedKey> {
        let index = IndexKey(intValue: count)
        let child = node.appendElement()
        child.becomeObject()
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: child, codingPath: codingPath + [index]))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let index = IndexKey(intValue: count)
        let child = node.appendElement()
        child.becomeArray()
        return UnkeyedContainer(node: child, codingPath: codingPath + [index])
    }

    mutating func superEncoder() -> any Encoder {
        let index = IndexKey(intValue: count)
        return TreeEncoder(node: node.appendElement(), codingPath: codingPath + [index])
    }
}

private struct SingleValueContainer: SingleValueEncodingContainer {
    let node: EncodedJSON
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { node.set(.null) }
    mutating func encode(_ value: Bool) throws { node.set(.init(value)) }
    mutating func encode(_ value: String) throws { node.set(.init(value)) }
    mutating func encode(_ value: Double) throws { node.set(.init(value)) }
    mutating func encode(_ value: Float) throws { node.set(.init(value)) }
    mutating func encode(_ value: Int) throws { node.set(.init(value)) }
    mutating func encode(_ value: Int8) throws { node.set(.init(value)) }
    mutating func encode(_ value: Int16) throws { node.set(.init(value)) }
    mutating func encode(_ value: Int32) throws { node.set(.init(value)) }
    mutating func encode(_ value: Int64) throws { node.set(.init(value)) }
    mutating func encode(_ value: UInt) throws { node.set(.init(value)) }
    mutating func encode(_ value: UInt8) throws { node.set(.init(value)) }
    mutating func encode(_ value: UInt16) throws { node.set(.init(value)) }
    mutating func encode(_ value: UInt32) throws { node.set(.init(value)) }
    mutating func encode(_ value: UInt64) throws { node.set(.init(value)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try EncodedJSON.encode(value, into: node, codingPath: codingPath)
    }
}
