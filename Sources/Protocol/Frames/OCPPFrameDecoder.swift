/// Decodes OCPP-J frames straight from their bytes.
///
/// A CALL's payload is decoded and validated in the same pass over the bytes as the frame
/// (no copy, no intermediate tree); a CALLRESULT's payload is kept as bytes for the caller
/// to decode as the confirmation of the matching pending CALL.
public enum OCPPFrameDecoder {
    /// Decodes one frame.
    /// - Parameters:
    ///   - bytes: The text of one WebSocket message, UTF-8.
    ///   - requests: The request enumeration of the receiving side: ``ChargePointRequest``
    ///     at a Central System, ``CentralSystemRequest`` at a Charge Point.
    ///   - options: Strictness for unknown properties.
    /// - Returns: The decoded frame.
    /// - Throws: ``OCPPFrameError`` with the OCPP-J code and, where it could be read, the
    ///   unique id to answer with.
    // Specialized for both sides, so that callers in other modules do not pay for generic
    // metadata lookups on every frame.
    @_specialize(exported:true,where Request == ChargePointRequest)
    @_specialize(exported:true,where Request == CentralSystemRequest)
    public static func decode<Request: OCPPIncomingRequest>(
        _ bytes: UnsafeRawBufferPointer,
        as requests: Request.Type,
        options: OCPPDecodingOptions = .lenient
    ) throws(OCPPFrameError) -> OCPPIncomingFrame<Request> {
        var reader = JSONReader(bytes: bytes, options: options)
        var uniqueID: String?
        var action: String?
        do throws(OCPPError) {
            return try decodeFrame(&reader, as: requests, uniqueID: &uniqueID, action: &action)
        } catch {
            // A fault found before the end does not hide that the text is not JSON at all.
            if error.code != .formationViolation, !JSONReader.isValidJSON(bytes) {
                throw OCPPFrameError(uniqueID: uniqueID, error: .formation("frame is not valid JSON"), action: action)
            }
            throw OCPPFrameError(uniqueID: uniqueID, error: error, action: action)
        }
    }

    /// Decodes one frame from an array of bytes.
    /// - Throws: ``OCPPFrameError`` as ``decode(_:as:options:)-(UnsafeRawBufferPointer,_,_)`` does.
    // Specialized for both sides, so that callers in other modules do not pay for generic
    // metadata lookups on every frame.
    @_specialize(exported:true,where Request == ChargePointRequest)
    @_specialize(exported:true,where Request == CentralSystemRequest)
    public static func decode<Request: OCPPIncomingRequest>(
        _ bytes: [UInt8],
        as requests: Request.Type,
        options: OCPPDecodingOptions = .lenient
    ) throws(OCPPFrameError) -> OCPPIncomingFrame<Request> {
        try bytes.withUnsafeBytes { buffer in
            Result { () throws(OCPPFrameError) in try decode(buffer, as: requests, options: options) }
        }.get()
    }

