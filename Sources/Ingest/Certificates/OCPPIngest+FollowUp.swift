import Logging
import NIOCore
import Protocol
import Synchronization

extension OCPPIngest {
    /// The answer to a relayed message and the follow-up call to send after it, if any.
    ///
    /// A relayed message has no connection of its own: its follow-up call (CertificateSigned
    /// after SignCertificate) goes over the charger's WebSocket to this server when it has
    /// one; without one the call cannot be delivered, so the request is answered as refused
    /// (SignCertificate: Rejected) instead, and the reason logged.
    func relayedAnswer(
        _ result: PlannedResult,
        chargePointID: ChargePointID
    ) -> (PlannedAnswer, RelayedFollowUp?) {
        if let reason = result.refusalReason {
            services.logger.warning(
                "Refused a relayed request",
                metadata: ["charge_point_id": "\(chargePointID)", "reason": "\(reason)"]
            )
        }
        guard let call = result.followUp else { return (result.answer, nil) }
        if let handler = services.registry.session(for: chargePointID)?.handler.withLock({ $0 }) {
            return (result.answer, RelayedFollowUp(call: call, handler: handler))
        }
        services.logger.warning(
            "Refused a relayed request",
            metadata: [
                "charge_point_id": "\(chargePointID)",
                "reason": "the charger is not connected here, so the call that must follow cannot be sent",
            ]
        )
        return (.result(call.answerWithoutConnection, isEmpty: false), nil)
    }
}

/// A follow-up call of a relayed message, to send over the charger's WebSocket once the
/// message's rows are durable.
struct RelayedFollowUp: Sendable {
    let call: FollowUpCall
    let handler: NIOLoopBound<OCPPConnectionHandler>

    func send() {
        let call = call
        let handler = handler
        handler.eventLoop.execute { handler.value.startFollowUp(call) }
    }
}
