/// A step into a JSON document.
enum PathComponent: Equatable {
    case key(String)
    case index(Int)
}

/// Renders a path the way `OCPPError.location` does: `a.b[0].c`, `payload` for the root.
func render(_ path: [PathComponent]) -> String {
    guard !path.isEmpty else { return "payload" }
    var result = ""
    for component in path {
        switch component {
        case .key(let key): result += result.isEmpty ? key : "." + key
        case .index(let index): result += "[\(index)]"
        }
    }
    return result
}

extension Schema.Node {
    /// A payload that satisfies the node.
    /// - Parameters:
    ///   - variant: Picks among allowed values (enum members, lengths, numbers) so that
    ///     several variants together exercise more of the schema.
    ///   - full: Include optional properties too.
    func instance(variant: Int, full: Bool) -> TestJSON {
        switch self {
        case .object(let properties, let required, _):
            return .object(
                properties.compactMap { key, node in
                    guard full || required.contains(key) else { return nil }
                    return (key, node.instance(variant: variant, full: full))
                }
            )
        case .array(let items, let minItems):
            let count = max(minItems, full ? 2 : 1)
            return .array((0..<count).map { items.instance(variant: variant + $0, full: full) })
        case .string(let maxLength, let allowed, let format):
            if let allowed { return .string(allowed[variant % allowed.count]) }
            switch format {
            case "date-time": return .string(["2024-01-31T13:45:00.123Z", "2025-02-28T23:59:59.000Z"][variant % 2])
            case "uri": return .string("ftp://127.0.0.1/ocpp/upload")
            default:
                // Variant 1 fills the string to its maximum length, with non-ASCII characters.
                if variant % 2 == 1, let maxLength { return .string(String(repeating: "é", count: maxLength)) }
                return .string(String("Sample value \(variant)".prefix(maxLength ?? 64)))
            }
        case .integer:
            return .number(Double(variant + 1))
        case .number(let multipleOf):
            return .number(multipleOf == nil ? 1234.5 + Double(variant) : 16.5 + Double(variant))
        case .boolean:
            return .bool(variant % 2 == 0)
        }
    }

    /// A JSON value of the wrong type for this node.
    var wrongTypeValue: TestJSON {
        switch self {
        case .object: return .array([])
        case .array: return .object([])
        case .string: return .number(42)
        case .integer, .number: return .string("12")
        case .boolean: return .string("true")
        }
    }
}

/// One way to break a valid payload, and the OCPP-J error it must produce.
struct Violation: CustomStringConvertible {
    let what: String
    let payload: TestJSON
    let code: OCPPErrorCodeName
    let location: String
    /// Whether it is only a violation in strict mode (unknown properties).
    var strictOnly = false

    var description: String { "\(what) at \(location) -> \(code)" }
}

/// The spelling of an OCPP-J error code, as the tests expect it (independent of the module's enum).
typealias OCPPErrorCodeName = String

extension TestJSON {
    /// The document with the value at `path` replaced (or removed, for `nil`).
    func replacing(_ path: ArraySlice<PathComponent>, with replacement: TestJSON?) -> TestJSON {
        guard let first = path.first else { return replacement ?? .null }
        switch (self, first) {
        case (.object(let members), .key(let key)):
            if path.count == 1, replacement == nil {
                return .object(members.filter { $0.0 != key })
            }
            if path.count == 1, !members.contains(where: { $0.0 == key }) {
                return .object(members + [(key, replacement!)])
            }
            return .object(
                members.map { name, value in
                    name == key ? (name, value.replacing(path.dropFirst(), with: replacement)) : (name, value)
                }
            )
        case (.array(var items), .index(let index)):
            items[index] = items[index].replacing(path.dropFirst(), with: replacement)
            return .array(items)
        default:
            return self
        }
    }
}

