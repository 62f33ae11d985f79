import NIOCore
import NIOWebSocket
import Testing

@testable import Ingest

/// The WebSocket protocol of a connection, without a channel: bytes in, actions out.
@Suite("WebSocket state machine")
struct WebSocketStateMachineTests {
    typealias Machine = WebSocketConnectionStateMachine

    static func machine(maximumMessageSize: Int = 65_536, missedPongLimit: Int = 3) -> Machine {
        Machine(configuration: .init(maximumMessageSize: maximumMessageSize, missedPongLimit: missedPongLimit))
    }

    static let key = WebSocketMaskingKey([0x37, 0xFA, 0x21, 0x3D])!

    /// A client's frame as it arrives: masked unless `masked` is false.
    static func frame(
        _ opcode: WebSocketOpcode,
        _ bytes: [UInt8],
        fin: Bool = true,
        masked: Bool = true,
        rsv1: Bool = false
    ) throws -> ByteBuffer {
        try WebSocketFrameReaderTests.encoded([
            WebSocketFrame(
                fin: fin,
                rsv1: rsv1,
                opcode: opcode,
                maskKey: masked ? key : nil,
                data: ByteBuffer(bytes: bytes)
            )
        ])
    }

    static func text(_ text: String, fin: Bool = true) throws -> ByteBuffer {
        try frame(.text, Array(text.utf8), fin: fin)
    }

    static func close(_ code: UInt16?, reason: [UInt8] = []) throws -> ByteBuffer {
        var body: [UInt8] = []
        if let code { body = [UInt8(code >> 8), UInt8(code & 0xFF)] + reason }
        return try frame(.connectionClose, body)
    }

    /// Every action the bytes lead to, up to the first ``Machine/ReadAction/wait``.
    static func actions(_ machine: inout Machine, _ bytes: ByteBuffer) -> [Machine.ReadAction] {
        machine.bytesRead(bytes)
        var actions: [Machine.ReadAction] = []
        while true {
            let action = machine.next()
            if action == .wait { return actions }
            actions.append(action)
        }
    }

    /// The close code the bytes lead to, if they lead to a close.
    static func closeCode(_ bytes: ByteBuffer, maximumMessageSize: Int = 65_536) -> UInt16? {
        var machine = Self.machine(maximumMessageSize: maximumMessageSize)
        for action in actions(&machine, bytes) {
            switch action {
            case .sendClose(let code, _), .echoClose(let code):
                #expect(!machine.canSend)
                var buffer = ByteBuffer()
                buffer.write(webSocketErrorCode: code)
                return buffer.readInteger(as: UInt16.self)
            default: continue
            }
        }
        return nil
    }

