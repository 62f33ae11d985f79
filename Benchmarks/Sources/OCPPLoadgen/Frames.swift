import Foundation
import NIOCore

extension ChargerHandler {
    /// What the bytes at the reader index hold.
    enum NextFrame {
        case frame(opcode: UInt8, payload: ByteBuffer)
        case incomplete
        case invalid(String)
    }

    /// The largest frame the simulator accepts from the server.
    static let maximumFrameSize = 1 << 20

    /// Reads the next whole frame from `buffer` (RFC 6455, 5.2: a server's frames are not
    /// masked; this simulator's server sends no fragmented ones).
    static func nextFrame(_ buffer: inout ByteBuffer) -> NextFrame {
        let start = buffer.readerIndex
        guard let first = buffer.getInteger(at: start, as: UInt8.self),
            let second = buffer.getInteger(at: start + 1, as: UInt8.self)
        else { return .incomplete }
        guard first & 0x80 != 0, first & 0x0F != 0 else {
            return .invalid("the server sent a fragmented message, which this simulator does not read")
        }
        guard second & 0x80 == 0 else { return .invalid("the server sent a masked frame (RFC 6455, 5.1)") }
        var header = 2
        var length = Int(second & 0x7F)
        if length == 126 {
            guard let extended = buffer.getInteger(at: start + 2, as: UInt16.self) else { return .incomplete }
            header = 4
            length = Int(extended)
        } else if length == 127 {
            guard let extended = buffer.getInteger(at: start + 2, as: UInt64.self) else { return .incomplete }
            guard extended <= UInt64(maximumFrameSize) else {
                return .invalid("the server sent a frame of \(extended) bytes")
            }
            header = 10
            length = Int(extended)
        }
        guard length <= maximumFrameSize else { return .invalid("the server sent a frame of \(length) bytes") }
        guard buffer.readableBytes >= header + length else { return .incomplete }
        buffer.moveReaderIndex(forwardBy: header)
        return .frame(opcode: first & 0x0F, payload: buffer.readSlice(length: length)!)
    }
}

enum DispatchTimeNanoseconds {
    static var now: UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}

enum OCPPTimestampText {
    static func text(_ milliseconds: Int64) -> String {
        var buffer = ByteBuffer()
        MessageBuilder.writeTimestamp(&buffer, milliseconds)
        return String(buffer: buffer)
    }
}
