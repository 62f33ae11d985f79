import NIOCore
import NIOWebSocket

/// The WebSocket protocol of one charger's connection (RFC 6455) as a state machine: frames,
/// message reassembly, pings and pongs, the close handshake, liveness and when to read. It
/// performs no I/O and keeps no clock: the connection handler feeds it what happened (bytes
/// read, a ping timer fired, the channel's writability changed, a close was asked for) and
/// carries out the action it returns. Each input returns one action, not an array, so the hot
/// path allocates nothing beyond the payloads it keeps.
///
/// Close codes: 1002 for a frame RFC 6455 forbids (unmasked, reserved bits, a bad control or
/// continuation frame, an invalid close code); 1007 for a text message or close reason that
/// is not UTF-8; 1003 for a binary message that is not UTF-8 text opening a JSON array (a
/// binary message that is, as some chargers' firmware sends, is handled as text); 1009 for a
/// message over the size limit. A close frame from the charger is answered with its code.
struct WebSocketConnectionStateMachine: Sendable {
    struct Configuration: Sendable, Hashable {
        /// The largest message accepted, in bytes, fragments reassembled.
        var maximumMessageSize: Int
        /// Pings in a row without a byte from the charger before the connection is dropped.
        var missedPongLimit: Int
    }

    /// What the handler does next with the bytes read.
    enum ReadAction: Sendable, Equatable {
        /// Nothing more until more bytes arrive.
        case wait
        /// A whole message, unmasked and valid UTF-8, to decode as an OCPP-J frame;
        /// `binary` when it came as a binary message.
        case deliver(ByteBuffer, binary: Bool)
        /// Answer a ping with this payload.
        case sendPong(ByteBuffer)
        /// Send a close frame with this code (and reason, logged), then close the channel.
        case sendClose(WebSocketErrorCode, reason: String)
        /// The charger closed the WebSocket: answer with its code, then close the channel.
        case echoClose(WebSocketErrorCode)
    }

    /// What the handler does when the ping timer fires.
    enum PingAction: Sendable, Equatable {
        case sendPing
        /// The charger sent nothing for `missed` pings: close the channel.
        case closeConnection(missed: Int)
        case none
    }

    /// Why reading is paused; it resumes once no reason remains.
    struct ReadPause: OptionSet, Sendable, Hashable {
        let rawValue: UInt8
        /// The event queue is full: what was read waits for room.
        static let queueFull = ReadPause(rawValue: 1)
        /// The channel's outbound buffer is over its high watermark: a charger that does not
        /// read its answers must not make the server buffer more of them.
        static let unwritable = ReadPause(rawValue: 2)
        /// Graceful shutdown: nothing more is read.
        static let quiescing = ReadPause(rawValue: 4)
    }

    private enum State: Sendable {
        case open
        /// A close frame is sent (or the connection dropped): nothing more is read or sent.
        case closing
        case closed
    }

    let configuration: Configuration
    private var state = State.open

    /// The bytes read and not yet taken as frames: a frame's start whose rest has not arrived.
    private var pending: ByteBuffer?
    /// The message being reassembled from fragments, unmasked.
    private var fragments: ByteBuffer?
    private var fragmentsAreBinary = false
    private var fragmentsAreASCII = true
    /// Where a whole single-frame message is unmasked: reused, since the decoder copies what
    /// it keeps.
    private var scratch = ByteBuffer()

    private var missedPongs = 0
    private var pauses: ReadPause = []
    /// A read the channel asked for while paused, to be issued on resuming.
    private var readHeld = false

    init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// Whether frames may still be sent (no close frame sent yet, the channel open).
    var canSend: Bool { state == .open }

    /// Why reading is paused now.
    var readPauses: ReadPause { pauses }

    // MARK: - Reading

    /// Bytes arrived: any byte from the charger proves it alive.
    mutating func bytesRead(_ bytes: ByteBuffer) {
        missedPongs = 0
        guard state == .open else { return }
        if pending == nil {
            pending = bytes
        } else {
            var bytes = bytes
            pending!.writeBuffer(&bytes)
        }
    }

    /// The next thing to do with the bytes read; call it until it answers ``ReadAction/wait``.
    mutating func next() -> ReadAction {
        let maximumSize = configuration.maximumMessageSize
        while state == .open, pending != nil {
            switch WebSocketFrameReader.next(&pending!, maximumSize: maximumSize) {
            case .frame(let frame):
                if let action = self.frame(frame) { return action }
            case .incomplete:
                keepPartialFrame()
                return .wait
            case .invalid(let code, let reason):
                return fail(code, reason)
            }
        }
        return .wait
    }

    private mutating func keepPartialFrame() {
        guard pending!.readableBytes > 0 else {
            pending = nil
            return
        }
        // A few bytes kept from a large read would hold the whole read buffer: copy them.
        if pending!.storageCapacity > 2 * pending!.readableBytes + 1024 {
            var copy = ByteBuffer()
            copy.writeBuffer(&pending!)
            pending = copy
        }
    }

