import Hummingbird
import NIOCore
import Protocol
import Relational

/// The API's error bodies: `{"detail": "..."}` for 404, 409, 502, 504 and the like, and
/// `{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}` for invalid input (422).
enum APIErrors {
    static func detail(_ message: String, status: HTTPResponse.Status) -> Response {
        APIApplication.jsonResponse(#"{"detail":\#(APIApplication.jsonString(message))}"#, status: status)
    }

    /// A 422 for one invalid value.
    /// - Parameters:
    ///   - location: Where the value is: `["body", "connector_id"]`, `["query", "limit"]`.
    ///   - message: What is wrong with it.
    ///   - type: A machine-readable kind.
    static func invalid(location: [String], message: String, type: String) -> Response {
        let loc = location.map { component -> String in
            if component.hasPrefix("["), component.hasSuffix("]"), let index = Int(component.dropFirst().dropLast()) {
                return String(index)
            }
            return APIApplication.jsonString(component)
        }
        return APIApplication.jsonResponse(
            #"{"detail":[{"loc":[\#(loc.joined(separator: ","))],"msg":\#(APIApplication.jsonString(message)),"type":\#(APIApplication.jsonString(type))}]}"#,
            status: .unprocessableContent
        )
    }

    /// A 422 for a schema violation found while decoding or validating an OCPP payload; its
    /// JSON path (in snake_case) follows `location`, and the type is the OCPP-J error code.
    static func validation(_ error: OCPPError, location: [String]) -> Response {
        invalid(location: location + error.path, message: error.reason, type: error.code.rawValue)
    }

    /// The answer to a failed store operation: 404, 409, 422, or 503 when the database is unavailable.
    static func response(for error: RelationalStoreError) -> Response {
        switch error.code {
        case .notFound: detail(error.message, status: .notFound)
        case .conflict, .stillReferenced: detail(error.message, status: .conflict)
        case .invalidReference: invalid(location: ["body"], message: error.message, type: "foreign_key")
        case .invalidValue: invalid(location: ["body"], message: error.message, type: "value_error")
        default: detail("the database is unavailable: \(error.message)", status: .serviceUnavailable)
        }
    }

    /// Runs `body`, answering invalid input with 422 and the store's failures with their status.
    static func answering(_ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let error as ResourceCoding.Invalid {
            return invalid(location: error.location, message: error.message, type: error.type)
        } catch let error as RelationalStoreError {
            return response(for: error)
        }
    }
}
