import CoreMetrics
import Logging
import Protocol
import Relational
import TimeSeries

/// What authenticating an upgrade request came to.
enum UpgradeAuthentication: Sendable {
    /// Upgrade; the charger's registration status, if the database knows it.
    case accepted(registrationStatus: String?)
    /// Answer with the refusal.
    case refused(UpgradeRefusal)
}

extension IngestServices {
    /// The event type (action) of the security events the server stores itself.
    static let serverSecurityEventAction = "ServerSecurityEvent"

    /// Looks the charger up and decides by its security profile (``ChargerAuthentication``).
    /// A refusal is counted, logged (never with the credentials) and, for a charger the
    /// database knows, stored as a security event before the answer goes out; a charger
    /// that used its pending key gets it promoted.
    /// - Parameters:
    ///   - chargePointID: The id in the request's path.
    ///   - transport: How the connection arrived.
    ///   - authorization: The request's `Authorization` header.
    ///   - remote: The peer's address, for the log and the event.
    func authenticate(
        chargePointID: ChargePointID,
        transport: ChargerTransport,
        authorization: String?,
        remote: String
    ) async -> UpgradeAuthentication {
        let credentials: ChargerCredentials?
        do {
            credentials = try await self.credentials.submit(chargePointID.rawValue)
        } catch {
            logger.warning(
                "Looking up a connecting charger failed; it is refused",
                metadata: ["charge_point_id": "\(chargePointID)", "error": "\(error)"]
            )
            return await refuse(ChargerAuthentication.databaseUnavailable, chargePointID, known: false, remote: remote)
        }
        let decision = ChargerAuthentication.decide(
            chargePointID: chargePointID.rawValue,
            credentials: credentials,
            defaultProfile: relational.defaultSecurityProfile,
            transport: transport,
            authorization: authorization
        )
        switch decision {
        case .refuse(let refusal):
            return await refuse(refusal, chargePointID, known: credentials != nil, remote: remote)
        case .accept(let promotePendingKey):
            if promotePendingKey {
                do {
                    try await relational.promotePendingAuthorizationKey(
                        chargePointID: chargePointID.rawValue,
                        ifPending: credentials?.pending
                    )
                    logger.notice(
                        "Charger authenticated with its new authorization key; the key is now its current one",
                        metadata: ["charge_point_id": "\(chargePointID)"]
                    )
                } catch {
                    logger.error(
                        "Promoting the charger's pending authorization key failed; both keys stay valid",
                        metadata: ["charge_point_id": "\(chargePointID)", "error": "\(error)"]
                    )
                }
            }
            return .accepted(registrationStatus: credentials?.registrationStatus)
        }
    }

    private func refuse(
        _ refusal: ChargerAuthentication.Refusal,
        _ chargePointID: ChargePointID,
        known: Bool,
        remote: String
    ) async -> UpgradeAuthentication {
        metrics.connectionsRefused.increment()
        metrics.authenticationFailed(reason: refusal.reason)
        logger.notice(
            "Refused a charger's connection",
            metadata: [
                "charge_point_id": "\(chargePointID)",
                "status": "\(refusal.status)",
                "reason": "\(refusal.reason)",
                "remote": "\(remote)",
            ]
        )
        if known, let type = refusal.securityEvent {
            do {
                try await events.durable([
                    Self.securityEventRow(
                        chargePointID: chargePointID.rawValue,
                        type: type,
                        techInfo: "\(refusal.reason) from \(remote)",
                        now: Self.nowMilliseconds()
                    )
                ])
            } catch {
                logger.error(
                    "Storing a security event failed",
                    metadata: ["charge_point_id": "\(chargePointID)", "type": "\(type)", "error": "\(error)"]
                )
            }
        }
        return .refused(
            UpgradeRefusal(
                status: refusal.status,
                reason: refusal.detail,
                authenticate: refusal.challengesBasic ? ChargerAuthentication.challenge : nil
            )
        )
    }

    /// A security event the server records about a charger: a row of action
    /// `ServerSecurityEvent` whose payload has the shape of a SecurityEventNotification
    /// (`type`, `timestamp`, `techInfo`).
    static func securityEventRow(chargePointID: String, type: String, techInfo: String, now: Int64) -> EventRow {
        let payload = SecurityEventNotificationRequest(
            type: type,
            timestamp: OCPPTimestamp(millisecondsSince1970: now),
            techInfo: String(techInfo.prefix(255))
        )
        return EventRow(
            series: SeriesKey(
                chargePointID: chargePointID,
                connectorID: 0,
                kind: .event,
                eventType: serverSecurityEventAction
            ),
            timestamp: now,
            value: .payload(String(decoding: payload.encoded(), as: UTF8.self))
        )
    }
}
