import Protocol

/// The bounds the OpenAPI document puts on OCPP bodies that the OCPP schemas leave open,
/// added to the document and enforced on the bodies the API takes: OCPP integers are 32
/// bits (connector ids 0 or more), and the strings a relayed message stores in PostgreSQL
/// hold no NUL character (an idTag that starts a session has at least one).
enum SchemaBounds {
    /// The pattern of a string without the NUL character.
    static let withoutNUL = "^[^\\u0000]*$"

    /// `schema` with bounds on every integer; `storable` also bounds its strings as above.
    static func bounded(_ schema: JSONValue, property: String? = nil, storable: Bool) -> JSONValue {
        guard case .object(var node) = schema else { return schema }
        switch node["type"] ?? .null {
        case "integer":
            let isConnector = property == "connector_id"
            node["minimum"] = .integer(isConnector ? 0 : Int64(Int32.min))
            node["maximum"] = .integer(Int64(Int32.max))
        case "string" where storable && node["enum"] == nil && node["format"] == nil:
            node["pattern"] = .string(withoutNUL)
            if property == "id_tag" { node["minLength"] = 1 }
        case "object":
            if case .object(let properties)? = node["properties"] {
                node["properties"] = .object(
                    properties.reduce(into: [:]) { result, member in
                        result[member.key] = bounded(member.value, property: member.key, storable: storable)
                    }
                )
            }
        case "array":
            if let items = node["items"] { node["items"] = bounded(items, property: property, storable: storable) }
        default:
            break
        }
        return .object(node)
    }

    /// The first value of `body` outside what `schema` bounds (integers' minimum and maximum,
    /// strings' minLength and the NUL-free pattern), as a 422; nil when there is none. Types
    /// and everything else are left to the OCPP decoder.
    static func violation(_ body: JSONValue, _ schema: JSONValue, location: [String] = ["body"]) -> APIError? {
        guard case .object(let node) = schema else { return nil }
        func invalid(_ message: String, _ type: String) -> APIError {
            APIError.invalid(location: location, message: message, type: type)
        }
        switch body {
        case .integer(let value):
            if case .integer(let minimum)? = node["minimum"], value < minimum {
                return invalid("must be at least \(minimum), got \(value)", "greater_than_equal")
            }
            if case .integer(let maximum)? = node["maximum"], value > maximum {
                return invalid("must be at most \(maximum), got \(value)", "less_than_equal")
            }
        case .number(let value) where node["type"] == "integer" && value.rounded() == value:
            if case .integer(let minimum)? = node["minimum"], value < Double(minimum) {
                return invalid("must be at least \(minimum), got \(value)", "greater_than_equal")
            }
            if case .integer(let maximum)? = node["maximum"], value > Double(maximum) {
                return invalid("must be at most \(maximum), got \(value)", "less_than_equal")
            }
        case .string(let text):
            if case .integer(let minimum)? = node["minLength"], text.unicodeScalars.count < minimum {
                return invalid("must have at least \(minimum) characters", "string_too_short")
            }
            if node["pattern"] == .string(withoutNUL), text.unicodeScalars.contains("\u{0}") {
                return invalid("must not contain the NUL character", "string_pattern_mismatch")
            }
        case .object(let members):
            guard case .object(let properties)? = node["properties"] else { return nil }
            for (name, value) in members.sorted(by: { $0.key < $1.key }) {
                guard let property = properties[name] else { continue }
                if let error = violation(value, property, location: location + [name]) { return error }
            }
        case .array(let values):
            guard let items = node["items"] else { return nil }
            for (index, value) in values.enumerated() {
                if let error = violation(value, items, location: location + ["[\(index)]"]) { return error }
            }
        default:
            break
        }
        return nil
    }
}
