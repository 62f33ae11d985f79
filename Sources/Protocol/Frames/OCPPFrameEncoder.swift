/// Encodes OCPP-J frames as compact JSON text.
public enum OCPPFrameEncoder {
    /// `[2, uniqueId, action, payload]`.
    /// - Parameters:
    ///   - uniqueID: The call's unique id (at most 36 characters).
    ///   - request: The request payload; its type names the action.
    public static func call<Request: OCPPRequest>(uniqueID: String, request: Request) -> [UInt8] {
        var writer = JSONWriter(capacity: 128)
        writer.beginArray()
        writer.write(OCPPMessageType.call.rawValue)
        writer.write(uniqueID)
        writer.write(Request.action.rawValue)
        writer.write(request)
        writer.endArray()
        return writer.bytes
    }

    /// `[3, uniqueId, payload]`.
    /// - Parameters:
    ///   - uniqueID: The unique id of the CALL this answers.
    ///   - payload: The confirmation.
    public static func callResult<Payload: OCPPPayload>(uniqueID: String, payload: Payload) -> [UInt8] {
        var writer = JSONWriter(capacity: 64)
        writer.beginArray()
        writer.write(OCPPMessageType.callResult.rawValue)
        writer.write(uniqueID)
        writer.write(payload)
        writer.endArray()
        return writer.bytes
    }

    /// `[4, uniqueId, errorCode, errorDescription, errorDetails]`.
    /// - Parameters:
    ///   - uniqueID: The unique id of the CALL this answers.
    ///   - error: The error: its code and its description (path and reason).
    ///   - details: The details object as JSON; `{}` when `nil`.
    public static func callError(uniqueID: String, error: OCPPError, details: [UInt8]? = nil) -> [UInt8] {
        callError(uniqueID: uniqueID, code: error.code, description: error.description, details: details)
    }

    /// `[4, uniqueId, errorCode, errorDescription, errorDetails]`.
    /// - Parameters:
    ///   - uniqueID: The unique id of the CALL this answers.
    ///   - code: The OCPP-J error code.
    ///   - description: The error description.
    ///   - details: The details object as JSON; `{}` when `nil`.
    public static func callError(
        uniqueID: String,
        code: OCPPErrorCode,
        description: String,
        details: [UInt8]? = nil
    ) -> [UInt8] {
        var writer = JSONWriter(capacity: 64 + description.utf8.count)
        writer.beginArray()
        writer.write(OCPPMessageType.callError.rawValue)
        writer.write(uniqueID)
        writer.write(code.rawValue)
        writer.write(description)
        writer.writeRaw(details ?? [UInt8(ascii: "{"), UInt8(ascii: "}")])
        writer.endArray()
        return writer.bytes
    }
}
