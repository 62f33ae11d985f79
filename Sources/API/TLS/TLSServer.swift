public import Hummingbird
public import ServiceLifecycle
import UnixSignals

/// The TLS listener's application and the listener whose context it uses, for the
/// server's service group.
public struct TLSServer: Sendable {
    /// The application, as `APIApplication.make(tls:)` builds it.
    public let application: any Service
    /// The context source.
    public let listener: TLSListener
    /// Reloads the listener's files on SIGHUP, when asked for.
    let reloader: TLSReloadService?

    /// A TLS server whose files are reloaded only by calling ``TLSListener/reload()``.
    /// - Parameters:
    ///   - application: The application `APIApplication.make` built with `listener`.
    ///   - listener: The context source it uses.
    public init(application: some ApplicationProtocol, listener: TLSListener) {
        self.application = application
        self.listener = listener
        reloader = nil
    }

    /// A TLS server whose files are reloaded on every SIGHUP the process receives (the
    /// executable's). SIGHUP is trapped from now on, before the service group runs.
    /// - Parameters:
    ///   - application: The application `APIApplication.make` built with `listener`.
    ///   - listener: The context source it uses.
    public static func reloadingOnSIGHUP(
        application: some ApplicationProtocol,
        listener: TLSListener
    ) async -> TLSServer {
        TLSServer(
            application: application,
            listener: listener,
            reloader: TLSReloadService(listener: listener, signals: await UnixSignalsSequence(trapping: .sighup))
        )
    }

    private init(application: any Service, listener: TLSListener, reloader: TLSReloadService?) {
        self.application = application
        self.listener = listener
        self.reloader = reloader
    }
}
