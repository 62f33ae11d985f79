import Hummingbird
import Protocol
import Relational

/// An error answer of the API, thrown by a route and written by ``APIJSONEncoder``:
/// `{"detail": "..."}` for 404, 409, 502, 504 and the like, and
/// `{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}` for invalid input (422).
struct APIError: HTTPResponseError {
    let status: HTTPResponse.Status
    let body: any Encodable & Sendable

    init(status: HTTPResponse.Status, body: any Encodable & Sendable) {
        self.status = status
        self.body = body
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        APIJSONEncoder.response(try APIJSONEncoder.bytes(body), status: status)
    }

    /// `{"detail": message}` with `status`.
    static func detail(_ message: String, status: HTTPResponse.Status) -> APIError {
        APIError(status: status, body: Detail(detail: message))
    }

    /// A 422 for one invalid value.
    /// - Parameters:
    ///   - location: Where the value is: `["body", "connector_id"]`, `["query", "limit"]`;
    ///     `[3]` is an array index, written as a number.
    ///   - message: What is wrong with it.
    ///   - type: A machine-readable kind.
    static func invalid(location: [String], message: String, type: String) -> APIError {
        let loc = location.map { component -> ValidationErrors.Location in
            if component.hasPrefix("["), component.hasSuffix("]"), let index = Int(component.dropFirst().dropLast()) {
                return .index(index)
            }
            return .name(component)
        }
        return APIError(
            status: .unprocessableContent,
            body: ValidationErrors(detail: [.init(loc: loc, msg: message, type: type)])
        )
    }

    /// A 422 for an invalid body or parameter.
    init(_ invalid: ResourceCoding.Invalid) {
        self = .invalid(location: invalid.location, message: invalid.message, type: invalid.type)
    }

    /// A 422 for a schema violation found while decoding or validating an OCPP payload; its
    /// JSON path (in snake_case) follows `location`, and the type is the OCPP-J error code.
    static func validation(_ error: OCPPError, location: [String]) -> APIError {
        invalid(location: location + error.path, message: error.reason, type: error.code.rawValue)
    }

    /// The answer to a failed store operation: 404, 409, 422, or 503 when the database is unavailable.
    init(_ error: RelationalStoreError) {
        switch error.code {
        case .notFound: self = .detail(error.message, status: .notFound)
        case .conflict, .stillReferenced: self = .detail(error.message, status: .conflict)
        // A reference to a row that does not exist (yet): the request is valid, the database's state refuses it.
        case .invalidReference: self = .detail(error.message, status: .conflict)
        case .invalidValue: self = .invalid(location: ["body"], message: error.message, type: "value_error")
        default: self = .detail("the database is unavailable: \(error.message)", status: .serviceUnavailable)
        }
    }

    /// Runs `body`, turning invalid input and the store's failures into their answers.
    static func mapping<Result>(_ body: () async throws -> Result) async throws -> Result {
        do {
            return try await body()
        } catch let error as ResourceCoding.Invalid {
            throw APIError(error)
        } catch let error as RelationalStoreError {
            throw APIError(error)
        }
    }
}

/// `{"detail": "..."}`.
struct Detail: Encodable, Sendable {
    var detail: String
}

/// `{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`.
struct ValidationErrors: Encodable, Sendable {
    enum Location: Encodable, Sendable {
        case name(String)
        case index(Int)

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .name(let name): try container.encode(name)
            case .index(let index): try container.encode(index)
            }
        }
    }

    struct Issue: Encodable, Sendable {
        var loc: [Location]
        var msg: String
        var type: String
    }

    var detail: [Issue]
}
