import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import Ingest

@Suite("WebSocket frame reader")
struct WebSocketFrameReaderTests {
    /// The bytes NIO's own encoder writes for `frames` (the reference the reader must agree
    /// with); it masks each payload with the frame's key.
    static func encoded(_ frames: [WebSocketFrame]) throws -> ByteBuffer {
        let channel = EmbeddedChannel(handler: WebSocketFrameEncoder())
        var bytes = ByteBuffer()
        for frame in frames {
            try channel.writeOutbound(frame)
            while var part = try channel.readOutbound(as: ByteBuffer.self) { bytes.writeBuffer(&part) }
        }
        _ = try channel.finish()
        return bytes
    }

    /// Reads frames as the handler does: chunk by chunk, an incomplete frame kept for the next.
    static func read(_ chunks: [ByteBuffer], maximumSize: Int) -> (frames: [ClientFrame], error: WebSocketErrorCode?) {
        var frames: [ClientFrame] = []
        var partial: ByteBuffer?
        for chunk in chunks {
            var bytes = chunk
            if var kept = partial {
                partial = nil
                kept.writeBuffer(&bytes)
                bytes = kept
            }
            reading: while true {
                switch WebSocketFrameReader.next(&bytes, maximumSize: maximumSize) {
                case .frame(let frame): frames.append(frame)
                case .incomplete:
                    if bytes.readableBytes > 0 { partial = bytes }
                    break reading
                case .invalid(let code, _): return (frames, code)
                }
            }
        }
        return (frames, nil)
    }

    static func unmasked(_ frame: ClientFrame) -> [UInt8] {
        var payload = frame.payload
        if let mask = frame.mask { WebSocketPayload.unmask(&payload, mask: mask) }
        return Array(buffer: payload)
    }

    @Test("Frames of every length encoding, split at any byte, come out as NIO's encoder wrote them")
    func agreesWithNIOEncoder() throws {
        func bytes(_ count: Int, _ seed: Int) -> ByteBuffer {
            ByteBuffer(bytes: (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed) })
        }
        let frames = [
            WebSocketFrame(fin: true, opcode: .text, maskKey: [1, 2, 3, 4], data: bytes(10, 1)),
            WebSocketFrame(fin: true, opcode: .ping, maskKey: [9, 8, 7, 6], data: bytes(0, 0)),
            WebSocketFrame(fin: false, opcode: .text, maskKey: [0xFF, 0, 0x80, 7], data: bytes(125, 2)),
            WebSocketFrame(fin: true, opcode: .continuation, maskKey: [5, 5, 5, 5], data: bytes(126, 3)),
            WebSocketFrame(fin: true, opcode: .binary, data: bytes(300, 4)),
            WebSocketFrame(fin: true, opcode: .text, maskKey: [0xDE, 0xAD, 0xBE, 0xEF], data: bytes(70_000, 5)),
            WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: [1, 1, 2, 2], data: bytes(2, 6)),
        ]
        let stream = try Self.encoded(frames)
        for cut in stride(from: 0, through: stream.readableBytes, by: 7) {
            let chunks = [
                stream.getSlice(at: stream.readerIndex, length: cut)!,
                stream.getSlice(at: stream.readerIndex + cut, length: stream.readableBytes - cut)!,
            ]
            let (read, error) = Self.read(chunks, maximumSize: 100_000)
            #expect(error == nil)
            try #require(read.count == frames.count, "cut at \(cut)")
            for (ours, theirs) in zip(read, frames) {
                #expect(ours.fin == theirs.fin)
                #expect(ours.opcode == theirs.opcode)
                #expect((ours.mask == nil) == (theirs.maskKey == nil))
                let same = Self.unmasked(ours) == Array(buffer: theirs.data)
                #expect(same, "cut at \(cut): the payload differs")
            }
        }
        // Byte by byte, too.
        let bytes = Array(buffer: stream)
        let (read, error) = Self.read(bytes.map { ByteBuffer(bytes: [$0]) }, maximumSize: 100_000)
        #expect(error == nil)
        let same = read.map(Self.unmasked) == frames.map { Array(buffer: $0.data) }
        #expect(same, "byte by byte: a payload differs")
    }

    @Test("Too large, oversized control frames, fragmented control frames and reserved bits are refused")
    func refusals() throws {
        // Refused from the header alone, before the payload arrives.
        let large = try Self.encoded([
            WebSocketFrame(
                fin: true,
                opcode: .text,
                maskKey: [1, 2, 3, 4],
                data: ByteBuffer(repeating: 0x41, count: 1000)
            )
        ])
        let header = large.getSlice(at: large.readerIndex, length: 8)!
        #expect(Self.read([header], maximumSize: 999).error == .messageTooLarge)
        #expect(Self.read([large], maximumSize: 1000).error == nil)

        let longPing = try Self.encoded([
            WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer(repeating: 0, count: 126))
        ])
        #expect(Self.read([longPing], maximumSize: 65_536).error == .protocolError)

        let fragmentedPing = try Self.encoded([WebSocketFrame(fin: false, opcode: .ping, data: ByteBuffer())])
        #expect(Self.read([fragmentedPing], maximumSize: 65_536).error == .protocolError)

        let reserved = try Self.encoded([WebSocketFrame(fin: true, rsv1: true, opcode: .text, data: ByteBuffer())])
        #expect(Self.read([reserved], maximumSize: 65_536).error == .protocolError)
    }
}
