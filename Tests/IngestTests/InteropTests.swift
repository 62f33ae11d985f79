import Foundation
import Protocol
import Relational
import TestSupport
import Testing
import TimeSeries

@testable import Ingest

/// The server against an independent OCPP implementation: a charge point built on the PyPI
/// `ocpp` package (which `scripts/test.sh` installs), over a real socket.
@Suite("Interop with the PyPI ocpp package")
struct InteropTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Interop/interop_charge_point.py")

    @Test("A python-ocpp charge point runs a whole session; what it sent is stored; it answers our Reset")
    func pythonChargePoint() async throws {
        let server = try await IngestTestServer.start(IngestConfiguration(heartbeatInterval: 60))
        _ = try await server.relational.create(RFIDCard.self, RFIDCard.Fields(idTag: "PY-TAG", status: "Accepted"))

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let python = ProcessInfo.processInfo.environment["OCPP_TEST_PYTHON"] ?? "python3"
        process.arguments = [python, Self.script.path, "ws://127.0.0.1:\(server.port)/ocpp/PY-CP", "PY-TAG"]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        let collected = ChildOutput(reading: output)
        let errorOutput = ChildOutput(reading: errors)
        try process.run()

        // Once it has sent everything, the server calls it.
        try await server.eventually(timeout: .seconds(60), "the python charge point is ready for calls") {
            guard process.isRunning else { return true }
            return collected.text.contains("awaiting-calls")
        }
        let reset = try await server.ingest.call(ResetRequest(type: .soft), to: ChargePointID("PY-CP"))
        #expect(reset.status == .accepted)

        try await server.eventually(timeout: .seconds(30), "the python charge point exits") { !process.isRunning }
        try await collected.waitForEnd()
        try await errorOutput.waitForEnd()
        let text = collected.text
        let stderr = errorOutput.text
        #expect(process.terminationStatus == 0, "python charge point failed:\n\(stderr)")
        let lastLine = try #require(text.split(separator: "\n").last, "no report; stderr:\n\(stderr)")
        let report = try object(try JSONSerialization.jsonObject(with: Data(lastLine.utf8)))

        #expect(report["boot_status"] as? String == "Accepted")
        #expect(report["heartbeat_interval"] as? Int == 60)
        #expect(report["authorize_status"] as? String == "Accepted")
        #expect(report["start_status"] as? String == "Accepted")
        #expect(report["stop_status"] as? String == "Accepted")
        #expect(report["data_transfer_status"] as? String == "UnknownVendorId")
        #expect(report["sign_certificate_status"] as? String == "Rejected")
        #expect(report["reset_type"] as? String == "Soft")
        let transactionID = try #require(report["transaction_id"] as? Int)

        let charger = try #require(try await server.relational.charger(chargePointID: "PY-CP"))
        #expect(charger.vendor == "Interop")
        #expect(charger.model == "Py-16")
        let session = try await server.relational.get(ChargeSession.self, id: Int64(transactionID))
        #expect(session.meterStart == 10000)
        #expect(session.meterStop == 12000)
        #expect(session.stopReason == "EVDisconnected")

        let samples = try server.rows("PY-CP", kinds: [.sample])
        // 3 MeterValues of 4 samples, 2 samples of transactionData, the start and stop
        // registers; the stop register and transactionData's Transaction.End register are the
        // same series at the same time, so one row.
        let expectedSamples = 3 * 4 + 2 + 2 - 1
        #expect(samples.count == expectedSamples)
        #expect(samples.allSatisfy { $0.transactionID == transactionID })
        let energy = samples.filter {
            $0.series.measurand == "Energy.Active.Import.Register" && $0.series.context == "Sample.Periodic"
        }
        let expectedEnergy: [EventValue] = [.number(10500), .number(11000), .number(11500)]
        #expect(energy.map(\.value) == expectedEnergy)
        let voltage = try #require(samples.first { $0.series.measurand == "Voltage" })
        #expect(voltage.series.phase == "L1-N")
        #expect(voltage.value == .number(230.4))
        let soc = try #require(samples.first { $0.series.measurand == "SoC" })
        #expect(soc.series.location == "EV")
        #expect(soc.series.unit == "Percent")
        #expect(try server.rows("PY-CP", kinds: [.status]).count == 1)
        let events = Set(try server.rows("PY-CP", kinds: [.event]).compactMap(\.series.eventType))
        let expected: Set<String> = [
            "DataTransfer", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
            "SecurityEventNotification", "SignCertificate", "LogStatusNotification",
            "SignedFirmwareStatusNotification",
        ]
        #expect(events == expected)
        await server.stop()
    }
}
