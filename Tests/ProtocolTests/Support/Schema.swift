import Foundation
import Protocol

/// One official OCPP 1.6 JSON schema, read from `schemas/ocpp16` and reduced to the
/// constraints it states. The tests derive payloads and violations from it; nothing about
/// the messages is restated by hand.
struct Schema {
    /// The file name without `.json`, e.g. `MeterValues` or `MeterValuesResponse`.
    let name: String
    let root: Node

    indirect enum Node {
        case object(properties: [(String, Node)], required: Set<String>, additionalProperties: Bool)
        case array(items: Node, minItems: Int)
        case string(maxLength: Int?, allowed: [String]?, format: String?)
        case integer
        case number(multipleOf: Double?)
        case boolean
    }

    /// `schemas/ocpp16` at the top of the repository, which the code generator reads too.
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("schemas/ocpp16")

    /// All schema names in the schema directory.
    static let allNames: [String] = {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return files.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }()

    static func load(_ name: String) throws -> Schema {
        let data = try Data(contentsOf: directory.appendingPathComponent(name + ".json"))
        let json = try TestJSON.parse(Array(data))
        return Schema(name: name, root: try node(json, definitions: json["definitions"]))
    }

    private struct Unsupported: Error, CustomStringConvertible {
        let description: String
    }

    private static func node(_ json: TestJSON, definitions: TestJSON?) throws -> Node {
        if let reference = json["$ref"]?.stringValue {
            let name = String(reference.split(separator: "/").last!)
            guard let target = definitions?[name] else { throw Unsupported(description: "unresolved \(reference)") }
            return try node(target, definitions: definitions)
        }
        switch json["type"]?.stringValue {
        case "object":
            let properties = try (json["properties"]?.objectValue ?? []).map { key, value in
                (key, try node(value, definitions: definitions))
            }
            let required = Set((json["required"]?.arrayValue ?? []).compactMap(\.stringValue))
            let additional = json["additionalProperties"] != .bool(false)
            return .object(properties: properties, required: required, additionalProperties: additional)
        case "array":
            guard let items = json["items"] else { throw Unsupported(description: "array without items") }
            var minItems = 0
            if case .number(let value) = json["minItems"] { minItems = Int(value) }
            return .array(items: try node(items, definitions: definitions), minItems: minItems)
        case "string":
            var maxLength: Int?
            if case .number(let value) = json["maxLength"] { maxLength = Int(value) }
            let allowed = json["enum"]?.arrayValue?.compactMap(\.stringValue)
            return .string(maxLength: maxLength, allowed: allowed, format: json["format"]?.stringValue)
        case "integer":
            return .integer
        case "number":
            var multipleOf: Double?
            if case .number(let value) = json["multipleOf"] { multipleOf = value }
            return .number(multipleOf: multipleOf)
        case "boolean":
            return .boolean
        default:
            throw Unsupported(description: "unsupported node \(json)")
        }
    }

    /// The Swift type the module decodes this schema's payload into.
    var payloadType: any OCPPPayload.Type {
        if name.hasSuffix("Response") {
            return OCPPAction(rawValue: String(name.dropLast("Response".count)))!.responseType
        }
        return OCPPAction(rawValue: name)!.requestType
    }

    var isRequest: Bool { !name.hasSuffix("Response") }

    var action: OCPPAction {
        OCPPAction(rawValue: isRequest ? name : String(name.dropLast("Response".count)))!
    }
}

/// Decodes `bytes` as the payload type `type`, opened from an existential.
func decodePayload(
    _ type: any OCPPPayload.Type,
    _ bytes: [UInt8],
    options: OCPPDecodingOptions
) throws(OCPPError) -> (value: any OCPPPayload, unknownProperties: [String]) {
    func open<Payload: OCPPPayload>(_ type: Payload.Type) throws(OCPPError) -> (any OCPPPayload, [String]) {
        let decoded = try Payload.decode(from: bytes, options: options)
        return (decoded.value, decoded.unknownProperties)
    }
    return try open(type)
}
