/// The message type ids of OCPP-J RPC frames.
public enum OCPPMessageType: Int, Sendable, Hashable {
    /// `[2, uniqueId, action, payload]`
    case call = 2
    /// `[3, uniqueId, payload]`
    case callResult = 3
    /// `[4, uniqueId, errorCode, errorDescription, errorDetails]`
    case callError = 4
}

/// A fault in an incoming frame: the OCPP-J error, and the frame's unique id when it could be read.
///
/// With a unique id the fault is answered with a CALLERROR carrying it; without one there is
/// nothing to answer, and the connection layer logs it.
public struct OCPPFrameError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The unique id of the offending frame, if it could be read.
    public let uniqueID: String?
    /// What was wrong.
    public let error: OCPPError
    /// The action of a CALL, if it could be read.
    public let action: String?

    init(uniqueID: String?, error: OCPPError, action: String? = nil) {
        self.uniqueID = uniqueID
        self.error = error
        self.action = action
    }

    public var description: String {
        "\(error.code.rawValue): \(error.description)" + (uniqueID.map { " (unique id \($0))" } ?? " (no unique id)")
    }
}

/// A CALLERROR received from the peer.
public struct OCPPCallError: Sendable, Hashable {
    /// The unique id of the CALL it answers.
    public var uniqueID: String
    /// The error code as sent; ``code`` is its typed form when it is one of OCPP-J's.
    public var errorCode: String
    /// The error description.
    public var errorDescription: String
    /// The error details object as JSON bytes.
    public var errorDetails: [UInt8]

    /// The error code, when it is one of OCPP-J 1.6's.
    public var code: OCPPErrorCode? { OCPPErrorCode(rawValue: errorCode) }

    /// - Parameters:
    ///   - uniqueID: The unique id of the CALL it answers.
    ///   - errorCode: The error code as sent.
    ///   - errorDescription: The error description.
    ///   - errorDetails: The details object as JSON bytes.
    public init(uniqueID: String, errorCode: String, errorDescription: String, errorDetails: [UInt8]) {
        self.uniqueID = uniqueID
        self.errorCode = errorCode
        self.errorDescription = errorDescription
        self.errorDetails = errorDetails
    }
}

/// The payload of a CALLRESULT, kept as bytes until the caller knows which confirmation it
/// is (from the pending CALL with the same unique id).
public struct OCPPRawPayload: Sendable, Hashable {
    /// The JSON object's bytes.
    public var bytes: [UInt8]

    /// - Parameter bytes: The JSON object's bytes.
    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Decodes the payload as `type`.
    /// - Throws: ``OCPPError`` for the first schema violation.
    public func decode<Payload: OCPPPayload>(
        as type: Payload.Type,
        options: OCPPDecodingOptions = .lenient
    ) throws(OCPPError) -> OCPPDecoded<Payload> {
        try Payload.decode(from: bytes, options: options)
    }
}

/// One incoming OCPP-J frame, its CALL decoded and validated into `Request`.
public enum OCPPIncomingFrame<Request: OCPPIncomingRequest>: Sendable {
    /// A CALL: a validated request.
    case call(uniqueID: String, request: Request, unknownProperties: [String])
    /// A CALLRESULT: the payload, to be decoded as the confirmation of the pending call.
    case callResult(uniqueID: String, payload: OCPPRawPayload)
    /// A CALLERROR.
    case callError(OCPPCallError)
}

/// The longest unique id OCPP-J allows.
public let ocppMaximumUniqueIDLength = 36
