import Foundation
import Protocol
import Relational
import TestSupport
import Testing
import TimeSeries

@testable import Ingest

/// The request planner alone (pure: request, charger knowledge, configuration in; plan out),
/// and the table of every action from every kind of charger under every unknown-charger
/// policy, run through the WebSocket and through the relay with identical results.
@Suite("Request planning")
struct RequestPlannerTests {
    static let now: Int64 = 1_777_000_000_123

    static func configuration(_ policy: UnknownChargerPolicy) -> IngestConfiguration {
        IngestConfiguration(heartbeatInterval: 120, unknownChargers: policy, dataTransferVendorIDs: ["com.acme"])
    }

    static func plan(
        _ action: PlannerTable.Action,
        _ knowledge: ChargerKnowledge,
        _ policy: UnknownChargerPolicy
    ) throws -> RequestPlan {
        RequestPlanner.plan(
            try PlannerTable.request(action),
            chargePointID: "CP-1",
            now: now,
            knowledge: knowledge,
            configuration: configuration(policy)
        )
    }

    static func action(_ name: String) throws -> PlannerTable.Action {
        try #require(PlannerTable.actions.first { $0.name == name })
    }

    /// The answer's code, or its payload as JSON.
    static func text(_ answer: PlannedAnswer) -> String {
        switch answer {
        case .error(let code, _): return code.rawValue
        case .result(let payload, _): return String(decoding: payload.encoded(), as: UTF8.self)
        }
    }

    @Test("The policy decides once: Rejected and unknown-under-reject are refused, other unknowns registered first")
    func admission() {
        for policy in UnknownChargerPolicy.allCases {
            #expect(RequestPlanner.admission(.registered(.accepted), policy: policy) == .admitted)
            #expect(RequestPlanner.admission(.registered(.pending), policy: policy) == .admitted)
            #expect(RequestPlanner.admission(.registered(.rejected), policy: policy) == .refused)
        }
        #expect(RequestPlanner.admission(.unknown, policy: .accept) == .registerFirst(.accepted))
        #expect(RequestPlanner.admission(.unknown, policy: .pending) == .registerFirst(.pending))
        #expect(RequestPlanner.admission(.unknown, policy: .reject) == .refused)
        #expect(ChargerKnowledge(registrationStatus: nil) == .unknown)
        #expect(ChargerKnowledge(registrationStatus: "Rejected") == .registered(.rejected))
    }

    @Test(
        "Before BootNotification: registered first with the policy's status (never Accepted under pending), or refused"
    )
    func unknownChargers() throws {
        for action in PlannerTable.actions where action.name != "BootNotification" {
            for (policy, status) in [(UnknownChargerPolicy.accept, RegistrationStatus.accepted), (.pending, .pending)] {
                guard case .database(.register(let registered)) = try Self.plan(action, .unknown, policy) else {
                    Issue.record("\(action.name) under \(policy) is not registered first")
                    continue
                }
                #expect(registered == status, "\(action.name)")
                // What follows is the plan of a charger with that status.
                let next = RequestPlanner.advance(
                    try PlannerTable.request(action),
                    after: .registered(.registered(registered)),
                    chargePointID: "CP-1",
                    now: Self.now,
                    configuration: Self.configuration(policy)
                )
                if case .database(.register) = next { Issue.record("\(action.name) registers again") }
            }
            guard case .decided(let refused) = try Self.plan(action, .unknown, .reject) else {
                Issue.record("\(action.name) under reject is not refused at once")
                continue
            }
            #expect(Self.text(refused.answer) == "SecurityError", "\(action.name)")
            #expect(refused.effects.isEmpty)
            if case .none = refused.rows {} else { Issue.record("\(action.name): a refusal stores rows") }
            // A Rejected charger is refused the same way under every policy.
            for policy in UnknownChargerPolicy.allCases {
                guard case .decided(let result) = try Self.plan(action, .registered(.rejected), policy) else {
                    Issue.record("\(action.name) from a Rejected charger is not refused")
                    continue
                }
                #expect(Self.text(result.answer) == "SecurityError")
            }
        }
    }

