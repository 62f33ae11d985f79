import Foundation
import Logging
import Protocol
import Relational
import TimeSeries

/// How the WebSocket handler and the HTTP relay carry out what the request planner decides:
/// the database steps, and the coalesced relational effects.
extension IngestServices {
    /// Does the database work of `step` for a request of `action` from `chargePointID`.
    /// Failures are outcomes too (the planner decides how they are answered).
    func perform(_ step: DatabaseStep, chargePointID: String, action: OCPPAction, now: Int64) async -> DatabaseOutcome {
        do {
            switch step {
            case .register(let status):
                let stored = try await relational.registerUnknownCharger(
                    chargePointID: chargePointID,
                    status: status.rawValue,
                    at: Self.date(now)
                )
                logger.info(
                    "Registered a charger the database did not know",
                    metadata: [
                        "charge_point_id": "\(chargePointID)", "status": "\(stored)", "action": "\(action.rawValue)",
                    ]
                )
                return .registered(ChargerKnowledge(registrationStatus: stored))
            case .boot(let boot, let rule):
                let stored = try await boots.submit(
                    ChargerBoot(
                        chargePointID: chargePointID,
                        boot: ChargerBootInfo(
                            vendor: boot.chargePointVendor,
                            model: boot.chargePointModel,
                            chargePointSerialNumber: boot.chargePointSerialNumber,
                            chargeBoxSerialNumber: boot.chargeBoxSerialNumber,
                            firmwareVersion: boot.firmwareVersion,
                            iccid: boot.iccid,
                            imsi: boot.imsi,
                            meterType: boot.meterType,
                            meterSerialNumber: boot.meterSerialNumber
                        ),
                        unknownCharger: rule,
                        time: Self.date(now)
                    )
                )
                let status = stored.map { ChargerKnowledge(registrationStatus: $0) }
                logger.info(
                    "BootNotification",
                    metadata: [
                        "charge_point_id": "\(chargePointID)", "registered": "\(stored ?? "no")",
                        "vendor": .charger(boot.chargePointVendor), "model": .charger(boot.chargePointModel),
                    ]
                )
                guard case .registered(let registration)? = status else { return .booted(nil) }
                return .booted(registration)
            case .authorize(let idTag):
                return .authorized(try await authorizations.authorization(idTag))
            case .signCertificate(let csr):
                guard let authority = configuration.chargerCertificateAuthority else {
                    return .signingRefused("no charger CA is configured")
                }
                do throws(CertificateRequestRefusal) {
                    return .signed(try authority.sign(csrPEM: csr, chargePointID: chargePointID, now: Self.date(now)))
                } catch {
                    return .signingRefused(error.description)
                }
            case .startTransaction(let start, let rule):
                let authorization = try await authorizations.authorization(start.idTag)
                let transactionID = try await relational.startSession(
                    SessionStart(
                        chargePointID: chargePointID,
                        connectorID: start.connectorId,
                        idTag: start.idTag,
                        meterStart: Int64(start.meterStart),
                        timestamp: Self.date(start.timestamp.millisecondsSince1970),
                        reservationID: start.reservationId,
                        unknownCharger: rule
                    )
                )
                return .started(transactionID: transactionID, authorization)
            case .stopTransaction(let stop, let rule):
                let outcome = try await relational.stopSession(
                    SessionStop(
                        chargePointID: chargePointID,
                        transactionID: stop.transactionId,
                        idTag: stop.idTag,
                        meterStop: Int64(stop.meterStop),
                        timestamp: Self.date(stop.timestamp.millisecondsSince1970),
                        reason: stop.reason?.rawValue,
                        unknownCharger: rule
                    )
                )
                var connectorID = 0
                if case .stopped(let session) = outcome { connectorID = session.connectorID }
                var authorization: IDTagAuthorization?
                if let idTag = stop.idTag { authorization = try await authorizations.authorization(idTag) }
                return .stopped(connectorID: connectorID, authorization)
            }
        } catch let error as RelationalStoreError where error.code == .invalidValue || error.code == .invalidReference {
            faultLog.log(
                logger,
                level: .warning,
                source: chargePointID.description,
                kind: "unstorable",
                "A request carries values the database refuses",
                metadata: [
                    "charge_point_id": "\(chargePointID)", "action": "\(action.rawValue)",
                    "error": .charger("\(error)"),
                ]
            )
            return .unstorable(error.message)
        } catch let error as RelationalStoreError where error.code == .notFound {
            // A session start or stop of a charger the database does not know, under `reject`.
            return .notRegistered
        } catch {
            logger.error(
                "Handling a request failed",
                metadata: [
                    "charge_point_id": "\(chargePointID)", "action": "\(action.rawValue)",
                    "error": .charger("\(error)"),
                ]
            )
            return .unavailable
        }
    }

    /// Hands the coalesced relational effects to the coalescer, in order.
    func apply(_ effects: [RelationalEffect]) {
        for effect in effects {
            switch effect {
            case .connectorStatus(let update): coalescer.status(update)
            case .seen(let chargePointID, let time): coalescer.seen(chargePointID, at: time)
            }
        }
    }

    /// The time now, in milliseconds since 1970 (what the planner is given as `now`).
    static func nowMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    static func date(_ milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}
