/// The error codes of OCPP-J 1.6 (section 4.2.3 of the JSON specification), spelled as
/// the 1.6 specification spells them (including its `OccurenceConstraintViolation`).
public enum OCPPErrorCode: String, Sendable, Hashable, CaseIterable {
    /// Requested action is not known by the receiver.
    case notImplemented = "NotImplemented"
    /// Requested action is recognized but not supported by the receiver.
    case notSupported = "NotSupported"
    /// An internal error occurred and the receiver was not able to process the action.
    case internalError = "InternalError"
    /// Payload for the action is incomplete.
    case protocolError = "ProtocolError"
    /// During processing of the action a security issue occurred.
    case securityError = "SecurityError"
    /// Payload is syntactically incorrect or does not conform to the PDU structure.
    case formationViolation = "FormationViolation"
    /// A field contains a value that is not allowed (enum, length, format).
    case propertyConstraintViolation = "PropertyConstraintViolation"
    /// A field is missing, or an array has too few items.
    case occurenceConstraintViolation = "OccurenceConstraintViolation"
    /// A field has the wrong JSON type.
    case typeConstraintViolation = "TypeConstraintViolation"
    /// Any other error.
    case genericError = "GenericError"
}

/// An OCPP-J fault: what was wrong with a frame or a payload, with the error code a
/// CALLERROR reports for it.
///
/// The description names the offending field by its JSON path (for example
/// `meterValue[0].sampledValue[2].unit`) and says what was expected.
public struct OCPPError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The OCPP-J error code to answer with.
    public let code: OCPPErrorCode
    /// What was wrong, without the path.
    public let reason: String
    /// The JSON path of the offending value inside the payload, outermost first; empty for the payload itself.
    public private(set) var path: [String]

    init(code: OCPPErrorCode, reason: String, path: [String] = []) {
        self.code = code
        self.reason = reason
        self.path = path
    }

    /// The path rendered as `a.b[0].c`, or `payload` for the root.
    public var location: String {
        guard !path.isEmpty else { return "payload" }
        var result = ""
        for component in path {
            if component.hasPrefix("[") || result.isEmpty {
                result += component
            } else {
                result += "." + component
            }
        }
        return result
    }

    /// The description to put in a CALLERROR: the location followed by the reason.
    public var description: String {
        path.isEmpty ? reason : "\(location): \(reason)"
    }

    /// The same error, located one level further out (under `component`).
    func prefixed(_ component: String) -> OCPPError {
        var copy = self
        copy.path.insert(component, at: 0)
        return copy
    }

    func prefixed(index: Int) -> OCPPError {
        prefixed("[\(index)]")
    }
}

extension OCPPError {
    static func formation(_ reason: String) -> OCPPError {
        OCPPError(code: .formationViolation, reason: reason)
    }

    static func type(expected: String, found: String) -> OCPPError {
        OCPPError(code: .typeConstraintViolation, reason: "expected \(expected), found \(found)")
    }

    static func missing(_ property: String) -> OCPPError {
        OCPPError(code: .occurenceConstraintViolation, reason: "required property is missing", path: [property])
    }

    static func property(_ reason: String) -> OCPPError {
        OCPPError(code: .propertyConstraintViolation, reason: reason)
    }
}