    @Test("BootNotification asks the database with the policy's rule whatever is known; its answer follows")
    func boot() throws {
        let boot = try Self.action("BootNotification")
        let rules: [UnknownChargerPolicy: UnknownChargerRule] = [
            .accept: .register(status: "Accepted"), .pending: .register(status: "Pending"), .reject: .refuse,
        ]
        for policy in UnknownChargerPolicy.allCases {
            for knowledge in [ChargerKnowledge.unknown, .registered(.rejected), .registered(.accepted)] {
                guard case .database(.boot(_, let rule)) = try Self.plan(boot, knowledge, policy) else {
                    Issue.record("BootNotification does not ask the database")
                    continue
                }
                #expect(rule == rules[policy])
            }
        }
        for (stored, answered) in [
            (RegistrationStatus?.none, "Rejected"), (.pending, "Pending"), (.accepted, "Accepted"),
        ] {
            let plan = RequestPlanner.advance(
                try PlannerTable.request(boot),
                after: .booted(stored),
                chargePointID: "CP-1",
                now: Self.now,
                configuration: Self.configuration(.accept)
            )
            guard case .decided(let result) = plan,
                case .result(let payload as BootNotificationResponse, _) = result.answer
            else {
                Issue.record("no BootNotificationResponse")
                continue
            }
            #expect(payload.status.rawValue == answered)
            #expect(payload.interval == 120)
            #expect(payload.currentTime.millisecondsSince1970 == Self.now)
        }
    }

    @Test("Admitted messages: answers, rows and effects, in one plan")
    func admitted() throws {
        let knowledge = ChargerKnowledge.registered(.pending)
        guard case .decided(let heartbeat) = try Self.plan(try Self.action("Heartbeat"), knowledge, .pending) else {
            throw TestFailure("Heartbeat needs no database")
        }
        #expect(heartbeat.effects == [.seen(chargePointID: "CP-1", at: Date(timeIntervalSince1970: 1_777_000_000.123))])
        guard case .result(let time as HeartbeatResponse, false) = heartbeat.answer else {
            throw TestFailure("not a HeartbeatResponse")
        }
        #expect(time.currentTime.millisecondsSince1970 == Self.now)

        for policy in UnknownChargerPolicy.allCases {
            guard case .decided(let status) = try Self.plan(try Self.action("StatusNotification"), knowledge, policy),
                case .connectorStatus(let update) = status.effects.first, case .rows(let rows) = status.rows
            else { throw TestFailure("StatusNotification is not decided with a status update") }
            // A write that meets the charger unregistered (deleted meanwhile) follows the policy too.
            #expect(update.unknownCharger == policy.unknownChargerRule)
            #expect(update.status == "Available")
            #expect(rows.count == 1)
            #expect(update.timestamp == Date(timeIntervalSince1970: Double(rows[0].timestamp) / 1000))
            #expect(Self.text(status.answer) == "{}")
        }
        guard case .decided(let meterValues) = try Self.plan(try Self.action("MeterValues"), knowledge, .accept),
            case .meterValues(let request) = meterValues.rows, case .result(_, true) = meterValues.answer
        else { throw TestFailure("MeterValues is not decided with its rows") }
        #expect(request.meterValue.first?.sampledValue.count == 2)

        guard case .decided(let transfer) = try Self.plan(try Self.action("DataTransfer"), knowledge, .accept),
            case .rows(let rows) = transfer.rows
        else { throw TestFailure("DataTransfer is not decided") }
        #expect(Self.text(transfer.answer) == #"{"status":"Accepted"}"#)
        #expect(rows.first?.series.eventType == "DataTransfer")
        guard case .decided(let signing) = try Self.plan(try Self.action("SignCertificate"), knowledge, .accept) else {
            throw TestFailure("SignCertificate is not decided")
        }
        #expect(Self.text(signing.answer) == #"{"status":"Rejected"}"#)

        for (name, step) in [("Authorize", "authorize"), ("StartTransaction", "start"), ("StopTransaction", "stop")] {
            let plan = try Self.plan(try Self.action(name), knowledge, .reject)
            switch (plan, step) {
            case (.database(.authorize(let idTag)), "authorize"): #expect(idTag == PlannerTable.idTag)
            case (.database(.startTransaction(_, .refuse)), "start"), (.database(.stopTransaction(_, .refuse)), "stop"):
                break
            default: Issue.record("\(name): \(plan)")
            }
        }
    }