extension Schema {
    /// Every violation of every constraint the schema states, applied to the full valid payload:
    /// each required property removed, each value of the wrong type, integers with fractions,
    /// values outside enums, strings one character too long, arrays with too few items, bad
    /// date-times and URIs, numbers that are not multiples, and unknown properties.
    func violations() -> [Violation] {
        let valid = root.instance(variant: 0, full: true)
        var result: [Violation] = []
        func walk(_ node: Node, _ value: TestJSON, _ path: [PathComponent]) {
            let here = render(path)
            func add(_ what: String, _ replacement: TestJSON?, _ code: String, at location: String? = nil) {
                result.append(
                    Violation(
                        what: what,
                        payload: valid.replacing(path[...], with: replacement),
                        code: code,
                        location: location ?? here
                    )
                )
            }
            if !path.isEmpty {
                add("wrong type", node.wrongTypeValue, "TypeConstraintViolation")
            }
            switch node {
            case .object(let properties, let required, let additionalProperties):
                for (key, child) in properties {
                    let childPath = path + [.key(key)]
                    if required.contains(key) {
                        result.append(
                            Violation(
                                what: "required property removed",
                                payload: valid.replacing(childPath[...], with: nil),
                                code: "OccurenceConstraintViolation",
                                location: render(childPath)
                            )
                        )
                    }
                    if let childValue = value[key] { walk(child, childValue, childPath) }
                }
                if !additionalProperties {
                    let extraPath = path + [.key("vendorExtension")]
                    var violation = Violation(
                        what: "unknown property",
                        payload: valid.replacing(extraPath[...], with: .object([("x", .array([.number(1)]))])),
                        code: "FormationViolation",
                        location: render(extraPath)
                    )
                    violation.strictOnly = true
                    result.append(violation)
                }
            case .array(let items, let minItems):
                if minItems > 0 {
                    add("too few items", .array([]), "OccurenceConstraintViolation")
                }
                // Break the last item, so that the index in the error path is checked.
                if let elements = value.arrayValue, !elements.isEmpty {
                    walk(items, elements[elements.count - 1], path + [.index(elements.count - 1)])
                }
            case .string(let maxLength, let allowed, let format):
                if allowed != nil {
                    add("value outside the enum", .string("NotAnAllowedValue"), "PropertyConstraintViolation")
                }
                if let maxLength {
                    add(
                        "too long",
                        .string(String(repeating: "x", count: maxLength + 1)),
                        "PropertyConstraintViolation"
                    )
                    add(
                        "too long in characters",
                        .string(String(repeating: "€", count: maxLength + 1)),
                        "PropertyConstraintViolation"
                    )
                }
                if format == "date-time" {
                    add("not a date-time", .string("yesterday"), "PropertyConstraintViolation")
                    add("impossible date", .string("2023-02-29T10:00:00Z"), "PropertyConstraintViolation")
                    add("date-time without offset", .string("2024-01-31T13:45:00"), "PropertyConstraintViolation")
                }
                if format == "uri" {
                    add("not a URI", .string("not a uri"), "PropertyConstraintViolation")
                }
            case .integer:
                add("fractional integer", .rawNumber("1.5"), "TypeConstraintViolation")
            case .number(let multipleOf):
                if let multipleOf {
                    add("not a multiple of \(multipleOf)", .rawNumber("0.15"), "PropertyConstraintViolation")
                }
            case .boolean:
                break
            }
        }
        walk(root, valid, [])
        return result
    }

    /// Values that a schema allows at its boundaries, each applied to the full valid payload:
    /// every enum member, strings of exactly the maximum length, integral numbers written
    /// with a fraction (`2.0`), and date-times with offsets.
    func boundaryPayloads() -> [(what: String, payload: TestJSON)] {
        let valid = root.instance(variant: 0, full: true)
        var result: [(String, TestJSON)] = []
        func walk(_ node: Node, _ value: TestJSON, _ path: [PathComponent]) {
            func add(_ what: String, _ replacement: TestJSON) {
                result.append(("\(what) at \(render(path))", valid.replacing(path[...], with: replacement)))
            }
            switch node {
            case .object(let properties, _, _):
                for (key, child) in properties {
                    if let childValue = value[key] { walk(child, childValue, path + [.key(key)]) }
                }
            case .array(let items, _):
                if let elements = value.arrayValue, let last = elements.indices.last {
                    walk(items, elements[last], path + [.index(last)])
                }
            case .string(let maxLength, let allowed, let format):
                for member in allowed ?? [] { add("enum member \(member)", .string(member)) }
                if let maxLength, allowed == nil, format == nil {
                    add("maximum length", .string(String(repeating: "€", count: maxLength)))
                }
                if format == "date-time" {
                    add("offset date-time", .string("2024-01-31T15:45:00.5+02:00"))
                    add("date-time without fraction", .string("2024-02-29T13:45:00Z"))
                }
            case .integer:
                add("integral number with a fraction", .rawNumber("2.0"))
            case .number, .boolean:
                break
            }
        }
        walk(root, valid, [])
        return result
    }
}
