public import NIOCore

/// Closes a new connection that has not sent a complete HTTP request head within the
/// timeout (a slow or silent client must not hold a socket forever). The server removes it
/// once the request head is in, whether the request upgrades or not.
public final class HandshakeTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = NIOAny

    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?

    /// - Parameter timeout: How long the client has.
    public init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) {
            channel.close(promise: nil)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }
}
