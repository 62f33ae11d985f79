import Hummingbird

/// The body of `/health` and `/ready`: `{"status": "ok"}`, `{"status": "ready"}`, or with a
/// 503, `{"status": "unavailable", "detail": "..."}`.
struct ServiceStatus: ResponseEncodable, Sendable {
    var status: String

    /// The 503 of `/ready`, with the reason.
    static func unavailable(_ detail: String) -> APIError {
        APIError(status: .serviceUnavailable, body: Unavailable(detail: detail))
    }

    private struct Unavailable: Encodable, Sendable {
        var status = "unavailable"
        var detail: String
    }
}
