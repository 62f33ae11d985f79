import NIOCore
import NIOWebSocket

/// One frame's header and payload, read from a charger's bytes (RFC 6455, 5.2).
struct ClientFrame {
    var fin: Bool
    var opcode: WebSocketOpcode
    /// The masking key as the four bytes arrive, loaded little-endian (so that XOR-ing a
    /// little-endian word of payload with it unmasks four bytes); `nil` for an unmasked frame.
    var mask: UInt32?
    /// Still masked: ``WebSocketConnectionStateMachine`` unmasks what it keeps.
    var payload: ByteBuffer
}

/// Reads WebSocket frames straight from a connection's bytes, on its event loop: the OCPP
/// handler takes the socket's reads itself, so that a read holding several frames costs one
/// pass through the pipeline, not one per frame with a frame decoder in front (that decoder and
/// its hop were a twentieth of the server's CPU under load).
enum WebSocketFrameReader {
    enum Next {
        /// A whole frame, taken from the buffer.
        case frame(ClientFrame)
        /// Not a whole frame yet: the buffer is left as it was.
        case incomplete
        /// A frame the connection must be closed for, with the close code RFC 6455 names.
        case invalid(WebSocketErrorCode, String)
    }

    /// The largest payload of a control frame (RFC 6455, 5.5).
    static let maximumControlPayload = 125

    /// The next frame at `buffer`'s reader index.
    /// - Parameters:
    ///   - buffer: The connection's unread bytes; a whole frame is read from it.
    ///   - maximumSize: The largest payload accepted; a longer frame is refused before its
    ///     payload arrives (close code 1009).
    static func next(_ buffer: inout ByteBuffer, maximumSize: Int) -> Next {
        let start = buffer.readerIndex
        guard let first = buffer.getInteger(at: start, as: UInt8.self),
            let second = buffer.getInteger(at: start + 1, as: UInt8.self)
        else { return .incomplete }
        guard first & 0x70 == 0 else {
            return .invalid(.protocolError, "reserved bits set without a negotiated extension")
        }
        let opcode = WebSocketOpcode(encodedWebSocketOpcode: first & 0x0F)!
        let fin = first & 0x80 != 0
        var headerLength = 2
        var length: UInt64 = UInt64(second & 0x7F)
        if length == 126 {
            guard let extended = buffer.getInteger(at: start + 2, as: UInt16.self) else { return .incomplete }
            headerLength = 4
            length = UInt64(extended)
        } else if length == 127 {
            guard let extended = buffer.getInteger(at: start + 2, as: UInt64.self) else { return .incomplete }
            headerLength = 10
            length = extended
        }
        if opcode.isControlOpcode {
            guard fin else { return .invalid(.protocolError, "a fragmented control frame") }
            guard length <= UInt64(maximumControlPayload) else {
                return .invalid(.protocolError, "a control frame of \(length) bytes (at most 125)")
            }
        }
        guard length <= UInt64(maximumSize) else {
            return .invalid(.messageTooLarge, "frame exceeds \(maximumSize) bytes")
        }
        var mask: UInt32?
        if second & 0x80 != 0 {
            guard let key = buffer.getInteger(at: start + headerLength, endianness: .little, as: UInt32.self) else {
                return .incomplete
            }
            mask = key
            headerLength += 4
        }
        let payloadLength = Int(length)
        guard buffer.readableBytes >= headerLength + payloadLength else { return .incomplete }
        buffer.moveReaderIndex(forwardBy: headerLength)
        let payload = buffer.readSlice(length: payloadLength)!
        return .frame(ClientFrame(fin: fin, opcode: opcode, mask: mask, payload: payload))
    }
}
