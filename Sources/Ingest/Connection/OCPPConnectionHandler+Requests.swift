import Foundation
import Logging
import NIOCore
import Protocol
import Relational
import TimeSeries

extension OCPPConnectionHandler {
    /// Handles one request from the charger: plans it (``RequestPlanner``, with the
    /// registration status the session keeps as what is known of the charger) and executes
    /// the plan in the order ``RequestPlan`` documents.
    func handle(_ request: ChargePointRequest, uniqueID: String, now: Int64) {
        let plan = RequestPlanner.plan(
            request,
            chargePointID: session.chargePointID.rawValue,
            now: now,
            knowledge: ChargerKnowledge(registrationStatus: session.registrationStatus),
            configuration: services.configuration
        )
        execute(plan, request, uniqueID: uniqueID, now: now)
    }

    private func execute(_ plan: RequestPlan, _ request: ChargePointRequest, uniqueID: String, now: Int64) {
        switch plan {
        case .decided(let result):
            carryOut(result, uniqueID: uniqueID)
        case .database(.authorize(let idTag)):
            if let cached = services.authorizations.cached(idTag) {
                // A fresh cached answer: no hop off the event loop.
                advance(request, after: .authorized(cached), uniqueID: uniqueID, now: now)
            } else {
                ask(.authorize(idTag: idTag), request, uniqueID: uniqueID, now: now)
            }
        case .database(let step):
            ask(step, request, uniqueID: uniqueID, now: now)
        }
    }

    private func advance(_ request: ChargePointRequest, after outcome: DatabaseOutcome, uniqueID: String, now: Int64) {
        let plan = RequestPlanner.advance(
            request,
            after: outcome,
            chargePointID: session.chargePointID.rawValue,
            now: now,
            configuration: services.configuration
        )
        execute(plan, request, uniqueID: uniqueID, now: now)
    }

    /// Runs a database step off the event loop, then, back on it, goes on with the plan. The
    /// registration status the step leaves becomes what the session knows of the charger.
    private func ask(_ step: DatabaseStep, _ request: ChargePointRequest, uniqueID: String, now: Int64) {
        inFlight += 1
        let services = self.services
        let session = self.session
        let chargePointID = session.chargePointID.rawValue
        let promise = eventLoop.makePromise(of: DatabaseOutcome.self)
        promise.completeWithTask {
            let outcome = await services.perform(step, chargePointID: chargePointID, action: request.action, now: now)
            switch outcome {
            case .registered(.registered(let status)):
                session.registrationStatus = status.rawValue
            case .booted(let status):
                // What it was told: an unknown charger refused under `reject` was told Rejected.
                session.registrationStatus = (status ?? .rejected).rawValue
            default:
                break
            }
            return outcome
        }
        let handler = NIOLoopBound(self, eventLoop: eventLoop)
        promise.futureResult.whenComplete { result in
            let handler = handler.value
            switch result {
            case .success(let outcome):
                handler.advance(request, after: outcome, uniqueID: uniqueID, now: now)
            case .failure:
                handler.advance(request, after: .unavailable, uniqueID: uniqueID, now: now)
            }
            handler.finishedOne()
        }
    }

    /// Hands the rows to the event writer and answers once they are durable (at once when
    /// there are none); the effects are applied before the answer: with rows, once they are
    /// durable, so that a message the store refuses changes nothing.
    private func carryOut(_ result: PlannedResult, uniqueID: String) {
        if case .none = result.rows { services.apply(result.effects) }
        if let limit = result.limit { services.metrics.refused(by: limit) }
        if let reason = result.refusalReason { logRefusal(uniqueID: uniqueID, reason: reason) }
        if let followUp = result.followUp, case .result(let answered, _) = result.answer,
            case .rows(let rows) = result.rows
        {
            services.apply(result.effects)
            answerThenCall(rows, answer: answered, uniqueID: uniqueID, then: followUp)
            return
        }
        let payload: any OCPPPayload
        let isEmpty: Bool
        switch result.answer {
        case .error(let code, let description):
            if case .none = result.rows {} else { services.apply(result.effects) }
            answerError(uniqueID: uniqueID, code: code, description: description)
            return
        case .result(let answered, let empty):
            payload = answered
            isEmpty = empty
        }
        switch result.rows {
        case .none:
            answer(uniqueID: uniqueID, payload)
        case .rows(let rows):
            writeEvents(rows, acknowledgement: Self.acknowledgement(payload, isEmpty, uniqueID, after: result.effects))
        case .meterValues(let meterValues):
            let events = services.events
            let batch = EventRows.batch(
                of: meterValues,
                chargePointID: session.chargePointID.rawValue,
                cache: &seriesCache
            ) { events.seriesID(of: $0) }
            writeEvents(batch, acknowledgement: Self.acknowledgement(payload, isEmpty, uniqueID, after: result.effects))
        }
    }

    /// The answer written once the rows are durable: `[3,"uniqueID",{}]` is written straight
    /// into the output; others are encoded now. The effects are applied first.
    private static func acknowledgement(
        _ payload: any OCPPPayload,
        _ isEmpty: Bool,
        _ uniqueID: String,
        after effects: [RelationalEffect]
    ) -> Acknowledgement {
        let acknowledgement: Acknowledgement =
            isEmpty
            ? .empty(uniqueID: uniqueID)
            : .frame(uniqueID: uniqueID, OCPPFrameEncoder.callResult(uniqueID: uniqueID, payload: payload))
        return effects.isEmpty ? acknowledgement : .applying(effects, acknowledgement)
    }

    /// Logs (rate-limited per charger) that the request `uniqueID` was refused, and why.
    func logRefusal(uniqueID: String, reason: String) {
        services.faultLog.log(
            logger,
            level: .warning,
            source: session.chargePointID.description,
            kind: "refused-request",
            "Refused a request",
            metadata: ["unique_id": .charger(uniqueID), "reason": .charger(reason)]
        )
    }
}
