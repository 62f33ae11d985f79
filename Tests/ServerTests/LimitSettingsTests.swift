import Foundation
import Testing

/// The settings of the limits against bad chargers: their ranges, and refusal of anything else
/// at start, naming the variable.
@Suite("Limit settings")
struct LimitSettingsTests {
    let commandLine = CommandLineTests()

    @Test(
        "Each limit refuses a value outside its range or not a number, and takes one inside",
        arguments: [
            (
                "OCPP_MAX_CONNECTOR_ID", ["0", "-1", "2147483648", "ten", ""], ["1", "100", "2147483647"],
                "1...2147483647"
            ),
            ("OCPP_MAX_SERIES_PER_CHARGER", ["9", "100000001", "1e3"], ["10", "1000", "100000000"], "10...100000000"),
            ("OCPP_TIMESTAMP_PAST_DAYS", ["0", "36501", "7d"], ["1", "30", "36500"], "1...36500"),
            ("OCPP_TIMESTAMP_FUTURE_HOURS", ["0", "87601", " 24"], ["1", "24", "87600"], "1...87600"),
        ]
    )
    func ranges(name: String, bad: [String], good: [String], range: String) throws {
        for value in bad {
            let run = try commandLine.run(["migrate"], environment: [name: value, "DATABASE_URL": "sqlite://:memory:"])
            #expect(run.status != 0, "\(name)=\(value) was taken")
            #expect(run.output.contains("\(name) '\(value)' is not a whole number in \(range)"), "\(run.output)")
        }
        for value in good {
            let run = try commandLine.run(["migrate"], environment: [name: value, "DATABASE_URL": "sqlite://:memory:"])
            #expect(run.status == 0, "\(name)=\(value): \(run.output)")
        }
    }
}
