import Ingest
import NIOCore
import NIOEmbedded
import NIOTLS
import Testing

@testable import API

/// The upgrade timeout of a TLS connection starts when its TLS handshake is over.
@Suite("TLS handshake timeout")
struct TLSHandshakeTimeoutTests {
    @Test("A handshake that does not finish in time closes the connection")
    func unfinishedHandshake() throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        let upgrade = HandshakeTimeoutHandler(timeout: .seconds(10))
        try channel.pipeline.syncOperations.addHandler(
            TLSHandshakeTimeoutHandler(timeout: .seconds(60), then: upgrade, named: "upgrade-timeout")
        )
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        loop.advanceTime(by: .seconds(59))
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }

    @Test("After the handshake the upgrade gets its whole timeout, counted from then")
    func upgradeTimeoutStartsAfterHandshake() throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        let upgrade = HandshakeTimeoutHandler(timeout: .seconds(10))
        try channel.pipeline.syncOperations.addHandler(
            TLSHandshakeTimeoutHandler(timeout: .seconds(60), then: upgrade, named: "upgrade-timeout")
        )
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        loop.advanceTime(by: .seconds(45))
        channel.pipeline.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(negotiatedProtocol: nil))
        #expect(try channel.pipeline.syncOperations.handler(type: HandshakeTimeoutHandler.self) === upgrade)
        #expect(throws: (any Error).self) {
            try channel.pipeline.syncOperations.handler(type: TLSHandshakeTimeoutHandler.self)
        }
        // The TLS bound no longer applies; the upgrade's 10 s run from the handshake.
        loop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        loop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }
}
