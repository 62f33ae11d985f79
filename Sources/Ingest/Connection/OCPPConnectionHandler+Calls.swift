import Logging
import NIOCore
import Protocol

extension OCPPConnectionHandler {
    /// Queues a call; the promise gets the confirmation's payload.
    func startCall<Request: OCPPRequest>(_ request: Request, promise: EventLoopPromise<OCPPRawPayload>) {
        guard context != nil, machine.canSend, !quiescing else {
            promise.fail(ChargePointCallError.connectionClosed)
            return
        }
        do {
            let (id, actions) = try correlator.enqueue(request)
            callPromises[id] = promise
            perform(actions)
        } catch {
            promise.fail(ChargePointCallError.queueFull(limit: error.limit))
        }
    }

    /// Carries out the correlator's actions; a sent call's timeout is a task on the event
    /// loop (virtual time in tests).
    func perform(_ actions: [OCPPCallCorrelator.Action]) {
        for action in actions {
            switch action {
            case .send(let uniqueID, let frame, let timeout):
                writeText(frame)
                callTimer?.cancel()
                if let context {
                    let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
                    callTimer = context.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
                        let handler = handler.value
                        handler.perform(handler.correlator.timedOut(uniqueID: uniqueID))
                    }
                }
            case .succeed(let id, _, let payload):
                callTimer?.cancel()
                callPromises.removeValue(forKey: id)?.succeed(payload)
            case .fail(let id, _, let failure):
                callTimer?.cancel()
                let error: ChargePointCallError
                switch failure {
                case .callError(let callError): error = .callError(callError)
                case .timedOut: error = .timedOut
                case .connectionClosed: error = .connectionClosed
                }
                callPromises.removeValue(forKey: id)?.fail(error)
            case .discard(let uniqueID, let reason):
                services.faultLog.log(
                    logger,
                    level: .info,
                    source: session.chargePointID.description,
                    kind: "discarded-answer",
                    "Discarded an answer",
                    metadata: ["unique_id": .charger(uniqueID), "reason": .charger("\(reason)")]
                )
            }
        }
    }
}
