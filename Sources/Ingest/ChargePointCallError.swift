public import Protocol

/// Why a call from the server to a charger got no confirmation.
public enum ChargePointCallError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No connection with that charge point id.
    case notConnected(ChargePointID)
    /// The request does not conform to its schema; nothing was sent.
    case invalidRequest(OCPPError)
    /// The charger did not answer within the call timeout.
    case timedOut
    /// The charger answered with a CALLERROR.
    case callError(OCPPCallError)
    /// The connection closed before the answer.
    case connectionClosed
    /// Too many calls already wait for this charger.
    case queueFull(limit: Int)
    /// The charger's confirmation does not conform to its schema.
    case invalidResponse(OCPPError)

    public var description: String {
        switch self {
        case .notConnected(let id): return "charge point '\(id)' is not connected"
        case .invalidRequest(let error): return "invalid request: \(error)"
        case .timedOut: return "the charge point did not answer in time"
        case .callError(let error): return "the charge point answered \(error.errorCode): \(error.errorDescription)"
        case .connectionClosed: return "the connection closed before the charge point answered"
        case .queueFull(let limit): return "\(limit) calls already wait for this charge point"
        case .invalidResponse(let error): return "the charge point's answer does not conform to the schema: \(error)"
        }
    }
}