    private static func decodeFrame<Request: OCPPIncomingRequest>(
        _ reader: inout JSONReader,
        as requests: Request.Type,
        uniqueID: inout String?,
        action actionText: inout String?
    ) throws(OCPPError) -> OCPPIncomingFrame<Request> {
        guard reader.consume(UInt8(ascii: "[")) else {
            throw .formation("frame must be a JSON array [messageTypeId, uniqueId, ...]")
        }
        guard try nextElement(&reader, first: true) else {
            throw OCPPError(code: .protocolError, reason: "frame is incomplete: it has no message type id")
        }
        let typeNumber: Int
        do throws(OCPPError) {
            typeNumber = try reader.readInteger()
        } catch {
            throw .formation("message type id must be the integer 2, 3 or 4")
        }
        let messageType = OCPPMessageType(rawValue: typeNumber)

        guard try nextElement(&reader) else {
            throw OCPPError(code: .protocolError, reason: "frame is incomplete: it has no unique id")
        }
        let id: String
        do throws(OCPPError) {
            id = try reader.readString()
        } catch {
            throw .formation("unique id must be a string")
        }
        uniqueID = id
        guard let messageType else {
            throw .formation("message type id \(typeNumber) is not one of 2 (CALL), 3 (CALLRESULT), 4 (CALLERROR)")
        }
        // OCPP-J limits the unique id to 36 characters: counted as Unicode scalars, as every
        // string length of the schemas is here, so that a non-ASCII id is not held to 36
        // bytes. Up to 36 bytes it needs no count (a scalar takes at least one byte).
        guard !id.isEmpty,
            id.utf8.count <= ocppMaximumUniqueIDLength || id.unicodeScalars.count <= ocppMaximumUniqueIDLength
        else {
            throw .formation("unique id must be 1 to \(ocppMaximumUniqueIDLength) characters long")
        }

        switch messageType {
        case .call:
            guard try nextElement(&reader) else {
                throw OCPPError(code: .protocolError, reason: "CALL is incomplete: it has no action")
            }
            guard reader.peekByte() == UInt8(ascii: "\"") else {
                throw .formation("action must be a string")
            }
            let span = try reader.scanString()
            let raw = UnsafeRawBufferPointer(rebasing: reader.bytes[span.start..<span.start + span.count])
            let action =
                span.hasEscapes ? OCPPAction(rawValue: try reader.decodeString(span)) : OCPPAction.matching(raw)
            guard try nextElement(&reader) else {
                actionText = try reader.decodeString(span)
                throw OCPPError(code: .protocolError, reason: "CALL is incomplete: it has no payload")
            }
            guard reader.peekByte() == UInt8(ascii: "{") else {
                actionText = try reader.decodeString(span)
                throw .formation("payload must be a JSON object")
            }
            guard let action else {
                let name = try reader.decodeString(span)
                actionText = name
                try reader.skipValue()
                try finish(&reader)
                throw OCPPError(code: .notImplemented, reason: "action '\(name)' is not an OCPP 1.6 action")
            }
            actionText = action.rawValue
            let request = try Request(action: action, reading: &reader)
            try finish(&reader)
            return .call(uniqueID: id, request: request, unknownProperties: reader.unknownProperties)

        case .callResult:
            guard try nextElement(&reader) else {
                throw OCPPError(code: .protocolError, reason: "CALLRESULT is incomplete: it has no payload")
            }
            guard reader.peekByte() == UInt8(ascii: "{") else {
                throw .formation("payload must be a JSON object")
            }
            let start = reader.index
            try reader.skipValue()
            let payload = Array(reader.bytes[start..<reader.index])
            try finish(&reader)
            return .callResult(uniqueID: id, payload: OCPPRawPayload(bytes: payload))

        case .callError:
            guard try nextElement(&reader) else {
                throw OCPPError(code: .protocolError, reason: "CALLERROR is incomplete: it has no error code")
            }
            let code: String
            do throws(OCPPError) { code = try reader.readString() } catch {
                throw .formation("error code must be a string")
            }
            guard try nextElement(&reader) else {
                throw OCPPError(code: .protocolError, reason: "CALLERROR is incomplete: it has no error description")
            }
            let description: String
            do throws(OCPPError) { description = try reader.readString() } catch {
                throw .formation("error description must be a string")
            }
            guard try nextElement(&reader) else {
                throw OCPPError(code: .protocolError, reason: "CALLERROR is incomplete: it has no error details")
            }
            guard reader.peekByte() == UInt8(ascii: "{") else {
                throw .formation("error details must be a JSON object")
            }
            let start = reader.index
            try reader.skipValue()
            let details = Array(reader.bytes[start..<reader.index])
            try finish(&reader)
            return .callError(
                OCPPCallError(uniqueID: id, errorCode: code, errorDescription: description, errorDetails: details)
            )
        }
    }

    /// Moves to the next array element; `false` when the array ends instead.
    private static func nextElement(_ reader: inout JSONReader, first: Bool = false) throws(OCPPError) -> Bool {
        if reader.consume(UInt8(ascii: "]")) {
            return false
        }
        if !first {
            guard reader.consume(UInt8(ascii: ",")) else {
                throw reader.syntaxError("expected ',' or ']' in frame")
            }
        }
        guard reader.peekByte() != nil else {
            throw reader.syntaxError("unexpected end of frame")
        }
        return true
    }

    /// Checks that the frame's array closes after its last element and nothing follows.
    private static func finish(_ reader: inout JSONReader) throws(OCPPError) {
        if reader.consume(UInt8(ascii: ",")) {
            try reader.skipValue()
            throw .formation("frame has more elements than its message type allows")
        }
        guard reader.consume(UInt8(ascii: "]")) else {
            throw reader.syntaxError("expected ']' at the end of the frame")
        }
        guard reader.isAtEnd() else {
            throw reader.syntaxError("unexpected data after the frame")
        }
    }
}
