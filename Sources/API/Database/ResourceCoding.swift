import Foundation
import Hummingbird
import Protocol
import Relational

/// Turns stored rows into the API's JSON and request bodies into the store's fields, with
/// every rule of the resource checked on the way in.
struct ResourceCoding: Sendable {
    let resource: Resource

    /// An invalid body or parameter: where, what, and a machine-readable kind.
    struct Invalid: Error {
        var location: [String]
        var message: String
        var type: String
    }

    // MARK: - Out

    /// `entity` as the API shows it.
    func body<Entity: Encodable>(_ entity: Entity) throws -> ResourceBody {
        ResourceBody(names: resource.responseFields.map(\.name), values: try Self.object(entity))
    }

    /// A page of rows as `{"items": [...], "total": N, "limit": L, "offset": O}`.
    func body<Entity: Encodable>(_ page: Page<Entity>) throws -> PageBody<ResourceBody> {
        PageBody(items: try page.items.map(body), total: page.total, limit: page.limit, offset: page.offset)
    }

    /// `value` as a JSON object with snake_case keys and ISO 8601 times.
    static func object<Value: Encodable>(_ value: Value) throws -> [String: JSONValue] {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .custom { path in
            SnakeKey(stringValue: ColumnNames.column(for: path.last?.stringValue ?? ""))
        }
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(timestamp(date))
        }
        guard case .object(let object) = try JSONDecoder().decode(JSONValue.self, from: encoder.encode(value)) else {
            return [:]
        }
        return object
    }

    /// Parses an ISO 8601 date-time with a time zone.
    static func date(_ text: String) -> Date? {
        OCPPTimestamp(iso8601: text).map { Date(timeIntervalSince1970: Double($0.millisecondsSince1970) / 1000) }
    }

    /// The integer a path or query parameter spells: a JSON number with an integral value
    /// (`12`, `-3`, `12.0`, `1.2e3`), as JSON Schema's `integer` has it; nil for anything else
    /// or outside the 64-bit range.
    static func integer(_ text: String) -> Int64? {
        guard isJSONNumber(text) else { return nil }
        if let value = Int64(text) { return value }
        guard let real = Double(text), real.rounded() == real else { return nil }
        return Int64(exactly: real)
    }

    /// Whether `text` is a number in JSON's grammar: `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`.
    static func isJSONNumber(_ text: String) -> Bool {
        var bytes = Array(text.utf8)[...]
        func digits() -> Int {
            let count = bytes.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }.count
            bytes = bytes.dropFirst(count)
            return count
        }
        if bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        let leadingZero = bytes.first == UInt8(ascii: "0")
        let integral = digits()
        guard integral > 0, !(leadingZero && integral > 1) else { return false }
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            guard digits() > 0 else { return false }
        }
        if bytes.first == UInt8(ascii: "e") || bytes.first == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if bytes.first == UInt8(ascii: "+") || bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
            guard digits() > 0 else { return false }
        }
        return bytes.isEmpty
    }

    static func timestamp(_ date: Date) -> String {
        OCPPTimestamp(millisecondsSince1970: Int64((date.timeIntervalSince1970 * 1000).rounded(.down))).iso8601
    }

    // MARK: - In

    /// The request body as a JSON object.
    /// - Throws: ``Invalid`` when it is not JSON or not an object.
    static func bodyObject(_ bytes: [UInt8]) throws(Invalid) -> [String: JSONValue] {
        guard let value = JSONValue.parse(bytes) else {
            throw Invalid(location: ["body"], message: "the body is not valid JSON", type: "json_invalid")
        }
        guard case .object(let object) = value else {
            throw Invalid(
                location: ["body"],
                message: "the body must be a JSON object, got \(value.typeName)",
                type: "model_attributes_type"
            )
        }
        return object
    }

    /// Checks `body` against the resource's writable fields.
    /// - Parameters:
    ///   - body: The request's JSON object.
    ///   - complete: A create or full update (PUT): required fields must be there, absent
    ///     ones get their default or null, or are left out for the store to fill in
    ///     (`storeDefault`). Otherwise a partial update (PATCH).
    ///   - fixed: Fields the path sets (a nested collection's parent); a body may repeat
    ///     them only with the same value.
    /// - Returns: The fields to write: all of them when `complete`, else those in `body`.
    /// - Throws: ``Invalid`` for the first field that breaks a rule.
    func checked(
        _ body: [String: JSONValue],
        complete: Bool,
        fixed: [String: Int64] = [:]
    ) throws(Invalid) -> [String: JSONValue] {
        let writable = resource.writableFields
        for key in body.keys.sorted() where !writable.contains(where: { $0.name == key }) {
            let readOnly = resource.field(key) != nil
            throw Invalid(
                location: ["body", key],
                message: readOnly
                    ? "\(key) is set by the server and cannot be written"
                    : "unknown field; \(resource.displayName) fields are "
                        + writable.map(\.name).joined(separator: ", "),
                type: "extra_forbidden"
            )
        }
        var result: [String: JSONValue] = [:]
        for field in writable {
            if let required = fixed[field.name] {
                if let given = body[field.name], given != .integer(required) {
                    throw Invalid(
                        location: ["body", field.name],
                        message: "must be \(required), the \(field.name) of the path, or left out",
                        type: "value_error"
                    )
                }
                result[field.name] = .integer(required)
                continue
            }
            guard let value = body[field.name] else {
                guard complete else { continue }
                if let defaultValue = field.defaultValue {
                    result[field.name] = defaultValue
                } else if field.storeDefault != nil {
                    // Left out: the store fills it in.
                } else if field.nullable {
                    result[field.name] = .null
                } else {
                    throw Invalid(location: ["body", field.name], message: "field required", type: "missing")
                }
                continue
            }
            try Self.check(value, field: field, location: ["body", field.name])
            result[field.name] = value
        }
        return result
    }

    /// Checks one value against its field's type and rules.
    static func check(_ value: JSONValue, field: ResourceField, location: [String]) throws(Invalid) {
        func invalid(_ message: String, _ type: String) -> Invalid {
            Invalid(location: location, message: message, type: type)
        }
        switch (field.kind, value) {
        case (_, .null):
            guard field.nullable else { throw invalid("must not be null", "\(field.kind)_type") }
        case (.integer, .integer(let number)):
            if let minimum = field.minimum, number < minimum {
                throw invalid("must be at least \(minimum), got \(number)", "greater_than_equal")
            }
            if let maximum = field.maximum, number > maximum {
                throw invalid("must be at most \(maximum), got \(number)", "less_than_equal")
            }
        case (.number, .integer), (.number, .number):
            let number: Double
            if case .integer(let integer) = value {
                number = Double(integer)
            } else if case .number(let real) = value {
                number = real
            } else {
                number = 0
            }
            if let minimum = field.minimum, number < Double(minimum) {
                throw invalid("must be at least \(minimum), got \(number)", "greater_than_equal")
            }
            if let maximum = field.maximum, number > Double(maximum) {
                throw invalid("must be at most \(maximum), got \(number)", "less_than_equal")
            }
        case (.string, .string(let text)):
            if text.unicodeScalars.contains("\u{0}") {
                throw invalid("must not contain the NUL character", "string_pattern_mismatch")
            }
            if let allowed = field.allowed, !allowed.contains(text) {
                throw invalid("must be one of \(allowed.joined(separator: ", ")), got \(text)", "enum")
            }
            if let minimum = field.minimumLength, text.unicodeScalars.count < minimum {
                throw invalid("must have at least \(minimum) characters", "string_too_short")
            }
            if let maximum = field.maximumLength, text.unicodeScalars.count > maximum {
                throw invalid("must have at most \(maximum) characters", "string_too_long")
            }
            if let reason = field.rule?(text) {
                throw invalid(reason, "string_pattern_mismatch")
            }
        case (.dateTime, .string(let text)):
            guard OCPPTimestamp(iso8601: text) != nil else {
                throw invalid(
                    "must be an ISO 8601 date-time with a time zone (2026-01-31T12:00:00Z), got \(text)",
                    "datetime_parsing"
                )
            }
        case (.integer, _):
            throw invalid("must be an integer, got \(value.typeName)", "int_type")
        case (.number, _):
            throw invalid("must be a number, got \(value.typeName)", "float_type")
        case (.string, _):
            throw invalid("must be a string, got \(value.typeName)", "string_type")
        case (.dateTime, _):
            throw invalid("must be an ISO 8601 date-time string, got \(value.typeName)", "datetime_type")
        }
    }

    /// Decodes the store's fields from a checked JSON object.
    static func decode<Fields: Decodable>(_ type: Fields.Type, from object: [String: JSONValue]) throws -> Fields {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .custom { path in
            SnakeKey(stringValue: property(for: path.last?.stringValue ?? ""))
        }
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = date(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a date-time: \(text)")
            }
            return date
        }
        return try decoder.decode(Fields.self, from: JSONEncoder().encode(JSONValue.object(object)))
    }

    /// The Swift property of the JSON name `name` (`charge_point_id` is `chargePointID`).
    static func property(for name: String) -> String {
        let parts = name.split(separator: "_")
        guard let first = parts.first else { return name }
        return String(first)
            + parts.dropFirst().map { part in
                part == "id" ? "ID" : part.prefix(1).uppercased() + part.dropFirst()
            }.joined()
    }

    private struct SnakeKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

/// One row as the API shows it: the resource's fields in its order, absent optionals as null.
struct ResourceBody: ResponseEncodable, Sendable {
    var names: [String]
    var values: [String: JSONValue]

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Name.self)
        for name in names {
            try container.encode(values[name] ?? .null, forKey: Name(stringValue: name))
        }
    }

    private struct Name: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

/// A page of a list: `{"items": [...], "total": N, "limit": L, "offset": O}`.
struct PageBody<Item: Encodable & Sendable>: ResponseEncodable, Sendable {
    var items: [Item]
    var total: Int
    var limit: Int
    var offset: Int
}
