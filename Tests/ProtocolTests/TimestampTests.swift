import Foundation
import Protocol
import Testing

@Suite("Date-time")
struct TimestampTests {
    @Test(
        "RFC 3339 forms are normalized to UTC milliseconds",
        arguments: [
            ("2024-01-31T13:45:00Z", "2024-01-31T13:45:00.000Z"),
            ("2024-01-31T13:45:00.1Z", "2024-01-31T13:45:00.100Z"),
            ("2024-01-31T13:45:00.123456789Z", "2024-01-31T13:45:00.123Z"),
            ("2024-01-31T13:45:00+02:00", "2024-01-31T11:45:00.000Z"),
            ("2024-01-31T01:45:00-0330", "2024-01-31T05:15:00.000Z"),
            ("2024-03-01T00:30:00+01:00", "2024-02-29T23:30:00.000Z"),
            ("1999-12-31t23:59:59z", "1999-12-31T23:59:59.000Z"),
            ("2000-02-29T00:00:00Z", "2000-02-29T00:00:00.000Z"),
        ]
    )
    func parses(input: String, normalized: String) throws {
        let timestamp = try #require(OCPPTimestamp(iso8601: input))
        #expect(timestamp.iso8601 == normalized)
        // Agrees with Foundation's own parser.
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let reference = try #require(formatter.date(from: normalized))
        #expect(Int64((reference.timeIntervalSince1970 * 1000).rounded()) == timestamp.millisecondsSince1970)
    }

    @Test(
        "Strings that are not RFC 3339 date-times are refused",
        arguments: [
            "", "2024-01-31", "2024-01-31T13:45:00", "2024-01-31 13:45:00Z", "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2024-01-32T00:00:00Z", "2024-01-31T24:00:00Z",
            "2024-01-31T13:60:00Z", "2024-01-31T13:45:00.Z", "2024-01-31T13:45:00+2:00", "2024-01-31T13:45:00+02:00x",
            "2024-01-31T13:45:00ZZ", "24-01-31T13:45:00Z",
        ]
    )
    func refuses(input: String) {
        #expect(OCPPTimestamp(iso8601: input) == nil)
    }

    @Test("Round trip over a wide range of instants")
    func roundTrip() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<10_000 {
            // 1970 to 2200.
            let milliseconds = Int64.random(in: 0..<7_258_118_400_000, using: &generator)
            let timestamp = OCPPTimestamp(millisecondsSince1970: milliseconds)
            #expect(OCPPTimestamp(iso8601: timestamp.iso8601) == timestamp)
        }
    }
}
