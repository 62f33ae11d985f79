import Foundation
import Protocol
import Relational
import TestSupport
import TimeSeries

@testable import Ingest

/// The table of the request-planning tests: every charger-initiated action, from chargers in
/// every registration state, under every unknown-charger policy; and how one case's outcome
/// is observed on either path, so that the two can be compared.
enum PlannerTable {
    /// What the database holds of the charger before its message.
    enum State: String, CaseIterable, Sendable {
        case unknown = "New"
        case pending = "Pending"
        case accepted = "Accepted"
        case rejected = "Rejected"
    }

    /// One charger-initiated action and a valid payload of it.
    struct Action: Sendable {
        var name: String
        var payload: String
        /// The time-series rows it leaves when it is taken.
        var rows: Int
    }

    static let idTag = "TAG-T"

    static let actions: [Action] = [
        Action(name: "BootNotification", payload: #"{"chargePointVendor":"V","chargePointModel":"M"}"#, rows: 0),
        Action(name: "Heartbeat", payload: "{}", rows: 0),
        Action(
            name: "StatusNotification",
            payload:
                #"{"connectorId":1,"errorCode":"NoError","status":"Available","timestamp":"2026-05-01T10:00:00Z"}"#,
            rows: 1
        ),
        Action(
            name: "MeterValues",
            payload: #"""
                {"connectorId":1,"meterValue":[{"timestamp":"2026-05-01T10:05:00Z","sampledValue":[{"value":"1500"},
                 {"value":"7.4","measurand":"Power.Active.Import","unit":"kW"}]}]}
                """#,
            rows: 2
        ),
        Action(name: "Authorize", payload: #"{"idTag":"\#(idTag)"}"#, rows: 0),
        Action(
            name: "StartTransaction",
            payload: #"{"connectorId":1,"idTag":"\#(idTag)","meterStart":1000,"timestamp":"2026-05-01T10:01:00Z"}"#,
            rows: 1
        ),
        Action(
            name: "StopTransaction",
            payload: #"""
                {"transactionId":424242,"idTag":"\#(idTag)","meterStop":2000,"timestamp":"2026-05-01T11:00:00Z",
                 "transactionData":[{"timestamp":"2026-05-01T10:30:00Z","sampledValue":[{"value":"1500"}]}]}
                """#,
            rows: 2
        ),
        Action(name: "DataTransfer", payload: #"{"vendorId":"com.acme","messageId":"x","data":"42"}"#, rows: 1),
        Action(name: "DiagnosticsStatusNotification", payload: #"{"status":"Uploaded"}"#, rows: 1),
        Action(name: "FirmwareStatusNotification", payload: #"{"status":"Installed"}"#, rows: 1),
        Action(
            name: "SecurityEventNotification",
            payload: #"{"type":"FirmwareUpdated","timestamp":"2026-01-01T00:00:00Z"}"#,
            rows: 1
        ),
        Action(name: "SignedFirmwareStatusNotification", payload: #"{"status":"Downloaded","requestId":3}"#, rows: 1),
        Action(name: "LogStatusNotification", payload: #"{"status":"Uploaded","requestId":4}"#, rows: 1),
        Action(name: "SignCertificate", payload: #"{"csr":"-----BEGIN CERTIFICATE REQUEST-----"}"#, rows: 1),
    ]

    /// What one path made of one message: the answer (a CALLRESULT's payload without the
    /// time and with any transactionId as 0, or a CALLERROR's code), the charger's
    /// registration status in the database afterwards, and the rows it left (without the
    /// reception time and the transactionId, which differ between two chargers).
    struct Outcome: Hashable, Sendable, CustomStringConvertible {
        var answer: String
        var registration: String?
        var rows: [String]
        /// The status a BootNotification sent next is answered with (only for unknown chargers).
        var bootAfterwards: String?

        var description: String {
            "answer \(answer), registration \(registration ?? "none"), rows \(rows), boot afterwards "
                + (bootAfterwards ?? "-")
        }
    }

    /// What both paths must make of `action` from a charger in `state` under `policy`.
    static func expected(
        _ action: Action,
        _ state: State,
        _ policy: UnknownChargerPolicy
    ) -> (
        refused: Bool, registration: String?, rows: Int, bootAfterwards: String?
    ) {
        let registeredAs: String? =
            switch policy {
            case .accept: "Accepted"
            case .pending: "Pending"
            case .reject: nil
            }
        guard state == .unknown else {
            return (
                state == .rejected && action.name != "BootNotification", state.rawValue,
                state == .rejected ? 0 : action.rows, nil
            )
        }
        return (
            policy == .reject && action.name != "BootNotification", registeredAs,
            policy == .reject ? 0 : action.rows, registeredAs ?? "Rejected"
        )
    }

    /// The charge point id of one case on one path.
    static func chargePointID(path: String, _ state: State, _ action: Action) -> String {
        "\(path)-\(state.rawValue)-\(action.name)"
    }

    /// Registers the charger with `state`'s status (an unknown one is left alone).
    static func prepare(_ server: IngestTestServer, _ id: String, _ state: State) async throws {
        guard state != .unknown else { return }
        _ = try await server.relational.registerCharger(
            chargePointID: id,
            boot: ChargerBootInfo(vendor: "V", model: "M"),
            registrationStatus: state.rawValue,
            at: Date()
        )
    }

    /// The outcome of `action` sent over the WebSocket by a charger in `state`.
    static func overWebSocket(_ server: IngestTestServer, _ state: State, _ action: Action) async throws -> Outcome {
        let id = chargePointID(path: "W", state, action)
        try await prepare(server, id, state)
        let charger = try await server.connect(id)
        let frame = try await charger.call("1", action.name, action.payload)
        let answer: String
        switch frame[0] as? Int {
        case 3: answer = try normalized(object(frame[2]))
        case 4: answer = "error \(frame[2])"
        default: throw TestFailure("not an answer: \(frame)")
        }
        var bootAfterwards: String?
        if state == .unknown {
            let boot = try await charger.call("2", "BootNotification", actions[0].payload)
            bootAfterwards = try object(boot[2])["status"] as? String
        }
        await charger.close()
        return try await outcome(server, id, answer: answer, bootAfterwards: bootAfterwards)
    }

    /// The outcome of `action` relayed (``OCPPIngest/relay(_:from:)``) for a charger in `state`.
    static func relayed(_ server: IngestTestServer, _ state: State, _ action: Action) async throws -> Outcome {
        let id = chargePointID(path: "R", state, action)
        try await prepare(server, id, state)
        let chargePointID = try ChargePointID(id)
        let message = try request(action)
        let relayed: Result<any OCPPPayload, RelayError>
        do {
            relayed = .success(try await server.ingest.relay(message, from: chargePointID))
        } catch {
            relayed = .failure(error)
        }
        let answer: String
        switch relayed {
        case .success(let payload):
            answer = try normalized(object(try JSONSerialization.jsonObject(with: Data(payload.encoded()))))
        case .failure(let error):
            switch error.kind {
            case .refused: answer = "error SecurityError"
            case .unstorable: answer = "error PropertyConstraintViolation"
            case .unavailable: answer = "error InternalError"
            // No row of the table reaches a limit; one that did would differ from the WebSocket's.
            case .beyondLimit: answer = "error beyond a limit: \(error.description)"
            }
        }
        var bootAfterwards: String?
        if state == .unknown {
            let boot = try await server.ingest.relay(try request(actions[0]), from: chargePointID)
            bootAfterwards = (boot as? BootNotificationResponse)?.status.rawValue
        }
        return try await outcome(server, id, answer: answer, bootAfterwards: bootAfterwards)
    }

    /// The request `action` decodes to, as the WebSocket decodes it.
    static func request(_ action: Action) throws -> ChargePointRequest {
        let frame = Array(#"[2,"1","\#(action.name)",\#(action.payload)]"#.utf8)
        guard case .call(_, let request, _) = try OCPPFrameDecoder.decode(frame, as: ChargePointRequest.self) else {
            throw TestFailure("not a call: \(action.name)")
        }
        return request
    }

    private static func outcome(
        _ server: IngestTestServer,
        _ id: String,
        answer: String,
        bootAfterwards: String?
    ) async throws -> Outcome {
        let registration = try await server.relational.charger(chargePointID: id)?.registrationStatus
        let rows = try server.rows(id).map { row in
            let series = row.series
            let time = series.kind == .event ? "" : "\(row.timestamp)"
            return [
                "\(series.kind)", "\(series.connectorID)", row.transactionID == nil ? "" : "tx",
                series.eventType ?? "", series.measurand ?? "", series.context ?? "", time, "\(row.value)",
            ].joined(separator: " ")
        }
        return Outcome(answer: answer, registration: registration, rows: rows.sorted(), bootAfterwards: bootAfterwards)
    }

    /// A confirmation's payload as comparable text: keys sorted, the time left out, any
    /// transactionId as 0.
    private static func normalized(_ payload: [String: Any]) throws -> String {
        var payload = payload
        payload.removeValue(forKey: "currentTime")
        if payload["transactionId"] != nil { payload["transactionId"] = 0 }
        let data = try JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}
