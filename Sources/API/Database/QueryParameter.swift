import Foundation
import Hummingbird
import Protocol

/// One query parameter of a listing or history route, with the checks those routes share.
/// Every error is a 422 located at `["query", name]`.
struct QueryParameter {
    let name: String
    let text: String

    /// Calls `body` with each of `parameters`, in order.
    static func each(
        _ parameters: Hummingbird.Parameters,
        _ body: (QueryParameter) throws(ResourceCoding.Invalid) -> Void
    ) throws(ResourceCoding.Invalid) {
        for (key, value) in parameters {
            try body(QueryParameter(name: String(key), text: String(value)))
        }
    }

    func invalid(_ message: String, _ type: String) -> ResourceCoding.Invalid {
        ResourceCoding.Invalid(location: ["query", name], message: message, type: type)
    }

    /// An ISO 8601 date-time with a time zone, in milliseconds since 1970.
    func milliseconds() throws(ResourceCoding.Invalid) -> Int64 {
        guard let timestamp = OCPPTimestamp(iso8601: text) else {
            throw invalid("must be an ISO 8601 date-time with a time zone, got \(text)", "datetime_parsing")
        }
        return timestamp.millisecondsSince1970
    }

    /// An ISO 8601 date-time with a time zone.
    func date() throws(ResourceCoding.Invalid) -> Date {
        Date(timeIntervalSince1970: Double(try milliseconds()) / 1000)
    }

    /// A whole number (as JSON Schema's `integer` has it) within `range`.
    func integer(in range: ClosedRange<Int>) throws(ResourceCoding.Invalid) -> Int {
        guard let value = ResourceCoding.integer(text).flatMap({ Int(exactly: $0) }), range.contains(value) else {
            throw invalid(
                "must be a whole number in \(range.lowerBound)...\(range.upperBound), got \(text)",
                "int_parsing"
            )
        }
        return value
    }

    /// A cursor this API returned, as `parse` reads it.
    func cursor<Cursor>(_ parse: (String) -> Cursor?) throws(ResourceCoding.Invalid) -> Cursor {
        guard let cursor = parse(text) else { throw invalid("not a cursor this API returned", "value_error") }
        return cursor
    }

    /// The error for a parameter the route does not take.
    func unknown(_ route: String, accepts: String) -> ResourceCoding.Invalid {
        invalid("unknown query parameter; \(route) accepts \(accepts)", "extra_forbidden")
    }
}