    @Test("A text message is delivered unmasked; fragments are reassembled around a ping, which gets a pong")
    func messages() throws {
        var machine = Self.machine()
        let single = Self.actions(&machine, try Self.text("[2,\"a\",\"Heartbeat\",{}]"))
        #expect(
            single == [
                .deliver(ByteBuffer(string: "[2,\"a\",\"Heartbeat\",{}]"), binary: false)
            ]
        )
        var bytes = try Self.text("[2,\"b\",", fin: false)
        var ping = try Self.frame(.ping, [1, 2, 3])
        var rest = try Self.frame(.continuation, Array("\"Heartbeat\",{}]".utf8))
        bytes.writeBuffer(&ping)
        bytes.writeBuffer(&rest)
        // Split at every byte: the partial frame waits for the rest.
        for cut in 0...bytes.readableBytes {
            var machine = Self.machine()
            let first = Self.actions(&machine, bytes.getSlice(at: bytes.readerIndex, length: cut)!)
            let second = Self.actions(
                &machine,
                bytes.getSlice(at: bytes.readerIndex + cut, length: bytes.readableBytes - cut)!
            )
            #expect(
                first + second == [
                    .sendPong(ByteBuffer(bytes: [1, 2, 3])),
                    .deliver(ByteBuffer(string: "[2,\"b\",\"Heartbeat\",{}]"), binary: false),
                ],
                "cut at \(cut)"
            )
        }
        // Pongs need nothing.
        let afterPong = Self.actions(&machine, try Self.frame(.pong, []))
        #expect(afterPong.isEmpty)
    }

    @Test("A close frame is answered with its code (1000 when it has none), and nothing is read after it")
    func closeEcho() throws {
        #expect(Self.closeCode(try Self.close(1000)) == 1000)
        #expect(Self.closeCode(try Self.close(nil)) == 1000)
        #expect(Self.closeCode(try Self.close(1001, reason: Array("bye".utf8))) == 1001)
        #expect(Self.closeCode(try Self.close(4000)) == 4000)
        var machine = Self.machine()
        var bytes = try Self.close(1000)
        var after = try Self.text("[2,\"a\",\"Heartbeat\",{}]")
        bytes.writeBuffer(&after)
        let closeAndMore = Self.actions(&machine, bytes)
        #expect(closeAndMore == [.echoClose(.normalClosure)])
        let afterClose = Self.actions(&machine, try Self.text("[2,\"b\",\"Heartbeat\",{}]"))
        #expect(afterClose.isEmpty)
        let sendsClose1 = machine.closeRequested()
        #expect(!sendsClose1)
    }

    @Test("Protocol errors close with 1002")
    func protocolErrors() throws {
        let heartbeat = Array("[2,\"a\",\"Heartbeat\",{}]".utf8)
        #expect(Self.closeCode(try Self.frame(.text, heartbeat, masked: false)) == 1002)
        #expect(Self.closeCode(try Self.frame(.text, heartbeat, rsv1: true)) == 1002)
        #expect(Self.closeCode(try Self.frame(.continuation, heartbeat)) == 1002)
        var twoStarts = try Self.text("[2,", fin: false)
        var second = try Self.text("[2,", fin: false)
        twoStarts.writeBuffer(&second)
        #expect(Self.closeCode(twoStarts) == 1002)
        #expect(Self.closeCode(try Self.frame(.ping, [], fin: false)) == 1002)
        #expect(Self.closeCode(try Self.frame(.ping, Array(repeating: 1, count: 126))) == 1002)
        #expect(Self.closeCode(try Self.frame(.connectionClose, [0x03])) == 1002)
        for code: UInt16 in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            #expect(Self.closeCode(try Self.close(code)) == 1002, "close code \(code)")
        }
        // Reserved opcodes 0x3 and 0xB.
        for opcode: UInt8 in [0x83, 0x8B] {
            let bytes = ByteBuffer(bytes: [opcode, 0x80, 1, 2, 3, 4])
            #expect(Self.closeCode(bytes) == 1002, "opcode \(opcode)")
        }
    }

    @Test("Invalid UTF-8 in a text message or close reason closes with 1007; valid text split anywhere is fine")
    func invalidText() throws {
        #expect(Self.closeCode(try Self.frame(.text, [0x5B, 0xC3, 0x28, 0x5D])) == 1007)
        #expect(Self.closeCode(try Self.frame(.text, [0xED, 0xA0, 0x80])) == 1007)
        #expect(Self.closeCode(try Self.close(1000, reason: [0xFF])) == 1007)
        // "€" split between two fragments is valid; a truncated one at the end is not.
        var machine = Self.machine()
        var split = try Self.frame(.text, [0x22, 0xE2, 0x82], fin: false)
        var end = try Self.frame(.continuation, [0xAC, 0x22])
        split.writeBuffer(&end)
        let reassembled = Self.actions(&machine, split)
        #expect(
            reassembled == [
                .deliver(ByteBuffer(bytes: [0x22, 0xE2, 0x82, 0xAC, 0x22]), binary: false)
            ]
        )
        var truncated = try Self.frame(.text, [0x22, 0xE2], fin: false)
        var last = try Self.frame(.continuation, [0x82])
        truncated.writeBuffer(&last)
        #expect(Self.closeCode(truncated) == 1007)
    }

    @Test("A binary message of UTF-8 JSON is delivered as text; any other binary message closes with 1003")
    func binary() throws {
        var machine = Self.machine()
        let json = " [2,\"a\",\"DataTransfer\",{\"vendorId\":\"é\"}]"
        let binaryJSON = Self.actions(&machine, try Self.frame(.binary, Array(json.utf8)))
        #expect(
            binaryJSON == [
                .deliver(ByteBuffer(string: json), binary: true)
            ]
        )
        var fragmented = try Self.frame(.binary, Array("[2,\"b\",".utf8), fin: false)
        var rest = try Self.frame(.continuation, Array("\"Heartbeat\",{}]".utf8))
        fragmented.writeBuffer(&rest)
        let binaryFragments = Self.actions(&machine, fragmented)
        #expect(
            binaryFragments == [
                .deliver(ByteBuffer(string: "[2,\"b\",\"Heartbeat\",{}]"), binary: true)
            ]
        )
        #expect(Self.closeCode(try Self.frame(.binary, [0x00, 0x01, 0xFF])) == 1003)
        #expect(Self.closeCode(try Self.frame(.binary, Array("hello".utf8))) == 1003)
        #expect(Self.closeCode(try Self.frame(.binary, [0x5B, 0xC3, 0x28])) == 1003)
        #expect(Self.closeCode(try Self.frame(.binary, [])) == 1003)
    }

    @Test("Messages over the limit close with 1009, in one frame or in fragments")
    func tooLarge() throws {
        #expect(
            Self.closeCode(try Self.frame(.text, Array(repeating: 0x41, count: 101)), maximumMessageSize: 100) == 1009
        )
        #expect(
            Self.closeCode(try Self.frame(.text, Array(repeating: 0x41, count: 100)), maximumMessageSize: 100) == nil
        )
        var fragments = try Self.frame(.text, Array(repeating: 0x41, count: 60), fin: false)
        var rest = try Self.frame(.continuation, Array(repeating: 0x41, count: 41))
        fragments.writeBuffer(&rest)
        #expect(Self.closeCode(fragments, maximumMessageSize: 100) == 1009)
    }

    @Test("Pings: the connection is dropped after the limit of pings with nothing read; any byte resets the count")
    func liveness() throws {
        var machine = Self.machine(missedPongLimit: 2)
        let ping1 = machine.pingTimerFired()
        #expect(ping1 == .sendPing)
        let ping2 = machine.pingTimerFired()
        #expect(ping2 == .sendPing)
        machine.bytesRead(try Self.frame(.pong, []))
        #expect(machine.next() == .wait)
        let ping3 = machine.pingTimerFired()
        #expect(ping3 == .sendPing)
        let ping4 = machine.pingTimerFired()
        #expect(ping4 == .sendPing)
        let ping5 = machine.pingTimerFired()
        #expect(ping5 == .closeConnection(missed: 2))
        let ping6 = machine.pingTimerFired()
        #expect(ping6 == .none)
        #expect(!machine.canSend)
    }

    @Test("The server's close is sent once; nothing is read or pinged after it")
    func serverClose() throws {
        var machine = Self.machine()
        let sendsClose2 = machine.closeRequested()
        #expect(sendsClose2)
        let sendsClose3 = machine.closeRequested()
        #expect(!sendsClose3)
        #expect(!machine.canSend)
        let afterServerClose = Self.actions(&machine, try Self.text("[2,\"a\",\"Heartbeat\",{}]"))
        #expect(afterServerClose.isEmpty)
        let ping7 = machine.pingTimerFired()
        #expect(ping7 == .none)
    }

    @Test("Reading pauses while any reason holds; a read asked for meanwhile is issued when the last one ends")
    func readPauses() {
        var machine = Self.machine()
        let reads1 = machine.readRequested()
        #expect(reads1)
        let readsNow1 = machine.writabilityChanged(isWritable: false)
        #expect(!readsNow1)
        let reads2 = machine.readRequested()
        #expect(!reads2)
        let paused1 = machine.pauseReading(.queueFull)
        #expect(paused1)
        let paused2 = machine.pauseReading(.queueFull)
        #expect(!paused2)
        let readsNow2 = machine.writabilityChanged(isWritable: true)
        #expect(!readsNow2)
        #expect(machine.readPauses == .queueFull)
        let resumes1 = machine.resumeReading(.queueFull)
        #expect(resumes1)
        let reads3 = machine.readRequested()
        #expect(reads3)
        // No read held: nothing to issue.
        machine.pauseReading(.queueFull)
        let resumes2 = machine.resumeReading(.queueFull)
        #expect(!resumes2)
        // Shutdown never resumes.
        machine.pauseReading(.quiescing)
        let reads4 = machine.readRequested()
        #expect(!reads4)
        let readsNow3 = machine.writabilityChanged(isWritable: false)
        #expect(!readsNow3)
        let readsNow4 = machine.writabilityChanged(isWritable: true)
        #expect(!readsNow4)
        let reads5 = machine.readRequested()
        #expect(!reads5)
    }

    @Test("Unmasking reports whether the text is ASCII, wherever the one non-ASCII byte is")
    func unmaskReportsASCII() {
        let mask: UInt32 = 0x3D21_FA37
        for length in 0..<40 {
            var plain = ByteBuffer(bytes: (0..<length).map { UInt8(truncatingIfNeeded: 0x20 + $0) })
            WebSocketPayload.unmask(&plain, mask: mask)
            #expect(WebSocketPayload.unmask(&plain, mask: mask), "length \(length)")
            for position in 0..<length {
                var bytes = (0..<length).map { UInt8(truncatingIfNeeded: 0x20 + $0) }
                bytes[position] = 0xC3
                var buffer = ByteBuffer(bytes: bytes)
                WebSocketPayload.unmask(&buffer, mask: mask)
                #expect(!WebSocketPayload.unmask(&buffer, mask: mask), "length \(length), at \(position)")
                #expect(Array(buffer: buffer) == bytes)
            }
        }
    }

    @Test("The UTF-8 check agrees with the standard library's on every short sequence and on random text")
    func utf8Validation() {
        func agrees(_ bytes: [UInt8]) -> Bool {
            let ours = bytes.withUnsafeBytes { WebSocketPayload.isValidUTF8($0) }
            return ours == (String(validating: bytes, as: UTF8.self) != nil)
        }
        var disagreements = 0
        for first in 0...255 {
            for second in 0...255 where !agrees([UInt8(first), UInt8(second)]) { disagreements += 1 }
            for second in [0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0] {
                for third in [0x41, 0x80, 0xBF, 0xC0] {
                    for fourth in [0x41, 0x80, 0xBF] {
                        let bytes = [UInt8(first), UInt8(second), UInt8(third), UInt8(fourth)]
                        if !agrees(bytes) || !agrees(Array(bytes[0..<3])) { disagreements += 1 }
                    }
                }
            }
        }
        var generator = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = Array("abc[]\"{}".utf8) + Array("é€😀".utf8) + [0x80, 0xC0, 0xED, 0xF4, 0xFF]
        for _ in 0..<2_000 {
            let length = Int.random(in: 0..<40, using: &generator)
            let bytes = (0..<length).map { _ in alphabet.randomElement(using: &generator)! }
            if !agrees(bytes) { disagreements += 1 }
        }
        #expect(disagreements == 0)
    }
}
