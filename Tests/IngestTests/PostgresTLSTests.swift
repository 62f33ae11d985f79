import Crypto
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import TestSupport
import Testing
import X509

@testable import Relational

/// `sslmode=verify-ca` / `verify-full` with `sslrootcert`: the TLS configuration the
/// PostgreSQL backend connects with, tried in real handshakes against a TLS server whose
/// certificate names `localhost` and 127.0.0.1.
@Suite("PostgreSQL TLS verification")
struct PostgresTLSTests {
    static func settings(_ query: String) throws -> DatabaseURL.PostgresSettings {
        guard case .postgres(let settings) = try DatabaseURL("postgres://ocpp@db.internal/ocpp?\(query)") else {
            throw TestFailure("not a PostgreSQL URL")
        }
        return settings
    }

    @Test("sslmode and sslrootcert parse into the verification libpq would do")
    func parsing() throws {
        let full = try Self.settings("sslmode=verify-full&sslrootcert=/etc/ocpp/db-ca.pem")
        #expect(full.sslMode == .verifyFull)
        #expect(full.sslRootCertificate == "/etc/ocpp/db-ca.pem")
        #expect(full.verification == .full)
        #expect(
            DatabaseURL.postgres(full).description.hasSuffix("?sslmode=verify-full&sslrootcert=/etc/ocpp/db-ca.pem")
        )
        #expect(try Self.settings("sslmode=verify-ca").verification == .certificateAuthority)
        #expect(try Self.settings("sslmode=verify-ca").sslRootCertificate == nil)
        #expect(try Self.settings("sslmode=verify-full&sslrootcert=system").sslRootCertificate == nil)
        #expect(try Self.settings("sslmode=require").verification == .none)
        #expect(try Self.settings("sslmode=require&sslrootcert=/ca.pem").verification == .certificateAuthority)
        #expect(try Self.settings("sslmode=prefer&sslrootcert=/ca.pem").verification == .none)
        #expect(
            try Self.settings("sslrootcert=%2Fpath%20with%20space%2Fca.pem").sslRootCertificate
                == "/path with space/ca.pem"
        )
        #expect {
            try DatabaseURL("postgres://localhost/ocpp?sslmode=verify-full&sslrootcert=")
        } throws: { error in
            "\(error)".contains("sslrootcert must name a PEM file")
        }
    }

    @Test("An sslrootcert that is missing or holds no certificate is refused with its path")
    func unreadableRootCertificate() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ocpp-pgtls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = directory.appendingPathComponent("missing.pem").path
        #expect {
            try PostgresBackend.tlsConfiguration(for: try Self.settings("sslmode=verify-full&sslrootcert=\(missing)"))
        } throws: { error in
            "\(error)".contains(missing)
        }
        let empty = directory.appendingPathComponent("empty.pem")
        try Data("not a certificate\n".utf8).write(to: empty)
        #expect(throws: (any Error).self) {
            try PostgresBackend.tlsConfiguration(for: try Self.settings("sslmode=verify-ca&sslrootcert=\(empty.path)"))
        }
    }

    @Test("verify-full checks the chain and the host name; verify-ca the chain only; require neither")
    func handshakes() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ocpp-pgtls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let authority = try TestCertificateAuthority(name: "Database CA")
        let caFile = try authority.write(to: directory, as: "db-ca")
        let otherCAFile = try TestCertificateAuthority(name: "Another CA").write(to: directory, as: "other-ca")
        // Named by DNS only: NIOSSL accepts an IP address SAN that matches the connected
        // address whatever host name was asked for, so the certificate has none.
        let server = try Self.issueDNSOnly(authority, name: "localhost").write(to: directory, as: "db")

        let serverContext = try NIOSSLContext(
            configuration: .makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(server.certificate).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: server.key, format: .pem))
            )
        )
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: serverContext))
                    try channel.pipeline.syncOperations.addHandler(Echo())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(listener.localAddress?.port)

        func handshake(_ query: String, host: String) async throws -> Bool {
            let tls = try PostgresBackend.tlsConfiguration(for: try Self.settings(query))
            let context = try NIOSSLContext(configuration: tls)
            let done = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Bool.self)
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        // As PostgresNIO does: the host name for SNI and verification, none for an address.
                        let name = host.allSatisfy { $0.isNumber || $0 == "." } ? nil : host
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: context, serverHostname: name)
                        )
                        try channel.pipeline.syncOperations.addHandler(HandshakeWatcher(done: done))
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
            // Sent once the handshake succeeds; the server echoes it.
            try? await channel.writeAndFlush(ByteBuffer(string: "ping"))
            let completed = try await done.futureResult.get()
            try? await channel.close()
            return completed
        }

        let trusted = "sslrootcert=\(caFile)"
        let untrusted = "sslrootcert=\(otherCAFile)"
        #expect(try await handshake("sslmode=verify-full&\(trusted)", host: "localhost"))
        #expect(try await !handshake("sslmode=verify-full&\(trusted)", host: "127.0.0.1"), "the address is not named")
        #expect(try await !handshake("sslmode=verify-full&\(trusted)", host: "db.internal"), "wrong host name")
        #expect(try await !handshake("sslmode=verify-full&\(untrusted)", host: "localhost"), "untrusted CA")
        #expect(try await handshake("sslmode=verify-ca&\(trusted)", host: "db.internal"))
        #expect(try await !handshake("sslmode=verify-ca&\(untrusted)", host: "localhost"), "untrusted CA")
        #expect(try await !handshake("sslmode=verify-full", host: "localhost"), "not in the system's trust store")
        #expect(
            try await !handshake("sslmode=require&\(untrusted)", host: "localhost"),
            "require + sslrootcert verifies"
        )
        #expect(try await handshake("sslmode=require", host: "db.internal"), "require alone only encrypts")
        try await listener.close()
    }

    /// A server certificate of `authority` whose only subject alternative name is the DNS name `name`.
    static func issueDNSOnly(_ authority: TestCertificateAuthority, name: String) throws -> IssuedCertificate {
        let key = P256.Signing.PrivateKey()
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: Date() - 3600,
            notValidAfter: Date() + 86_400,
            issuer: authority.certificate.subject,
            subject: try DistinguishedName { CommonName(name) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([.dnsName(name)])
            },
            issuerPrivateKey: Certificate.PrivateKey(authority.key)
        )
        return IssuedCertificate(certificate: certificate, key: key)
    }

    /// Writes back what it reads (only decrypted data arrives here: the handshake succeeded).
    final class Echo: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.writeAndFlush(data, promise: nil)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    /// Completes `done` with true when the server's echo arrives over TLS, false when the
    /// handshake fails or the connection closes first.
    final class HandshakeWatcher: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let done: EventLoopPromise<Bool>
        private var finished = false

        init(done: EventLoopPromise<Bool>) { self.done = done }

        private func finish(_ completed: Bool) {
            guard !finished else { return }
            finished = true
            done.succeed(completed)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            finish(true)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            finish(false)
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            finish(false)
            context.fireChannelInactive()
        }
    }
}
