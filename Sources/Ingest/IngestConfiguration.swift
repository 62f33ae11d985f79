/// How the server treats a charger that is not in the database when its first message
/// arrives, whatever that message is (applied by `RequestPlanner.admission` alone).
public enum UnknownChargerPolicy: String, Sendable, Hashable, CaseIterable {
    /// Register it as Accepted.
    case accept
    /// Register it as Pending: it stays connected and its data is stored; an operator accepts it.
    case pending
    /// Register nothing: BootNotification is answered Rejected, anything else is refused.
    case reject
}

/// Settings of the OCPP WebSocket front end.
public struct IngestConfiguration: Sendable, Hashable {
    /// The heartbeat interval BootNotification tells chargers (seconds).
    public var heartbeatInterval: Int
    /// What happens to chargers the database does not know.
    public var unknownChargers: UnknownChargerPolicy
    /// Whether a client that offers no WebSocket subprotocol is refused (otherwise it is
    /// accepted and logged, as many chargers in the field omit the header).
    public var requireSubprotocol: Bool
    /// The largest OCPP message accepted, in bytes (after reassembling fragments); larger
    /// ones close the connection with 1009.
    public var maximumMessageSize: Int
    /// How often the server pings each charger (seconds).
    public var pingInterval: Int
    /// Pings in a row without any frame from the charger before it is disconnected.
    public var missedPongLimit: Int
    /// Seconds a new TCP connection has to complete its upgrade request.
    public var handshakeTimeout: Int
    /// How long a charger has to answer a call from the server (seconds).
    public var callTimeout: Int
    /// Calls that may wait behind the outstanding one, per charger.
    public var callQueueLimit: Int
    /// Slots of the queue between the event loops and the event writer.
    public var queueCapacity: Int
    /// While busy, the event writer starts a group commit at most every this many
    /// milliseconds: each commit gathers what arrived meanwhile, so a sync, a log record and
    /// each connection's acknowledgement write cover more messages. A message that reaches
    /// an idle writer is written at once. 0: commit as soon as anything is queued.
    public var commitIntervalMilliseconds: Int
    /// Whether Authorize accepts id tags the database does not know.
    public var acceptUnknownIDTags: Bool
    /// Vendor ids whose DataTransfer is Accepted (others get UnknownVendorId; all are stored).
    public var dataTransferVendorIDs: Set<String>
    /// How long an Authorize answer is cached (seconds); REST writes invalidate it at once.
    public var authorizationCacheSeconds: Int
    /// The CA that signs chargers' certificates (SignCertificate); without one SignCertificate
    /// is answered Rejected.
    public var chargerCertificateAuthority: ChargerCertificateAuthority?
    /// Browser origins whose WebSocket upgrades are accepted (exact match); an upgrade with
    /// any other `Origin` header is refused with 403. Chargers send no `Origin`.
    public var allowedOrigins: Set<String>
    /// The highest connector id a request may carry: StatusNotification, MeterValues or
    /// StartTransaction above it is refused (CALLERROR PropertyConstraintViolation), so a
    /// charger cannot make connectors, and their series, without bound. The default leaves
    /// only the 32-bit bound; the server sets its own (`OCPP_MAX_CONNECTOR_ID`, 100).
    public var maximumConnectorID: Int

    public init(
        heartbeatInterval: Int = 300,
        unknownChargers: UnknownChargerPolicy = .accept,
        requireSubprotocol: Bool = false,
        maximumMessageSize: Int = 64 * 1024,
        pingInterval: Int = 60,
        missedPongLimit: Int = 3,
        handshakeTimeout: Int = 10,
        callTimeout: Int = 30,
        callQueueLimit: Int = 64,
        queueCapacity: Int = 8192,
        commitIntervalMilliseconds: Int = 5,
        acceptUnknownIDTags: Bool = false,
        dataTransferVendorIDs: Set<String> = [],
        authorizationCacheSeconds: Int = 300,
        chargerCertificateAuthority: ChargerCertificateAuthority? = nil,
        allowedOrigins: Set<String> = [],
        maximumConnectorID: Int = Int(Int32.max)
    ) {
        self.heartbeatInterval = heartbeatInterval
        self.unknownChargers = unknownChargers
        self.requireSubprotocol = requireSubprotocol
        self.maximumMessageSize = maximumMessageSize
        self.pingInterval = pingInterval
        self.missedPongLimit = missedPongLimit
        self.handshakeTimeout = handshakeTimeout
        self.callTimeout = callTimeout
        self.callQueueLimit = callQueueLimit
        self.queueCapacity = queueCapacity
        self.commitIntervalMilliseconds = commitIntervalMilliseconds
        self.acceptUnknownIDTags = acceptUnknownIDTags
        self.dataTransferVendorIDs = dataTransferVendorIDs
        self.authorizationCacheSeconds = authorizationCacheSeconds
        self.chargerCertificateAuthority = chargerCertificateAuthority
        self.allowedOrigins = allowedOrigins
        self.maximumConnectorID = maximumConnectorID
    }
}
