import Foundation
import Protocol

extension RequestPlanner {
    /// SignCertificate: the request is stored either way; with a charger CA configured, the
    /// CA signs it off the event loop (``DatabaseStep/signCertificate(csr:)``), and a request
    /// it signs is answered Accepted, with CertificateSigned and the chain following the
    /// answer; otherwise Rejected, with the reason for the log.
    static func certificateSigning(
        _ request: SignCertificateRequest,
        chargePointID: String,
        now: Int64,
        configuration: IngestConfiguration
    ) -> RequestPlan {
        guard configuration.chargerCertificateAuthority != nil else {
            return .decided(
                signingRejected(
                    request,
                    reason: "no charger CA is configured (OCPP_CHARGER_CA_CERT_FILE and OCPP_CHARGER_CA_KEY_FILE)",
                    chargePointID: chargePointID,
                    now: now
                )
            )
        }
        return .database(.signCertificate(csr: request.csr))
    }

    /// The answer once the CA signed `chain`.
    static func certificateSigned(
        _ request: SignCertificateRequest,
        chain: [String],
        chargePointID: String,
        now: Int64
    ) -> PlannedResult {
        let call = CertificateSignedRequest(certificateChain: chain.joined())
        do {
            try call.validate()
        } catch {
            return signingRejected(
                request,
                reason: "the signed chain does not fit CertificateSigned: \(error)",
                chargePointID: chargePointID,
                now: now
            )
        }
        return PlannedResult(
            answer: .result(SignCertificateResponse(status: .accepted), isEmpty: false),
            rows: rows(request, chargePointID: chargePointID, now: now),
            followUp: .certificateSigned(call)
        )
    }

    /// Rejected, the request stored, the reason logged.
    static func signingRejected(
        _ request: SignCertificateRequest,
        reason: String,
        chargePointID: String,
        now: Int64
    ) -> PlannedResult {
        PlannedResult(
            answer: .result(SignCertificateResponse(status: .rejected), isEmpty: false),
            rows: rows(request, chargePointID: chargePointID, now: now),
            refusalReason: reason
        )
    }

    private static func rows(_ request: SignCertificateRequest, chargePointID: String, now: Int64) -> PlannedRows {
        .rows([EventRows.event(request, chargePointID: chargePointID, now: now)])
    }
}
