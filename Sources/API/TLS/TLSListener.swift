public import Logging
public import NIOSSL
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The TLS side of the server: its settings and the TLS context new connections start
/// with. ``reload()`` reads the certificate and key again (on SIGHUP, see
/// ``TLSServer/reloadingOnSIGHUP(application:listener:)``): connections accepted afterwards use the new context, established
/// ones keep theirs.
public final class TLSListener: Sendable {
    /// The settings it was made with.
    public let settings: TLSSettings
    private let current: Mutex<NIOSSLContext>
    private let logger: Logger

    /// Builds the first context.
    /// - Throws: ``TLSSettingsError`` when a file cannot be read or used.
    public init(settings: TLSSettings, logger: Logger) throws(TLSSettingsError) {
        self.settings = settings
        self.logger = logger
        current = Mutex(try settings.makeContext())
    }

    /// The context a new connection starts its handshake with.
    public var context: NIOSSLContext {
        current.withLock { $0 }
    }

    /// Reads the certificate, key and client CA files again and uses them for connections
    /// accepted from now on. When that fails the current context stays, and the error is
    /// logged and thrown.
    public func reload() throws(TLSSettingsError) {
        let context: NIOSSLContext
        do {
            context = try settings.makeContext()
        } catch {
            logger.error(
                "Reloading the TLS certificate failed; the previous one stays in use",
                metadata: ["error": "\(error)"]
            )
            throw error
        }
        current.withLock { $0 = context }
        logger.notice(
            "Reloaded the TLS certificate",
            metadata: ["certificate": "\(settings.certificateFile)", "key": "\(settings.keyFile)"]
        )
    }

}

/// Reloads the TLS listener's files on SIGHUP, until the graceful shutdown.
struct TLSReloadService: Service {
    let listener: TLSListener
    /// Trapped when the service is made, so a SIGHUP from then on reloads (and never ends
    /// the process with the signal's default action).
    let signals: UnixSignalsSequence

    func run() async throws {
        for await _ in signals.cancelOnGracefulShutdown() {
            // A failed reload is logged and keeps the previous context.
            try? listener.reload()
        }
    }
}
