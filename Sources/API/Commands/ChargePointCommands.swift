import Foundation
import Hummingbird
import Ingest
import Logging
import NIOCore
import Protocol
import Relational

/// The OCPP command endpoints: `GET /charge_points` and one endpoint per
/// Central-System-initiated message under `/charge_points/{charge_point_id}/`.
///
/// A body mirrors the OCPP request in snake_case and is decoded and validated against the
/// request's schema before anything is sent (422 otherwise); the answer is the charger's
/// confirmation in snake_case. Not connected: 404. No answer in time: 504. A CALLERROR:
/// 502 with its code and description.
enum ChargePointCommands {
    /// The largest command body accepted.
    static let maximumBodySize = 1 << 20

    /// The POST endpoints: path segment and the OCPP action it sends.
    static let commands: [(path: String, action: OCPPAction)] = [
        ("reset", .reset), ("change_configuration", .changeConfiguration), ("unlock", .unlockConnector),
        ("availability", .changeAvailability), ("remote_start", .remoteStartTransaction),
        ("remote_stop", .remoteStopTransaction), ("charging_profile", .setChargingProfile),
        ("reserve_now", .reserveNow), ("cancel_reservation", .cancelReservation),
        ("trigger_message", .triggerMessage), ("clear_cache", .clearCache), ("data_transfer", .dataTransfer),
        ("get_diagnostics", .getDiagnostics), ("update_firmware", .updateFirmware),
        ("get_local_list_version", .getLocalListVersion), ("send_local_list", .sendLocalList),
        ("clear_charging_profile", .clearChargingProfile), ("get_composite_schedule", .getCompositeSchedule),
    ]

    static func register(on router: Router<BasicRequestContext>, ingest: OCPPIngest, relational: RelationalStore?) {
        router.get("/charge_points") { request, _ in
            try listConnected(request, ingest: ingest)
        }
        router.get("/charge_points/:charge_point_id/configuration") { request, context in
            let keys = request.uri.queryParameters[values: "key"].map(String.init)
            let call = GetConfigurationRequest(key: keys.isEmpty ? nil : keys)
            do throws(OCPPError) {
                try call.validate()
            } catch {
                return APIErrors.validation(error, location: ["query"])
            }
            return await send(call, to: context.parameters.get("charge_point_id"), ingest: ingest, relational: nil)
        }
        for (path, action) in commands {
            command(path, action.requestType, router, ingest, relational)
        }
    }

