import Hummingbird
import Ingest
import Logging
import NIOCore
import Protocol
import Relational

/// `POST /db/chargers/{charger_id}/authorization_key`: sets a charger's authorization key,
/// the HTTP Basic password of security profiles 1 and 2, and answers it once.
///
/// The body is `{"authorization_key": "<32 to 40 hex digits>"}`, or empty (or `{}`) for a
/// key of 20 random bytes. The answer, 200, is `{"authorization_key": "<HEX>", "pending":
/// Bool, "change_configuration_status": String?}`; the server keeps only a salted hash, so
/// the key is never readable again.
///
/// A charger that is not connected gets the key as its current one at once (it must be
/// given the key another way). A connected charger is sent ChangeConfiguration
/// (AuthorizationKey) first:
/// - Accepted or RebootRequired: the key is stored as pending; the old and the new key both
///   work until the charger authenticates with the new one, which then replaces the old.
/// - Rejected or NotSupported: 409, nothing is stored.
/// - A CALLERROR or an invalid confirmation: 502, nothing is stored.
/// - No answer in time (504) or the connection closed first (502): the charger may have
///   applied the key, so it is stored as pending (the old one still works); the answer does
///   not carry it, so set a key again once the charger is back.
/// - Too many calls queued for the charger: 429, nothing is sent or stored.
enum AuthorizationKeyRoutes {
    /// The largest body accepted.
    static let maximumBodySize = 4096
    /// The OCPP configuration key a charger keeps its authorization key in.
    static let configurationKey = "AuthorizationKey"

    /// The answer: the key, once.
    struct Answer: ResponseEncodable, Sendable {
        var authorizationKey: String
        var pending: Bool
        var changeConfigurationStatus: String?

        enum CodingKeys: String, CodingKey {
            case authorizationKey = "authorization_key"
            case pending
            case changeConfigurationStatus = "change_configuration_status"
        }
    }

    static func register(on router: Router<APIRequestContext>, store: RelationalStore, ingest: OCPPIngest?) {
        router.post("/db/chargers/:charger_id/authorization_key") { request, context in
            try await APIError.mapping {
                let id = try ResourceRoutes<Charger>.pathID("charger_id", context)
                let key = try await requestedKey(request)
                let charger = try await store.get(Charger.self, id: id, company: context.company)
                let answer = try await setKey(
                    key,
                    chargePointID: charger.chargePointID,
                    store: store,
                    ingest: ingest,
                    logger: context.logger
                )
                context.logger.notice(
                    "Authorization key set",
                    metadata: [
                        "charge_point_id": "\(charger.chargePointID)", "pending": "\(answer.pending)",
                        "change_configuration_status": "\(answer.changeConfigurationStatus ?? "not sent")",
                    ]
                )
                return answer
            }
        }
    }

    /// The key the body gives, or a new one when it gives none.
    /// - Throws: ``ResourceCoding/Invalid`` for a body that is not `{"authorization_key": hex}`.
    static func requestedKey(_ request: Request) async throws -> AuthorizationKey {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maximumBodySize)
        } catch {
            throw APIError.detail("the body exceeds \(maximumBodySize) bytes", status: .contentTooLarge)
        }
        guard buffer.readableBytes > 0 else { return .generate() }
        let body = try ResourceCoding.bodyObject(Array(buffer: buffer))
        for name in body.keys.sorted() where name != "authorization_key" {
            throw ResourceCoding.Invalid(
                location: ["body", name],
                message: "unknown field; the only field is authorization_key",
                type: "extra_forbidden"
            )
        }
        guard let value = body["authorization_key"] else { return .generate() }
        guard case .string(let text) = value else {
            throw ResourceCoding.Invalid(
                location: ["body", "authorization_key"],
                message: "must be a string of 32 to 40 hexadecimal digits, got \(value.typeName)",
                type: "string_type"
            )
        }
        do {
            return try AuthorizationKey(hex: text)
        } catch {
            throw ResourceCoding.Invalid(
                location: ["body", "authorization_key"],
                message: error.reason,
                type: "value_error"
            )
        }
    }

    /// Sends the key to the charger when it is connected, and stores its hash as the answer
    /// allows (see the type's documentation).
    private static func setKey(
        _ key: AuthorizationKey,
        chargePointID: String,
        store: RelationalStore,
        ingest: OCPPIngest?,
        logger: Logger
    ) async throws -> Answer {
        let hash = AuthorizationKeyHash(key: key)
        guard let ingest, let id = try? ChargePointID(chargePointID), ingest.connection(id) != nil else {
            try await store.setAuthorizationKey(hash, chargePointID: chargePointID, pending: false)
            return Answer(authorizationKey: key.hex, pending: false, changeConfigurationStatus: nil)
        }
        let change = ChangeConfigurationRequest(key: configurationKey, value: key.hex)
        let status: ConfigurationStatus
        do throws(ChargePointCallError) {
            status = try await ingest.call(change, to: id).status
        } catch {
            switch error {
            case .notConnected:
                // It went away before the call was sent: it never saw the key.
                try await store.setAuthorizationKey(hash, chargePointID: chargePointID, pending: false)
                return Answer(authorizationKey: key.hex, pending: false, changeConfigurationStatus: nil)
            case .timedOut, .connectionClosed:
                try await store.setAuthorizationKey(hash, chargePointID: chargePointID, pending: true)
                logger.warning(
                    "A charger did not confirm its new authorization key; it is kept as pending",
                    metadata: ["charge_point_id": "\(chargePointID)", "error": "\(error)"]
                )
                throw failure(
                    error,
                    note: "; the key was kept as pending in case the charger applied it: set a key again"
                )
            default:
                throw failure(error, note: "; nothing was stored")
            }
        }
        switch status {
        case .accepted, .rebootRequired:
            try await store.setAuthorizationKey(hash, chargePointID: chargePointID, pending: true)
            return Answer(authorizationKey: key.hex, pending: true, changeConfigurationStatus: status.rawValue)
        case .rejected, .notSupported:
            throw APIError.detail(
                "the charger answered ChangeConfiguration(\(configurationKey)) with \(status.rawValue); "
                    + "nothing was stored",
                status: .conflict
            )
        }
    }

    /// The answer to a ChangeConfiguration that got no confirmation, as the command
    /// endpoints give it, with `note` after the reason.
    private static func failure(_ error: ChargePointCallError, note: String) -> APIError {
        let action = OCPPAction.changeConfiguration.rawValue
        switch error {
        case .notConnected:
            return .detail(error.description + note, status: .notFound)
        case .invalidRequest(let ocppError):
            return .validation(ocppError, location: ["body", "authorization_key"])
        case .timedOut:
            return .detail("\(action): \(error.description)\(note)", status: .gatewayTimeout)
        case .callError(let callError):
            let details = callError.errorDetails
            return APIError(
                status: .badGateway,
                body: ChargePointCommands.CallErrorBody(
                    detail: "\(action): \(error.description)\(note)",
                    errorCode: callError.errorCode,
                    errorDescription: callError.errorDescription,
                    errorDetails: RawJSON(bytes: details.isEmpty ? Array("{}".utf8) : Array(details))
                )
            )
        case .connectionClosed, .invalidResponse:
            return .detail("\(action): \(error.description)\(note)", status: .badGateway)
        case .queueFull:
            return .detail(error.description + note, status: .tooManyRequests)
        }
    }
}
