public import Ingest
public import NIOCore
import NIOSSL

/// The identity a charger's client certificate gives it.
public enum ClientCertificate {
    /// The transport of a TLS connection, with the subject common name of the client
    /// certificate the handshake verified. Call on the channel's event loop, after the
    /// handshake (once a request has arrived).
    public static func transport(of channel: any Channel) -> ChargerTransport {
        let certificate = try? channel.pipeline.syncOperations.nioSSL_peerCertificate()
        guard let certificate, let der = try? certificate.toDERBytes() else {
            return .tls(clientCertificateCommonName: nil)
        }
        return .tls(clientCertificateCommonName: ChargerTransport.commonName(derEncoded: der))
    }
}