    /// `POST /charge_points/{charge_point_id}/{path}` with a snake_case `Request` body.
    private static func command<Request: OCPPRequest>(
        _ path: String,
        _ type: Request.Type,
        _ router: Router<BasicRequestContext>,
        _ ingest: OCPPIngest,
        _ relational: RelationalStore?
    ) {
        router.post("/charge_points/:charge_point_id/\(path)") { request, context in
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: maximumBodySize)
            } catch {
                return APIErrors.detail("the body exceeds \(maximumBodySize) bytes", status: .contentTooLarge)
            }
            // An empty body is an empty object (requests without required fields).
            let bytes = body.readableBytes == 0 ? Array("{}".utf8) : Array(buffer: body)
            let call: Request
            do throws(OCPPError) {
                call = try Request.decode(
                    from: bytes,
                    options: OCPPDecodingOptions(unknownProperties: .reject, keyStyle: .snakeCase)
                ).value
            } catch {
                return APIErrors.validation(error, location: ["body"])
            }
            return await send(
                call,
                to: context.parameters.get("charge_point_id"),
                ingest: ingest,
                relational: relational,
                logger: context.logger
            )
        }
    }

    /// Sends `call` and turns the outcome into the HTTP answer.
    private static func send<Request: OCPPRequest>(
        _ call: Request,
        to segment: String?,
        ingest: OCPPIngest,
        relational: RelationalStore?,
        logger: Logger? = nil
    ) async -> Response {
        let chargePointID: ChargePointID
        do {
            chargePointID = try ChargePointID(pathSegment: Substring(segment ?? ""))
        } catch {
            return APIErrors.invalid(location: ["path", "charge_point_id"], message: error.reason, type: "value_error")
        }
        do {
            let confirmation = try await ingest.call(call, to: chargePointID)
            if let relational {
                do {
                    try await record(call, confirmation, chargePointID: chargePointID.rawValue, store: relational)
                } catch {
                    // The charger has acted on the command: its answer is still the response.
                    logger?.error(
                        "Recording a command's outcome failed",
                        metadata: [
                            "charge_point_id": "\(chargePointID.rawValue)", "action": "\(Request.action.rawValue)",
                            "error": "\(error)",
                        ]
                    )
                }
            }
            return APIApplication.jsonResponse(
                String(decoding: confirmation.encoded(keyStyle: .snakeCase), as: UTF8.self)
            )
        } catch {
            return failure(error, action: Request.action)
        }
    }

    /// Records the reservations and charging profiles sent, with the charger's answer.
    private static func record<Request: OCPPRequest>(
        _ call: Request,
        _ confirmation: Request.Response,
        chargePointID: String,
        store: RelationalStore
    ) async throws {
        func date(_ timestamp: OCPPTimestamp) -> Date {
            Date(timeIntervalSince1970: Double(timestamp.millisecondsSince1970) / 1000)
        }
        switch (call, confirmation) {
        case (let reserve as ReserveNowRequest, let answer as ReserveNowResponse):
            try await store.recordReservation(
                chargePointID: chargePointID,
                reservationID: reserve.reservationId,
                connectorID: reserve.connectorId,
                idTag: reserve.idTag,
                parentIDTag: reserve.parentIdTag,
                expiryDate: date(reserve.expiryDate),
                responseStatus: answer.status.rawValue
            )
        case (let cancel as CancelReservationRequest, let answer as CancelReservationResponse)
        where answer.status == .accepted:
            try await store.recordReservationCancelled(
                chargePointID: chargePointID,
                reservationID: cancel.reservationId
            )
        case (let set as SetChargingProfileRequest, let answer as SetChargingProfileResponse):
            let profile = set.csChargingProfiles
            try await store.recordChargingProfile(
                chargePointID: chargePointID,
                connectorID: set.connectorId,
                chargingProfileID: profile.chargingProfileId,
                stackLevel: profile.stackLevel,
                purpose: profile.chargingProfilePurpose.rawValue,
                kind: profile.chargingProfileKind.rawValue,
                transactionID: profile.transactionId,
                profile: String(decoding: profile.encoded(keyStyle: .snakeCase), as: UTF8.self),
                responseStatus: answer.status.rawValue
            )
        case (let clear as ClearChargingProfileRequest, let answer as ClearChargingProfileResponse)
        where answer.status == .accepted:
            try await store.recordChargingProfilesCleared(
                chargePointID: chargePointID,
                chargingProfileID: clear.id,
                connectorID: clear.connectorId,
                purpose: clear.chargingProfilePurpose?.rawValue,
                stackLevel: clear.stackLevel
            )
        default:
            break
        }
    }

    private static func failure(_ error: ChargePointCallError, action: OCPPAction) -> Response {
        switch error {
        case .notConnected:
            return APIErrors.detail(error.description, status: .notFound)
        case .invalidRequest(let ocppError):
            return APIErrors.validation(ocppError, location: ["body"])
        case .timedOut:
            return APIErrors.detail("\(action.rawValue): \(error.description)", status: .gatewayTimeout)
        case .callError(let callError):
            let details = String(decoding: callError.errorDetails, as: UTF8.self)
            return APIApplication.jsonResponse(
                #"{"detail":\#(APIApplication.jsonString("\(action.rawValue): \(error.description)")),"#
                    + #""error_code":\#(APIApplication.jsonString(callError.errorCode)),"#
                    + #""error_description":\#(APIApplication.jsonString(callError.errorDescription)),"#
                    + #""error_details":\#(details.isEmpty ? "{}" : details)}"#,
                status: .badGateway
            )
        case .connectionClosed, .invalidResponse:
            return APIErrors.detail("\(action.rawValue): \(error.description)", status: .badGateway)
        case .queueFull:
            return APIErrors.detail(error.description, status: .tooManyRequests)
        }
    }

    /// `GET /charge_points?limit=&offset=`: the connected chargers, by charge point id.
    private static func listConnected(_ request: Request, ingest: OCPPIngest) throws -> Response {
        let query = request.uri.queryParameters
        var limit = 100
        var offset = 0
        if let text = query["limit"] {
            guard let value = Int(text), (1...1000).contains(value) else {
                return APIErrors.invalid(
                    location: ["query", "limit"],
                    message: "limit must be a whole number in 1...1000",
                    type: "value_error"
                )
            }
            limit = value
        }
        if let text = query["offset"] {
            guard let value = Int(text), value >= 0 else {
                return APIErrors.invalid(
                    location: ["query", "offset"],
                    message: "offset must be a whole number, 0 or more",
                    type: "value_error"
                )
            }
            offset = value
        }
        let connected = ingest.connectedChargePoints
        let page = connected.dropFirst(offset).prefix(limit)
        let items = page.map { charger in
            """
            {"charge_point_id":\(APIApplication.jsonString(charger.chargePointID.rawValue)),\
            "connected_since":"\(timestamp(charger.connectedSince))",\
            "last_message_at":"\(timestamp(charger.lastMessageAt))",\
            "remote_address":\(charger.remoteAddress.map(APIApplication.jsonString) ?? "null"),\
            "registration_status":\(charger.registrationStatus.map(APIApplication.jsonString) ?? "null"),\
            "subprotocol":\(charger.subprotocol.map(APIApplication.jsonString) ?? "null")}
            """
        }
        return APIApplication.jsonResponse(
            #"{"items":[\#(items.joined(separator: ","))],"total":\#(connected.count),"limit":\#(limit),"offset":\#(offset)}"#
        )
    }

    private static func timestamp(_ date: Date) -> String {
        OCPPTimestamp(millisecondsSince1970: Int64((date.timeIntervalSince1970 * 1000).rounded(.down))).description
    }
}