    @Test("Database outcomes: sessions' rows, id tag answers, refusals and failures")
    func outcomes() throws {
        func advance(_ name: String, _ outcome: DatabaseOutcome, acceptUnknown: Bool = false) throws -> PlannedResult {
            var configuration = Self.configuration(.accept)
            configuration.acceptUnknownIDTags = acceptUnknown
            let plan = RequestPlanner.advance(
                try PlannerTable.request(try Self.action(name)),
                after: outcome,
                chargePointID: "CP-1",
                now: Self.now,
                configuration: configuration
            )
            guard case .decided(let result) = plan else { throw TestFailure("\(name) after \(outcome) is not decided") }
            return result
        }
        let card = IDTagAuthorization(status: "Accepted", expiryDate: nil, parentIDTag: "FLEET")
        let expired = IDTagAuthorization(
            status: "Accepted",
            expiryDate: Date(timeIntervalSince1970: 1),
            parentIDTag: nil
        )
        #expect(try Self.text(advance("Authorize", .authorized(card)).answer).contains(#""parentIdTag":"FLEET""#))
        #expect(try Self.text(advance("Authorize", .authorized(expired)).answer).contains("Expired"))
        #expect(try Self.text(advance("Authorize", .authorized(nil)).answer).contains("Invalid"))
        #expect(try Self.text(advance("Authorize", .authorized(nil), acceptUnknown: true).answer).contains("Accepted"))

        let started = try advance("StartTransaction", .started(transactionID: 77, card))
        #expect(Self.text(started.answer).contains(#""transactionId":77"#))
        guard case .rows(let begin) = started.rows else { throw TestFailure("no rows") }
        #expect(begin.map(\.series.context) == ["Transaction.Begin"])
        #expect(begin.first?.transactionID == 77)
        #expect(begin.first?.value == .number(1000))

        let stopped = try advance("StopTransaction", .stopped(connectorID: 2, card))
        guard case .rows(let end) = stopped.rows else { throw TestFailure("no rows") }
        #expect(end.map(\.series.context) == ["Sample.Periodic", "Transaction.End"])
        #expect(end.allSatisfy { $0.series.connectorID == 2 && $0.transactionID == 424_242 })
        #expect(Self.text(stopped.answer).contains("Accepted"))

        for name in ["StartTransaction", "StopTransaction"] {
            #expect(try Self.text(advance(name, .notRegistered).answer) == "SecurityError")
        }
        let unstorable = try advance("StartTransaction", .unstorable("empty idTag"))
        #expect(Self.text(unstorable.answer) == "PropertyConstraintViolation")
        if case .none = unstorable.rows {} else { Issue.record("an error answer stores rows") }
        #expect(try Self.text(advance("Authorize", .unavailable).answer) == "InternalError")
        // An outcome that does not belong to the request is a failure, not a guess.
        #expect(try Self.text(advance("Heartbeat", .started(transactionID: 1, nil)).answer) == "InternalError")
    }

    @Test(
        "Every action from every kind of charger under every policy: the WebSocket and the relay agree",
        .timeLimit(.minutes(5)),
        arguments: TestBackend.allCases
    )
    func bothPaths(backend: TestBackend) async throws {
        for policy in UnknownChargerPolicy.allCases {
            let server = try await IngestTestServer.start(Self.configuration(policy), backend: backend)
            do {
                _ = try await server.relational.create(
                    RFIDCard.self,
                    RFIDCard.Fields(idTag: PlannerTable.idTag, status: "Accepted")
                )
                try await Self.runTable(server, policy)
            } catch {
                await server.stop()
                throw error
            }
            await server.stop()
        }
    }

    private static func runTable(_ server: IngestTestServer, _ policy: UnknownChargerPolicy) async throws {
        let cases = PlannerTable.State.allCases.flatMap { state in PlannerTable.actions.map { (state, $0) } }
        // A few cases at a time: one server, many chargers, without flooding two cores.
        for batch in stride(from: 0, to: cases.count, by: 8).map({ cases[$0..<min($0 + 8, cases.count)] }) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (state, action) in batch {
                    group.addTask {
                        let webSocket = try await PlannerTable.overWebSocket(server, state, action)
                        let relayed = try await PlannerTable.relayed(server, state, action)
                        let label = "\(policy) / \(state) / \(action.name)"
                        #expect(webSocket == relayed, "\(label): WebSocket \(webSocket); relay \(relayed)")
                        let expected = PlannerTable.expected(action, state, policy)
                        #expect(webSocket.answer.hasPrefix("error") == expected.refused, "\(label): \(webSocket)")
                        if expected.refused { #expect(webSocket.answer == "error SecurityError", "\(label)") }
                        #expect(webSocket.registration == expected.registration, "\(label): \(webSocket)")
                        #expect(webSocket.rows.count == expected.rows, "\(label): \(webSocket)")
                        #expect(webSocket.bootAfterwards == expected.bootAfterwards, "\(label): \(webSocket)")
                        if action.name == "BootNotification" {
                            let answered = state == .unknown ? (expected.registration ?? "Rejected") : state.rawValue
                            #expect(webSocket.answer.contains(#""status":"\#(answered)""#), "\(label): \(webSocket)")
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }
}
