import Foundation
import Logging
public import Protocol
import Relational
import TimeSeries

/// Why a relayed message was not taken.
public struct RelayError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public enum Kind: Sendable, Hashable {
        /// The charger may not send this: it is Rejected, or unknown while unknown chargers are refused.
        case refused
        /// The message carries a value the database refuses (an empty idTag, a NUL character,
        /// a negative connector id); retrying cannot help.
        case unstorable
        /// The message is beyond a limit of this central system (a connector id above the
        /// highest it accepts, a series past the charger's series limit); nothing is stored.
        case beyondLimit
        /// The database or the time-series store failed; nothing was acknowledged. Retry.
        case unavailable
    }

    public let kind: Kind
    public let description: String

    init(kind: Kind, description: String) {
        self.kind = kind
        self.description = description
    }

    /// The failure a CALLERROR over the WebSocket stands for.
    init(code: OCPPErrorCode, description: String) {
        switch code {
        case .securityError: kind = .refused
        case .propertyConstraintViolation, .occurenceConstraintViolation: kind = .unstorable
        default: kind = .unavailable
        }
        self.description = description
    }
}

extension OCPPIngest {
    /// Takes a message a charger sent through another system (the REST API's `/db/ocpp/*`
    /// endpoints): the WebSocket's plan (``RequestPlanner``), executed in the same order,
    /// with what the database holds as what is known of the charger. It returns once what
    /// the message carried is durable.
    /// - Parameters:
    ///   - request: The charger's request, decoded and validated.
    ///   - chargePointID: The charger it came from.
    /// - Returns: The confirmation the charger would have been sent.
    /// - Throws: ``RelayError``: `refused` where the WebSocket answers SecurityError,
    ///   `unstorable` for PropertyConstraintViolation, `unavailable` for InternalError.
    public func relay(
        _ request: ChargePointRequest,
        from chargePointID: ChargePointID
    ) async throws(RelayError) -> any OCPPPayload {
        let services = self.services
        let id = chargePointID.rawValue
        let now = relayReceipts.receipt(of: id, at: IngestServices.nowMilliseconds())
        let knowledge: ChargerKnowledge
        do {
            knowledge = ChargerKnowledge(
                registrationStatus: try await services.relational.charger(chargePointID: id)?.registrationStatus
            )
        } catch {
            throw unavailable(error, request: request, chargePointID: id)
        }
        var plan = RequestPlanner.plan(
            request,
            chargePointID: id,
            now: now,
            knowledge: knowledge,
            configuration: services.configuration
        )
        let result: PlannedResult
        planning: while true {
            switch plan {
            case .decided(let decided):
                result = decided
                break planning
            case .database(let step):
                let outcome = await services.perform(step, chargePointID: id, action: request.action, now: now)
                plan = RequestPlanner.advance(
                    request,
                    after: outcome,
                    chargePointID: id,
                    now: now,
                    configuration: services.configuration
                )
            }
        }
        if let limit = result.limit { services.metrics.refused(by: limit) }
        let (answer, followUp) = relayedAnswer(result, chargePointID: chargePointID)
        let rows: [EventRow]
        switch result.rows {
        case .none:
            rows = []
        case .rows(let planned):
            rows = planned
        case .meterValues(let meterValues):
            var cache = SampleSeriesCache()
            rows = EventRows.rows(of: meterValues, chargePointID: id, cache: &cache)
        }
        do {
            try await services.events.durable(rows)
        } catch let refusal as SeriesLimitExceeded {
            services.metrics.refused(by: .seriesLimit)
            throw RelayError(kind: .beyondLimit, description: refusal.description)
        } catch {
            throw unavailable(error, request: request, chargePointID: id)
        }
        // After the rows: a message the store refuses changes nothing.
        services.apply(result.effects)
        followUp?.send()
        switch answer {
        case .result(let payload, _):
            return payload
        case .error(let code, let description):
            if result.limit != nil { throw RelayError(kind: .beyondLimit, description: description) }
            throw RelayError(code: code, description: description)
        }
    }

    private func unavailable(_ error: any Error, request: ChargePointRequest, chargePointID: String) -> RelayError {
        services.logger.error(
            "Relaying a message failed",
            metadata: [
                "charge_point_id": "\(chargePointID)", "action": "\(request.action.rawValue)",
                "error": .charger("\(error)"),
            ]
        )
        return RelayError(code: .internalError, description: "storing the message failed; retry: \(error)")
    }
}
