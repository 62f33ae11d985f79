import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One live stream's connection: sends the request, feeds what arrives to its
/// ``StreamParser`` and adds the counts to the ``Subscribers``' totals. Runs on the one event
/// loop: every property is read and written there only, hence `@unchecked Sendable`.
final class StreamHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let chargerID: Int
    let subscribers: Subscribers
    let request: String
    var parser = StreamParser()
    /// Why the stream ended, once it has.
    var ended: String?
    /// Whether the stream has sent `ready` or failed (either lets the next one open).
    var resolved = false
    var channel: (any Channel)?

    init(chargerID: Int, subscribers: Subscribers) {
        self.chargerID = chargerID
        self.subscribers = subscribers
        request =
            "GET /db/chargers/\(chargerID)/meter-values/stream HTTP/1.1\r\n"
            + "Host: \(subscribers.host):\(subscribers.port)\r\nAccept: text/event-stream\r\n\r\n"
    }

    func channelActive(context: ChannelHandlerContext) {
        channel = context.channel
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: request)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let totals = subscribers.totals
        totals.bytes += buffer.readableBytes
        guard ended == nil else { return }
        buffer.withUnsafeReadableBytes { parser.feed($0) }
        let counts = parser.takeCounts()
        if counts.samples > 0 {
            totals.samples += counts.samples
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            let seconds = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
            totals.timeline[Int(seconds / Subscribers.slice), default: 0] += counts.samples
        }
        totals.status += counts.status
        totals.keepAlives += counts.keepAlives
        if parser.ready && !resolved {
            totals.ready += 1
            resolve()
        }
        if let error = parser.error {
            parser.error = nil
            subscribers.record("charger \(chargerID): \(error)")
        }
        if let why = parser.finished {
            if why == "dropped" { totals.dropped += 1 }
            finish(why)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if ended == nil { ended = "connection lost (\(error))" }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if ended == nil { ended = "connection closed" }
        resolve()
        context.fireChannelInactive()
    }

    /// Ends the stream: `why` is what ``ended`` counts it as.
    func finish(_ why: String) {
        if ended == nil { ended = why }
        channel?.close(promise: nil)
        resolve()
    }

    /// The stream is ready or has failed: the next one may open.
    func resolve() {
        guard !resolved else { return }
        resolved = true
        subscribers.resolved()
    }
}
