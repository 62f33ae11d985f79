import Ingest
import NIOCore
import NIOTLS

/// Bounds a TLS connection's handshake, then hands the connection to the upgrade request's
/// own timeout: a client that never completes the handshake is closed, and one that does gets
/// the whole upgrade timeout from then on.
final class TLSHandshakeTimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let timeout: TimeAmount
    private let next: HandshakeTimeoutHandler
    private let nextName: String
    private var timer: Scheduled<Void>?

    /// - Parameters:
    ///   - timeout: How long the handshake may take.
    ///   - next: The upgrade's timeout, added once the handshake is over.
    ///   - nextName: The name `next` gets in the pipeline (the server removes it by name).
    init(timeout: TimeAmount, then next: HandshakeTimeoutHandler, named nextName: String) {
        self.timeout = timeout
        self.next = next
        self.nextName = nextName
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) {
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent {
            timer?.cancel()
            timer = nil
            do {
                try context.pipeline.syncOperations.addHandler(next, name: nextName, position: .after(self))
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            } catch {
                context.close(promise: nil)
            }
        }
        context.fireUserInboundEventTriggered(event)
    }
}
