import Foundation
import Logging
import Protocol
import TimeSeries

extension IngestServices {
    /// The event type under which the outcome of a CertificateSigned call is stored.
    static let certificateSignedEvent = OCPPAction.certificateSigned.rawValue

    /// Logs the charger's answer to CertificateSigned (or why there is none) and stores it as
    /// an event of the charger: its confirmation (`{"status":"Accepted"}`), or
    /// `{"error":"..."}` when the call failed.
    func recordCertificateSigned(
        _ outcome: Result<CertificateSignedResponse, ChargePointCallError>,
        chargePointID: String
    ) {
        let payload: String
        switch outcome {
        case .success(let response):
            metrics.call(outcome: "confirmed")
            let level: Logger.Level = response.status == .accepted ? .info : .warning
            logger.log(
                level: level,
                "The charger answered CertificateSigned",
                metadata: ["charge_point_id": "\(chargePointID)", "status": "\(response.status.rawValue)"]
            )
            payload = String(decoding: response.encoded(), as: UTF8.self)
        case .failure(let error):
            metrics.call(outcome: Self.callOutcome(error))
            logger.warning(
                "Sending CertificateSigned failed",
                metadata: ["charge_point_id": "\(chargePointID)", "error": .charger("\(error)")]
            )
            var bytes: [UInt8] = []
            bytes.append(contentsOf: #"{"error":"#.utf8)
            JSONWriter.appendString(error.description, to: &bytes)
            bytes.append(UInt8(ascii: "}"))
            payload = String(decoding: bytes, as: UTF8.self)
        }
        let row = EventRow(
            series: SeriesKey(
                chargePointID: chargePointID,
                connectorID: 0,
                kind: .event,
                eventType: Self.certificateSignedEvent
            ),
            timestamp: Self.nowMilliseconds(),
            value: .payload(payload)
        )
        let events = events
        let logger = logger
        Task {
            do {
                try await events.durable([row])
            } catch {
                logger.error(
                    "Storing the outcome of CertificateSigned failed",
                    metadata: ["charge_point_id": "\(chargePointID)", "error": "\(error)"]
                )
            }
        }
    }

    private static func callOutcome(_ error: ChargePointCallError) -> String {
        switch error {
        case .callError: return "callerror"
        case .timedOut: return "timeout"
        case .queueFull, .notConnected: return "refused"
        case .invalidResponse: return "invalid"
        default: return "closed"
        }
    }
}
