import Foundation
import Hummingbird
import Testing

@testable import API

/// What every JSON answer of the API is written by.
@Suite("API JSON encoder")
struct APIJSONEncoderTests {
    struct Row: Encodable {
        struct Inner: Encodable {
            var list: [Int?]
        }

        var zeta: String
        var alpha: Double
        var missing: String?
        var count: Int64
        var when: Date
        var inner: Inner
        var raw: RawJSON

        enum CodingKeys: String, CodingKey {
            case zeta, alpha, missing, count, when, inner
            case raw = "raw_json"
        }
    }

    static func text(_ value: some Encodable) throws -> String {
        String(decoding: try APIJSONEncoder.bytes(value), as: UTF8.self)
    }

    @Test("Keys in declaration order, nil as null, dates as ISO 8601 with milliseconds, raw JSON copied")
    func shape() throws {
        let row = Row(
            zeta: "a/b",
            alpha: 32,
            missing: nil,
            count: -7,
            when: Date(timeIntervalSince1970: 1_767_225_600.25),
            inner: .init(list: [1, nil]),
            raw: RawJSON(bytes: Array(#"{"x":[1,"y"]}"#.utf8))
        )
        #expect(
            try Self.text(row)
                == #"{"zeta":"a/b","alpha":32.0,"missing":null,"count":-7,"when":"2026-01-01T00:00:00.250Z","#
                + #""inner":{"list":[1,null]},"raw_json":{"x":[1,"y"]}}"#
        )
        #expect(try Self.text([Row.Inner(list: []), Row.Inner(list: [2])]) == #"[{"list":[]},{"list":[2]}]"#)
    }

    @Test("Strings are escaped as JSON requires, and only so")
    func escaping() throws {
        let text = "quote \" backslash \\ tab \t line\n\r bell \u{7} é €"
        #expect(try Self.text(text) == #""quote \" backslash \\ tab \t line\n\r bell \u0007 é €""#)
        #expect(try Self.text(Detail(detail: "x")) == #"{"detail":"x"}"#)
    }

    @Test("A JSON value keeps integers apart from numbers and sorts an object's keys")
    func jsonValue() throws {
        let value: JSONValue = ["b": [1, .number(2.5), "s", true, .null], "a": ["nested": 0]]
        #expect(try Self.text(value) == #"{"a":{"nested":0},"b":[1,2.5,"s",true,null]}"#)
        #expect(JSONValue.parse(try APIJSONEncoder.bytes(value)) == value)
    }

    @Test("A 422 locates the value, with array indexes as numbers")
    func validationError() throws {
        let error = APIError.invalid(location: ["body", "items", "[2]", "name"], message: "bad", type: "value_error")
        #expect(error.status == .unprocessableContent)
        #expect(
            try Self.text(error.body)
                == #"{"detail":[{"loc":["body","items",2,"name"],"msg":"bad","type":"value_error"}]}"#
        )
    }
}
