import Foundation

/// A JSON document for tests, parsed and written by code independent of the module under test.
indirect enum TestJSON: Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    /// A number kept as its exact text, for inputs such as `1.5` where the type matters.
    case rawNumber(String)
    case string(String)
    case array([TestJSON])
    case object([(String, TestJSON)])

    static func == (lhs: TestJSON, rhs: TestJSON) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.rawNumber(let a), .rawNumber(let b)): return a == b
        case (.number(let a), .rawNumber(let b)), (.rawNumber(let b), .number(let a)): return a == Double(b)
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            // Objects are unordered.
            guard a.count == b.count else { return false }
            let right = Dictionary(b, uniquingKeysWith: { first, _ in first })
            return a.allSatisfy { key, value in right[key] == value }
        default: return false
        }
    }

    subscript(key: String) -> TestJSON? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    var arrayValue: [TestJSON]? {
        if case .array(let items) = self { return items }
        return nil
    }

    var objectValue: [(String, TestJSON)]? {
        if case .object(let members) = self { return members }
        return nil
    }

    var description: String { String(decoding: serialized(), as: UTF8.self) }

    func serialized() -> [UInt8] {
        var out: [UInt8] = []
        write(into: &out)
        return out
    }

    private func write(into out: inout [UInt8]) {
        switch self {
        case .null: out += Array("null".utf8)
        case .bool(let value): out += Array((value ? "true" : "false").utf8)
        case .number(let value):
            if value.rounded() == value, abs(value) < 1e15 {
                out += Array(String(Int(value)).utf8)
            } else {
                out += Array("\(value)".utf8)
            }
        case .rawNumber(let text): out += Array(text.utf8)
        case .string(let text):
            out.append(UInt8(ascii: "\""))
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": out += Array("\\\"".utf8)
                case "\\": out += Array("\\\\".utf8)
                case "\n": out += Array("\\n".utf8)
                default:
                    if scalar.value < 0x20 {
                        out += Array(String(format: "\\u%04x", scalar.value).utf8)
                    } else {
                        out += Array(String(scalar).utf8)
                    }
                }
            }
            out.append(UInt8(ascii: "\""))
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                item.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                TestJSON.string(key).write(into: &out)
                out.append(UInt8(ascii: ":"))
                value.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Parses JSON with Foundation's parser (independent of the module under test).
    static func parse(_ bytes: [UInt8]) throws -> TestJSON {
        let object = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        return try convert(object)
    }

    static func parse(_ text: String) throws -> TestJSON {
        try parse(Array(text.utf8))
    }

    private static func convert(_ object: Any) throws -> TestJSON {
        switch object {
        case is NSNull: return .null
        case let text as String: return .string(text)
        case let array as [Any]: return .array(try array.map(convert))
        case let dictionary as [String: Any]:
            return .object(try dictionary.sorted { $0.key < $1.key }.map { ($0.key, try convert($0.value)) })
        case let number as NSNumber:
            // Foundation on Linux reports booleans as NSNumber whose objCType is "c".
            if String(cString: number.objCType) == "c" { return .bool(number.boolValue) }
            return .number(number.doubleValue)
        default:
            struct Unsupported: Error {}
            throw Unsupported()
        }
    }
}
