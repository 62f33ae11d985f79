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
        // The OCPP 1.6 Security Whitepaper's messages.
        ("install_certificate", .installCertificate), ("delete_certificate", .deleteCertificate),
        ("get_installed_certificate_ids", .getInstalledCertificateIds),
        ("extended_trigger_message", .extendedTriggerMessage), ("get_log", .getLog),
        ("signed_update_firmware", .signedUpdateFirmware),
    ]

    /// Registers the routes; with `cluster`, also the internal API's command routes, and
    /// commands for chargers held by other nodes are forwarded to them.
    static func register(
        on router: Router<APIRequestContext>,
        ingest: OCPPIngest,
        relational: RelationalStore?,
        cluster: ClusterForwarder? = nil
    ) {
        router.get("/charge_points") { request, context in
            // A caller limited to a company sees its company's chargers only.
            let visible = try await visibleChargePoints(context, relational)
            if let cluster, let relational {
                return try await listCluster(request, ingest: ingest, relational: relational, cluster, visible: visible)
            }
            return try listConnected(request, ingest: ingest, visible: visible)
        }
        router.get("/charge_points/:charge_point_id/configuration") { request, context -> Response in
            let keys = request.uri.queryParameters[values: "key"].map(String.init)
            let call = GetConfigurationRequest(key: keys.isEmpty ? nil : keys)
            do throws(OCPPError) {
                try call.validate()
            } catch {
                throw APIError.validation(error, location: ["query"])
            }
            let segment = context.parameters.get("charge_point_id")
            if let cluster,
                let answer = try await forwardIfElsewhere(
                    call,
                    path: internalConfigurationPath,
                    segment: segment,
                    ingest: ingest,
                    relational: relational,
                    context: context,
                    cluster
                )
            {
                return answer
            }
            return try await send(
                call,
                to: segment,
                ingest: ingest,
                relational: relational,
                context: context,
                record: false
            ).response(from: request, context: context)
        }
        for (path, action) in commands {
            command(path, action.requestType, router, ingest, relational, cluster)
        }
        if let cluster { registerInternal(on: router, ingest: ingest, relational: relational, cluster) }
    }

    /// `POST /charge_points/{charge_point_id}/{path}` with a snake_case `Request` body; with
    /// `cluster`, a charger held by another node gets it through that node.
    private static func command<Request: OCPPRequest>(
        _ path: String,
        _ type: Request.Type,
        _ router: Router<APIRequestContext>,
        _ ingest: OCPPIngest,
        _ relational: RelationalStore?,
        _ cluster: ClusterForwarder?
    ) {
        router.post("/charge_points/:charge_point_id/\(path)") { request, context -> Response in
            try await run(type, path, request, context, ingest, relational, forwarding: cluster)
        }
    }

    /// Decodes and checks a command's body, then sends it to the charger: here, or through
    /// the node that holds it when `forwarding` is given and the charger is not connected here.
    static func run<Command: OCPPRequest>(
        _ type: Command.Type,
        _ path: String,
        _ request: Request,
        _ context: APIRequestContext,
        _ ingest: OCPPIngest,
        _ relational: RelationalStore?,
        forwarding cluster: ClusterForwarder?
    ) async throws -> Response {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: maximumBodySize)
        } catch {
            throw APIError.detail("the body exceeds \(maximumBodySize) bytes", status: .contentTooLarge)
        }
        // An empty body is an empty object (requests without required fields).
        let bytes = body.readableBytes == 0 ? Array("{}".utf8) : Array(buffer: body)
        if let value = JSONValue.parse(bytes),
            let schema = OpenAPIDocument.requestSchemas["\(Command.action.rawValue)Request"],
            let error = SchemaBounds.violation(value, schema)
        {
            throw error
        }
        let call: Command
        do throws(OCPPError) {
            call = try Command.decode(
                from: bytes,
                options: OCPPDecodingOptions(unknownProperties: .reject, keyStyle: .snakeCase)
            ).value
        } catch {
            throw APIError.validation(error, location: ["body"])
        }
        let segment = context.parameters.get("charge_point_id")
        let chargePointID = try? ChargePointID(pathSegment: Substring(segment ?? ""))
        // The certificate is checked for a charger that is there to be sent it (404 otherwise).
        if let install = call as? InstallCertificateRequest, let chargePointID,
            ingest.connection(chargePointID) != nil,
            try await belongs(chargePointID, context, relational)
        {
            try checkCertificate(install.certificate)
        }
        // Not here, but maybe on another node: it answers, and its answer is ours.
        if let cluster, let chargePointID, ingest.connection(chargePointID) == nil,
            try await belongs(chargePointID, context, relational),
            let answer = try await cluster.forward(
                chargePointID: chargePointID,
                path: path,
                action: Command.action,
                body: bytes,
                logger: context.logger
            )
        {
            return answer
        }
        return try await send(
            call,
            to: segment,
            ingest: ingest,
            relational: relational,
            context: context,
            record: true
        ).response(from: request, context: context)
    }

    /// Checks that InstallCertificate's `certificate` is one PEM X.509 certificate (a root
    /// certificate), so that a charger is never sent one it cannot parse: 422 otherwise.
    static func checkCertificate(_ pem: String) throws(APIError) {
        if let problem = ChargerCertificateAuthority.problem(certificatePEM: pem) {
            throw APIError.invalid(
                location: ["body", "certificate"],
                message: "must be one PEM-encoded X.509 certificate: \(problem)",
                type: "value_error"
            )
        }
    }

    /// Sends `call` and turns the outcome into the HTTP answer.
    private static func send<Request: OCPPRequest>(
        _ call: Request,
        to segment: String?,
        ingest: OCPPIngest,
        relational: RelationalStore?,
        context: APIRequestContext,
        record recording: Bool
    ) async throws(APIError) -> RawJSON {
        let logger = context.logger
        let chargePointID: ChargePointID
        do {
            chargePointID = try ChargePointID(pathSegment: Substring(segment ?? ""))
        } catch {
            throw APIError.invalid(location: ["path", "charge_point_id"], message: error.reason, type: "value_error")
        }
        // Another company's charger is answered as one that is not connected.
        guard try await belongs(chargePointID, context, relational) else {
            throw failure(.notConnected(chargePointID), action: Request.action)
        }
        do {
            let confirmation = try await ingest.call(call, to: chargePointID)
            if recording, let relational {
                do {
                    try await record(call, confirmation, chargePointID: chargePointID.rawValue, store: relational)
                } catch {
                    // The charger has acted on the command: its answer is still the response.
                    logger.error(
                        "Recording a command's outcome failed",
                        metadata: [
                            "charge_point_id": "\(chargePointID.rawValue)", "action": "\(Request.action.rawValue)",
                            "error": "\(error)",
                        ]
                    )
                }
            }
            return RawJSON(bytes: confirmation.encoded(keyStyle: .snakeCase))
        } catch {
            throw failure(error, action: Request.action)
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

    private static func failure(_ error: ChargePointCallError, action: OCPPAction) -> APIError {
        switch error {
        case .notConnected:
            return .detail(error.description, status: .notFound)
        case .invalidRequest(let ocppError):
            return .validation(ocppError, location: ["body"])
        case .timedOut:
            return .detail("\(action.rawValue): \(error.description)", status: .gatewayTimeout)
        case .callError(let callError):
            let details = callError.errorDetails
            return APIError(
                status: .badGateway,
                body: CallErrorBody(
                    detail: "\(action.rawValue): \(error.description)",
                    errorCode: callError.errorCode,
                    errorDescription: callError.errorDescription,
                    errorDetails: RawJSON(bytes: details.isEmpty ? Array("{}".utf8) : Array(details))
                )
            )
        case .connectionClosed, .invalidResponse:
            return .detail("\(action.rawValue): \(error.description)", status: .badGateway)
        case .queueFull:
            return .detail(error.description, status: .tooManyRequests)
        }
    }

    /// A CALLERROR's answer (502): its code, description and details (a JSON object).
    struct CallErrorBody: Encodable, Sendable {
        var detail: String
        var errorCode: String
        var errorDescription: String
        var errorDetails: RawJSON

        enum CodingKeys: String, CodingKey {
            case detail
            case errorCode = "error_code"
            case errorDescription = "error_description"
            case errorDetails = "error_details"
        }
    }

    /// A connected charger, as `GET /charge_points` lists it. In a cluster it names the node
    /// that holds it (`node_id`, absent on a server on its own); a charger held by another
    /// node has no `last_message_at`, `remote_address`, `registration_status` or
    /// `subprotocol` (null): only that node knows them.
    struct ConnectedChargePoint: Encodable, Sendable {
        var chargePointID: String
        var connectedSince: Date
        var lastMessageAt: Date?
        var remoteAddress: String?
        var registrationStatus: String?
        var subprotocol: String?
        var nodeID: String?

        enum CodingKeys: String, CodingKey {
            case chargePointID = "charge_point_id"
            case connectedSince = "connected_since"
            case lastMessageAt = "last_message_at"
            case remoteAddress = "remote_address"
            case registrationStatus = "registration_status"
            case subprotocol
            case nodeID = "node_id"
        }

        init(_ charger: Ingest.ConnectedChargePoint, nodeID: String? = nil) {
            chargePointID = charger.chargePointID.rawValue
            connectedSince = charger.connectedSince
            lastMessageAt = charger.lastMessageAt
            remoteAddress = charger.remoteAddress
            registrationStatus = charger.registrationStatus
            subprotocol = charger.subprotocol
            self.nodeID = nodeID
        }

        init(_ presence: ChargerPresenceRecord) {
            chargePointID = presence.chargePointID
            connectedSince = presence.connectedAt
            nodeID = presence.nodeID
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(chargePointID, forKey: .chargePointID)
            try container.encode(connectedSince, forKey: .connectedSince)
            try container.encode(lastMessageAt, forKey: .lastMessageAt)
            try container.encode(remoteAddress, forKey: .remoteAddress)
            try container.encode(registrationStatus, forKey: .registrationStatus)
            try container.encode(subprotocol, forKey: .subprotocol)
            if let nodeID { try container.encode(nodeID, forKey: .nodeID) }
        }
    }

    /// Whether the caller may reach `chargePointID`: always, unless it is limited to a company
    /// and the charger is not one of that company's (or there is no database to tell).
    static func belongs(
        _ chargePointID: ChargePointID,
        _ context: APIRequestContext,
        _ relational: RelationalStore?
    ) async throws(APIError) -> Bool {
        guard let company = context.company else { return true }
        guard let relational else { return false }
        return try await asking { try await relational.chargePointBelongs(chargePointID.rawValue, to: company) }
    }

    /// The identities a caller limited to a company may see; `nil`: every one.
    private static func visibleChargePoints(
        _ context: APIRequestContext,
        _ relational: RelationalStore?
    ) async throws(APIError) -> Set<String>? {
        guard let company = context.company else { return nil }
        guard let relational else { return [] }
        return try await asking { try await relational.chargePointIDs(of: company) }
    }

    /// What `question` answers from the database, its failure as the API's error.
    private static func asking<Answer>(_ question: () async throws -> Answer) async throws(APIError) -> Answer {
        do {
            return try await question()
        } catch let error as RelationalStoreError {
            throw APIError(error)
        } catch {
            throw APIError(RelationalStoreError(code: .unavailable, message: "\(error)"))
        }
    }

    /// `GET /charge_points?limit=&offset=`: the connected chargers, by charge point id.
    private static func listConnected(
        _ request: Request,
        ingest: OCPPIngest,
        visible: Set<String>?
    ) throws(APIError) -> PageBody<ConnectedChargePoint> {
        let (limit, offset) = try page(request)
        var connected = ingest.connectedChargePoints
        if let visible { connected = connected.filter { visible.contains($0.chargePointID.rawValue) } }
        let items = connected.dropFirst(offset).prefix(limit).map { ConnectedChargePoint($0) }
        return PageBody(items: items, total: connected.count, limit: limit, offset: offset)
    }

    /// `GET /charge_points` in a cluster: the chargers connected to this node, and those the
    /// presence table gives to other nodes whose lease holds, by charge point id.
    private static func listCluster(
        _ request: Request,
        ingest: OCPPIngest,
        relational: RelationalStore,
        _ cluster: ClusterForwarder,
        visible: Set<String>?
    ) async throws(APIError) -> PageBody<ConnectedChargePoint> {
        let (limit, offset) = try page(request)
        let local = ingest.connectedChargePoints
        let localIDs = Set(local.map(\.chargePointID.rawValue))
        let remote = try await asking { try await relational.clusterPresence() }.filter {
            $0.nodeID != cluster.settings.nodeID && !localIDs.contains($0.chargePointID)
        }
        var all =
            local.map { ConnectedChargePoint($0, nodeID: cluster.settings.nodeID) }
            + remote.map(ConnectedChargePoint.init)
        if let visible { all = all.filter { visible.contains($0.chargePointID) } }
        all.sort { $0.chargePointID < $1.chargePointID }
        return PageBody(
            items: Array(all.dropFirst(offset).prefix(limit)),
            total: all.count,
            limit: limit,
            offset: offset
        )
    }

    /// The `limit` (1...1000, 100) and `offset` (0...) of a list request.
    private static func page(_ request: Request) throws(APIError) -> (limit: Int, offset: Int) {
        let query = request.uri.queryParameters
        var limit = 100
        var offset = 0
        if let text = query["limit"] {
            guard let value = ResourceCoding.integer(String(text)).flatMap({ Int(exactly: $0) }),
                (1...1000).contains(value)
            else {
                throw .invalid(
                    location: ["query", "limit"],
                    message: "limit must be a whole number in 1...1000",
                    type: "value_error"
                )
            }
            limit = value
        }
        if let text = query["offset"] {
            guard let value = ResourceCoding.integer(String(text)).flatMap({ Int(exactly: $0) }), value >= 0 else {
                throw .invalid(
                    location: ["query", "offset"],
                    message: "offset must be a whole number, 0 or more",
                    type: "value_error"
                )
            }
            offset = value
        }
        return (limit, offset)
    }
}
