import Foundation
import Protocol

extension RequestPlanner {
    /// SignCertificate: the request is stored either way; with a charger CA configured and a
    /// request it signs, the answer is Accepted and CertificateSigned with the chain follows
    /// it; otherwise Rejected, with the reason for the log.
    ///
    /// Signing runs here, on the connection's event loop (an RSA CA key takes milliseconds):
    /// a charger asks once a certificate lifetime, so it is no load worth a hop.
    static func certificateSigning(
        _ request: SignCertificateRequest,
        chargePointID: String,
        now: Int64,
        configuration: IngestConfiguration
    ) -> PlannedResult {
        let rows = PlannedRows.rows([EventRows.event(request, chargePointID: chargePointID, now: now)])
        func rejected(_ reason: String) -> PlannedResult {
            PlannedResult(
                answer: .result(SignCertificateResponse(status: .rejected), isEmpty: false),
                rows: rows,
                refusalReason: reason
            )
        }
        guard let authority = configuration.chargerCertificateAuthority else {
            return rejected(
                "no charger CA is configured (OCPP_CHARGER_CA_CERT_FILE and OCPP_CHARGER_CA_KEY_FILE)"
            )
        }
        let chain: [String]
        do {
            chain = try authority.sign(
                csrPEM: request.csr,
                chargePointID: chargePointID,
                now: Date(timeIntervalSince1970: Double(now) / 1000)
            )
        } catch {
            return rejected(error.description)
        }
        let call = CertificateSignedRequest(certificateChain: chain.joined())
        do {
            try call.validate()
        } catch {
            return rejected("the signed chain does not fit CertificateSigned: \(error)")
        }
        return PlannedResult(
            answer: .result(SignCertificateResponse(status: .accepted), isEmpty: false),
            rows: rows,
            followUp: .certificateSigned(call)
        )
    }
}