    private mutating func frame(_ frame: ClientFrame) -> ReadAction? {
        guard let mask = frame.mask else {
            return fail(.protocolError, "a client's frames must be masked (RFC 6455, 5.1)")
        }
        switch frame.opcode {
        case .text, .binary:
            guard fragments == nil else {
                return fail(.protocolError, "a new message began before the fragmented one ended")
            }
            if frame.fin {
                var payload = frame.payload
                scratch.clear()
                scratch.writeBuffer(&payload)
                let isASCII = WebSocketPayload.unmask(&scratch, mask: mask)
                return message(scratch, binary: frame.opcode == .binary, isASCII: isASCII)
            }
            let (payload, isASCII) = Self.unmaskedCopy(frame.payload, mask: mask)
            fragments = payload
            fragmentsAreBinary = frame.opcode == .binary
            fragmentsAreASCII = isASCII
            return nil
        case .continuation:
            guard fragments != nil else {
                return fail(.protocolError, "a continuation frame without a message to continue")
            }
            guard fragments!.readableBytes + frame.payload.readableBytes <= configuration.maximumMessageSize else {
                return fail(.messageTooLarge, "message exceeds \(configuration.maximumMessageSize) bytes")
            }
            let copy = Self.unmaskedCopy(frame.payload, mask: mask)
            var payload = copy.payload
            fragments!.writeBuffer(&payload)
            fragmentsAreASCII = fragmentsAreASCII && copy.isASCII
            guard frame.fin else { return nil }
            let message = fragments!
            fragments = nil
            return self.message(message, binary: fragmentsAreBinary, isASCII: fragmentsAreASCII)
        case .ping:
            return .sendPong(Self.unmaskedCopy(frame.payload, mask: mask).payload)
        case .pong:
            return nil
        case .connectionClose:
            return closeFrame(Self.unmaskedCopy(frame.payload, mask: mask).payload)
        default:
            return fail(.protocolError, "unknown opcode \(UInt8(webSocketOpcode: frame.opcode))")
        }
    }

    private mutating func message(_ payload: ByteBuffer, binary: Bool, isASCII: Bool) -> ReadAction {
        let isText = isASCII || WebSocketPayload.isValidUTF8(payload)
        if binary {
            guard isText, WebSocketPayload.opensJSONArray(payload) else {
                return fail(.unacceptableData, "a binary message that is not OCPP-J text (UTF-8 JSON)")
            }
        } else if !isText {
            return fail(.dataInconsistentWithMessage, "a text message that is not valid UTF-8")
        }
        return .deliver(payload, binary: binary)
    }

    /// The charger's close frame (RFC 6455, 5.5.1 and 7.4): answered with its code, or 1000
    /// when it has none.
    private mutating func closeFrame(_ payload: ByteBuffer) -> ReadAction {
        var payload = payload
        guard payload.readableBytes != 1 else {
            return fail(.protocolError, "a close frame whose body is one byte (a code takes two)")
        }
        guard let raw = payload.readInteger(as: UInt16.self) else {
            state = .closing
            return .echoClose(.normalClosure)
        }
        guard Self.isSendable(closeCode: raw) else {
            return fail(.protocolError, "close code \(raw) is not one a peer may send")
        }
        guard WebSocketPayload.isValidUTF8(payload) else {
            return fail(.dataInconsistentWithMessage, "a close reason that is not valid UTF-8")
        }
        state = .closing
        return .echoClose(WebSocketErrorCode(codeNumber: Int(raw)))
    }

    /// Whether a peer may send `code` in a close frame: the codes RFC 6455 and the IANA
    /// registry define for use on the wire, and 3000 to 4999 (registered and private).
    static func isSendable(closeCode code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: return true
        default: return false
        }
    }

    private mutating func fail(_ code: WebSocketErrorCode, _ reason: String) -> ReadAction {
        state = .closing
        pending = nil
        fragments = nil
        return .sendClose(code, reason: reason)
    }

    private static func unmaskedCopy(_ payload: ByteBuffer, mask: UInt32) -> (payload: ByteBuffer, isASCII: Bool) {
        var payload = payload
        var copy = ByteBuffer()
        copy.writeBuffer(&payload)
        let isASCII = WebSocketPayload.unmask(&copy, mask: mask)
        return (copy, isASCII)
    }

    // MARK: - Liveness

    /// The ping timer fired.
    mutating func pingTimerFired() -> PingAction {
        guard state == .open else { return .none }
        if missedPongs >= configuration.missedPongLimit {
            state = .closing
            return .closeConnection(missed: missedPongs)
        }
        missedPongs += 1
        return .sendPing
    }

    // MARK: - Closing

    /// The server closes the WebSocket (a replacing connection, shutdown, a handler's decision).
    /// - Returns: Whether to send the close frame: `false` once one is sent.
    mutating func closeRequested() -> Bool {
        guard state == .open else { return false }
        state = .closing
        pending = nil
        fragments = nil
        return true
    }

    /// The channel closed.
    mutating func channelClosed() {
        state = .closed
        pending = nil
        fragments = nil
    }

    // MARK: - Reading on and off

    /// The channel asks to read.
    /// - Returns: Whether to pass the read on; a read asked for while paused is held.
    mutating func readRequested() -> Bool {
        guard pauses.isEmpty else {
            readHeld = true
            return false
        }
        return true
    }

    /// Pauses reading for `reason`.
    /// - Returns: Whether it was not paused for that reason before.
    @discardableResult
    mutating func pauseReading(_ reason: ReadPause) -> Bool {
        pauses.insert(reason).inserted
    }

    /// Ends the pause for `reason`.
    /// - Returns: Whether to read now: no reason remains and a read was held.
    mutating func resumeReading(_ reason: ReadPause) -> Bool {
        pauses.remove(reason)
        guard pauses.isEmpty, readHeld, state == .open else { return false }
        readHeld = false
        return true
    }

    /// The channel's writability changed.
    /// - Returns: Whether to read now.
    mutating func writabilityChanged(isWritable: Bool) -> Bool {
        if isWritable { return resumeReading(.unwritable) }
        pauseReading(.unwritable)
        return false
    }
}
