import Logging
import NIOCore
import Protocol
import TimeSeries

extension OCPPConnectionHandler {
    /// Makes `rows` durable, answers `payload`, then sends the follow-up call over this
    /// connection (so the charger gets the answer first). A failed write is answered with
    /// InternalError and sends nothing. Requests with a follow-up are rare (SignCertificate),
    /// so they wait for the event writer through its awaited path, off the hot one.
    func answerThenCall(
        _ rows: [EventRow],
        answer payload: any OCPPPayload,
        uniqueID: String,
        then followUp: FollowUpCall
    ) {
        inFlight += 1
        let events = services.events
        let promise = eventLoop.makePromise(of: Void.self)
        promise.completeWithTask { try await events.durable(rows) }
        let handler = NIOLoopBound(self, eventLoop: eventLoop)
        promise.futureResult.whenComplete { result in
            let handler = handler.value
            switch result {
            case .success:
                handler.answer(uniqueID: uniqueID, payload)
                handler.startFollowUp(followUp)
            case .failure(let error):
                handler.answerError(
                    uniqueID: uniqueID,
                    code: .internalError,
                    description: "storing the message failed; retry: \(error)"
                )
            }
            handler.finishedOne()
        }
    }

    /// Sends the follow-up call; its outcome is logged and stored, nobody waits for it.
    func startFollowUp(_ followUp: FollowUpCall) {
        switch followUp {
        case .certificateSigned(let request):
            let promise = eventLoop.makePromise(of: OCPPRawPayload.self)
            startCall(request, promise: promise)
            let services = self.services
            let chargePointID = session.chargePointID.rawValue
            promise.futureResult.whenComplete { result in
                let outcome: Result<CertificateSignedResponse, ChargePointCallError>
                switch result {
                case .success(let payload):
                    do throws(OCPPError) {
                        outcome = .success(try payload.decode(as: CertificateSignedResponse.self).value)
                    } catch {
                        outcome = .failure(.invalidResponse(error))
                    }
                case .failure(let error as ChargePointCallError):
                    outcome = .failure(error)
                case .failure:
                    outcome = .failure(.connectionClosed)
                }
                services.recordCertificateSigned(outcome, chargePointID: chargePointID)
            }
        }
    }
}
