import Hummingbird
import Ingest
import NIOCore
import Protocol
import Relational

/// The OCPP-to-database integration endpoints under `/db/ocpp/`, for systems that relay
/// OCPP over HTTP: the body is the charger's message in snake_case plus its
/// `charge_point_id`; it goes through the same ingest path as the WebSocket, and the 200 (the
/// confirmation the charger would get, in snake_case) comes only once it is durable.
enum IntegrationRoutes {
    struct Endpoint: Sendable {
        var path: String
        var action: OCPPAction
        var decode: @Sendable ([UInt8]) throws(OCPPError) -> ChargePointRequest
    }

    static let endpoints: [Endpoint] = [
        endpoint("charger/register", BootNotificationRequest.self) { .bootNotification($0) },
        endpoint("connector/status", StatusNotificationRequest.self) { .statusNotification($0) },
        endpoint("session/start", StartTransactionRequest.self) { .startTransaction($0) },
        endpoint("session/end", StopTransactionRequest.self) { .stopTransaction($0) },
        endpoint("meter-values", MeterValuesRequest.self) { .meterValues($0) },
        endpoint("charger/heartbeat", HeartbeatRequest.self) { .heartbeat($0) },
    ]

    private static func endpoint<Request: OCPPRequest>(
        _ path: String,
        _ type: Request.Type,
        _ wrap: @escaping @Sendable (Request) -> ChargePointRequest
    ) -> Endpoint {
        Endpoint(path: path, action: Request.action) { bytes throws(OCPPError) in
            let request = try Request.decode(
                from: bytes,
                options: OCPPDecodingOptions(unknownProperties: .reject, keyStyle: .snakeCase)
            ).value
            try request.validate()
            return wrap(request)
        }
    }

    static let maximumBodySize = 1 << 20

    static func register(on router: Router<APIRequestContext>, ingest: OCPPIngest, relational: RelationalStore?) {
        for endpoint in endpoints {
            router.post("/db/ocpp/\(endpoint.path)") { request, context in
                try await relay(request, endpoint, ingest: ingest, relational: relational, context: context)
            }
        }
    }

    private static func relay(
        _ request: Request,
        _ endpoint: Endpoint,
        ingest: OCPPIngest,
        relational: RelationalStore?,
        context: APIRequestContext
    ) async throws -> RawJSON {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maximumBodySize)
        } catch {
            throw APIError.detail("the body exceeds \(maximumBodySize) bytes", status: .contentTooLarge)
        }
        var body: [String: JSONValue]
        do throws(ResourceCoding.Invalid) {
            body = try ResourceCoding.bodyObject(Array(buffer: buffer))
        } catch {
            throw APIError(error)
        }
        guard case .string(let identity)? = body.removeValue(forKey: "charge_point_id") else {
            throw APIError.invalid(
                location: ["body", "charge_point_id"],
                message: "the charger's OCPP identity is required, as a string",
                type: "missing"
            )
        }
        let chargePointID: ChargePointID
        do {
            chargePointID = try ChargePointID(identity)
        } catch {
            throw APIError.invalid(
                location: ["body", "charge_point_id"],
                message: error.reason,
                type: "string_pattern_mismatch"
            )
        }
        // A caller limited to a company relays for its company's chargers only; any other
        // (another company's, or one the database does not know) does not exist for it.
        guard try await ChargePointCommands.belongs(chargePointID, context, relational) else {
            throw APIError.detail("charger '\(chargePointID.rawValue)' does not exist", status: .notFound)
        }
        if let schema = OpenAPIDocument.requestSchemas["Relayed\(endpoint.action.rawValue)Request"],
            let error = SchemaBounds.violation(.object(body), schema)
        {
            throw error
        }
        let message = try APIJSONEncoder.bytes(JSONValue.object(body))
        let decoded: ChargePointRequest
        do throws(OCPPError) {
            decoded = try endpoint.decode(message)
        } catch {
            throw APIError.validation(error, location: ["body"])
        }
        do {
            let confirmation = try await ingest.relay(decoded, from: chargePointID)
            return RawJSON(bytes: confirmation.encoded(keyStyle: .snakeCase))
        } catch {
            switch error.kind {
            case .refused: throw APIError.detail(error.description, status: .forbidden)
            case .unstorable:
                throw APIError.invalid(location: ["body"], message: error.description, type: "value_error")
            case .beyondLimit: throw APIError.detail(error.description, status: .conflict)
            case .unavailable: throw APIError.detail(error.description, status: .serviceUnavailable)
            }
        }
    }
}
