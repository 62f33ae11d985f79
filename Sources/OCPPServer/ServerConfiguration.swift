import API
import ArgumentParser
import Foundation
import Ingest
import Logging
import Relational
import TimeSeries

/// The server's settings: command-line flags over environment variables over defaults.
struct ServerConfiguration: Sendable, Equatable {
    var host: String
    var port: Int
    var databaseURL: DatabaseURL
    var logLevel: Logger.Level
    var dataDirectory: String
    var ingest = IngestConfiguration()
    var timeSeries = TimeSeriesOptions()
    /// The security profile of chargers created without one (`OCPP_DEFAULT_SECURITY_PROFILE`).
    var defaultSecurityProfile = 0
    /// The TLS listener's settings, when `TLS_CERT_FILE` and `TLS_KEY_FILE` are set.
    var tls: TLSSettings?
    /// `API_AUTH_DISABLED`: the REST API answers without tokens (loopback only).
    var apiAuthenticationDisabled = false
    /// `METRICS_PUBLIC`: `/metrics` answers without a token.
    var metricsPublic = false
    /// The JSON Web Key Set JWTs are checked against (the text of `API_JWKS_FILE`); `nil`: no JWTs.
    var jwks: String?
    /// The claim a JWT's role is in (`API_JWT_ROLE_CLAIM`).
    var jwtRoleClaim = "role"
    /// The claim a JWT's company id is in (`API_JWT_COMPANY_CLAIM`).
    var jwtCompanyClaim = "company_id"
    /// The node's place in a cluster, when `NODE_URL` is set; `nil`: a server on its own.
    var cluster: ClusterSettings?

    static let defaultHost = "0.0.0.0"
    static let defaultPort = 8000
    static let defaultLogLevel = "INFO"
    static let defaultDataDirectory = "./data"
    static let defaultTLSPort = 8443

    /// Resolves the settings.
    /// - Parameters:
    ///   - options: The flags given on the command line.
    ///   - environment: The process environment (`HOST`, `PORT`, `DATABASE_URL`, `LOG_LEVEL`, `DATA_DIR`).
    /// - Throws: `ValidationError` naming the setting and what it accepts.
    init(options: ServerOptions, environment: [String: String]) throws {
        host = options.host ?? environment["HOST"] ?? Self.defaultHost
        guard !host.isEmpty else { throw ValidationError("HOST must not be empty") }

        if let port = options.port {
            self.port = port
        } else if let text = environment["PORT"] {
            guard let port = Int(text) else { throw ValidationError("PORT '\(text)' is not a number") }
            self.port = port
        } else {
            self.port = Self.defaultPort
        }
        guard (0...65535).contains(port) else { throw ValidationError("port \(port) is not in 0...65535") }

        let url = options.databaseURL ?? environment["DATABASE_URL"] ?? DatabaseURL.defaultURL
        do {
            databaseURL = try DatabaseURL(url)
        } catch {
            throw ValidationError(error.description)
        }

        let level = options.logLevel ?? environment["LOG_LEVEL"] ?? Self.defaultLogLevel
        guard let logLevel = Self.logLevel(named: level) else {
            throw ValidationError(
                "LOG_LEVEL '\(level)' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL, TRACE, NOTICE (any case)"
            )
        }
        self.logLevel = logLevel

        dataDirectory = options.dataDirectory ?? environment["DATA_DIR"] ?? Self.defaultDataDirectory
        guard !dataDirectory.isEmpty else { throw ValidationError("DATA_DIR must not be empty") }

        try readIngestSettings(environment)
        try readSecuritySettings(environment)
        try readAPISettings(environment)
        try readClusterSettings(environment)
    }

    /// The cluster settings (environment only): with `NODE_URL`, the server is a node of a
    /// cluster, which needs a PostgreSQL database, `NODE_ID` and a `CLUSTER_SECRET` of at least
    /// 32 characters; without it, none of the cluster's settings may be set.
    private mutating func readClusterSettings(_ environment: [String: String]) throws {
        func value(_ name: String) -> String? {
            guard let text = environment[name], !text.isEmpty else { return nil }
            return text
        }
        guard let url = value("NODE_URL") else {
            for name in ["NODE_ID", "CLUSTER_SECRET", "CLUSTER_LEASE_SECONDS"] where value(name) != nil {
                throw ValidationError("\(name) is set but NODE_URL is not; set NODE_URL to run as a node of a cluster")
            }
            return
        }
        guard case .postgres = databaseURL else {
            throw ValidationError(
                "NODE_URL is set, so this server is a node of a cluster, and the nodes share one PostgreSQL "
                    + "database: DATABASE_URL must be postgres://... (it is \(databaseURL))"
            )
        }
        guard let nodeID = value("NODE_ID") else {
            throw ValidationError(
                "NODE_URL is set but NODE_ID is not; give each node of the cluster its own id "
                    + "(1 to 64 letters, digits, '-', '_' or '.')"
            )
        }
        guard let secretText = value("CLUSTER_SECRET") else {
            throw ValidationError(
                "NODE_URL is set but CLUSTER_SECRET is not; the nodes of a cluster share a secret of at least "
                    + "\(ClusterSecret.minimumLength) characters"
            )
        }
        var leaseSeconds = ClusterSettings.defaultLeaseSeconds
        if let text = value("CLUSTER_LEASE_SECONDS") {
            let range = ClusterSettings.leaseSecondsRange
            guard let number = Int(text), range.contains(number) else {
                throw ValidationError(
                    "CLUSTER_LEASE_SECONDS '\(text)' is not a whole number in \(range.lowerBound)...\(range.upperBound)"
                )
            }
            leaseSeconds = number
        }
        do {
            cluster = try ClusterSettings(
                nodeID: nodeID,
                nodeURL: try ClusterNodeURL(url),
                secret: try ClusterSecret(secretText),
                leaseSeconds: leaseSeconds
            )
        } catch let error as ClusterSettingsError {
            throw ValidationError(error.reason)
        } catch let error as ClusterSecretError {
            throw ValidationError(error.reason)
        }
    }

    /// The REST API's authentication settings (environment only).
    private mutating func readAPISettings(_ environment: [String: String]) throws {
        apiAuthenticationDisabled = try Self.flag("API_AUTH_DISABLED", environment) ?? false
        metricsPublic = try Self.flag("METRICS_PUBLIC", environment) ?? false
        if let path = environment["API_JWKS_FILE"], !path.isEmpty {
            do {
                jwks = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ValidationError("API_JWKS_FILE '\(path)' cannot be read: \(error.localizedDescription)")
            }
        }
        if let claim = environment["API_JWT_ROLE_CLAIM"], !claim.isEmpty { jwtRoleClaim = claim }
        if let claim = environment["API_JWT_COMPANY_CLAIM"], !claim.isEmpty { jwtCompanyClaim = claim }
        if apiAuthenticationDisabled, !Self.isLoopback(host) {
            throw ValidationError(
                "API_AUTH_DISABLED=true is refused: HOST '\(host)' is not a loopback address "
                    + "(127.0.0.0/8, ::1, localhost), so anyone reaching the server could use the API without a token"
            )
        }
    }

    /// A true/false setting: 1, true, yes, on or 0, false, no, off (any case); `nil` when unset.
    static func flag(_ name: String, _ environment: [String: String]) throws -> Bool? {
        guard let text = environment[name], !text.isEmpty else { return nil }
        switch text.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ValidationError("\(name) '\(text)' is not true or false")
        }
    }

    /// The security settings (environment only): the default security profile, the TLS
    /// listener and the charger CA. The files are checked here, so a server that cannot use
    /// them does not start.
    private mutating func readSecuritySettings(_ environment: [String: String]) throws {
        func value(_ name: String) -> String? {
            guard let text = environment[name], !text.isEmpty else { return nil }
            return text
        }
        if let text = value("OCPP_DEFAULT_SECURITY_PROFILE") {
            guard let profile = Int(text), (0...3).contains(profile) else {
                throw ValidationError("OCPP_DEFAULT_SECURITY_PROFILE '\(text)' is not 0, 1, 2 or 3")
            }
            defaultSecurityProfile = profile
        }
        switch (value("TLS_CERT_FILE"), value("TLS_KEY_FILE")) {
        case (let certificate?, let key?):
            var tlsPort = Self.defaultTLSPort
            if let text = value("TLS_PORT") {
                guard let number = Int(text), (0...65535).contains(number) else {
                    throw ValidationError("TLS_PORT '\(text)' is not a port number in 0...65535")
                }
                tlsPort = number
            }
            if tlsPort == port, tlsPort != 0 {
                throw ValidationError(
                    "TLS_PORT \(tlsPort) is the same as PORT; the TLS listener needs a port of its own"
                )
            }
            let settings = TLSSettings(
                port: tlsPort,
                certificateFile: certificate,
                keyFile: key,
                clientCAFile: value("TLS_CLIENT_CA_FILE")
            )
            do {
                _ = try settings.makeContext()
            } catch {
                throw ValidationError(error.description)
            }
            tls = settings
        case (nil, nil):
            for name in ["TLS_PORT", "TLS_CLIENT_CA_FILE"] where value(name) != nil {
                throw ValidationError(
                    "\(name) is set but TLS_CERT_FILE and TLS_KEY_FILE are not; set both to enable TLS"
                )
            }
        case (_?, nil):
            throw ValidationError("TLS_CERT_FILE is set but TLS_KEY_FILE is not; set both to enable TLS")
        case (nil, _?):
            throw ValidationError("TLS_KEY_FILE is set but TLS_CERT_FILE is not; set both to enable TLS")
        }
        switch (value("OCPP_CHARGER_CA_CERT_FILE"), value("OCPP_CHARGER_CA_KEY_FILE")) {
        case (let certificate?, let key?):
            do {
                ingest.chargerCertificateAuthority = try ChargerCertificateAuthority(
                    certificateFile: certificate,
                    keyFile: key
                )
            } catch {
                throw ValidationError(
                    "OCPP_CHARGER_CA_CERT_FILE and OCPP_CHARGER_CA_KEY_FILE cannot be used: \(error.description)"
                )
            }
        case (nil, nil):
            break
        default:
            throw ValidationError(
                "set both OCPP_CHARGER_CA_CERT_FILE and OCPP_CHARGER_CA_KEY_FILE, or neither"
            )
        }
    }

    /// Whether `host` is a loopback address (the server is unreachable from other machines):
    /// `localhost`, `::1` (also bracketed) or an IPv4 address in 127.0.0.0/8.
    static func isLoopback(_ host: String) -> Bool {
        let name = host.lowercased()
        if name == "localhost" || name == "::1" || name == "[::1]" { return true }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return false }
        let values = octets.compactMap { octet -> Int? in
            guard (1...3).contains(octet.count), octet.allSatisfy(\.isASCII), octet.allSatisfy(\.isNumber) else {
                return nil
            }
            return Int(octet)
        }
        return values.count == 4 && values.allSatisfy { $0 <= 255 } && values[0] == 127
    }

    /// The OCPP front end's and the time-series store's settings (environment only).
    private mutating func readIngestSettings(_ environment: [String: String]) throws {
        func integer(_ name: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let text = environment[name] else { return nil }
            guard let value = Int(text), range.contains(value) else {
                throw ValidationError(
                    "\(name) '\(text)' is not a whole number in \(range.lowerBound)...\(range.upperBound)"
                )
            }
            return value
        }
        func flag(_ name: String) throws -> Bool? {
            guard let text = environment[name] else { return nil }
            switch text.lowercased() {
            case "1", "true", "yes", "on": return true
            case "0", "false", "no", "off": return false
            default: throw ValidationError("\(name) '\(text)' is not true or false")
            }
        }
        if let value = try integer("OCPP_HEARTBEAT_INTERVAL", 1...86_400) { ingest.heartbeatInterval = value }
        if let text = environment["OCPP_UNKNOWN_CHARGERS"] {
            guard let policy = UnknownChargerPolicy(rawValue: text.lowercased()) else {
                throw ValidationError("OCPP_UNKNOWN_CHARGERS '\(text)' is not one of accept, pending, reject")
            }
            ingest.unknownChargers = policy
        }
        if let value = try flag("OCPP_REQUIRE_SUBPROTOCOL") { ingest.requireSubprotocol = value }
        if let value = try integer("OCPP_MAX_MESSAGE_SIZE", 1024...16 * 1024 * 1024) {
            ingest.maximumMessageSize = value
        }
        if let value = try integer("OCPP_PING_INTERVAL", 1...86_400) { ingest.pingInterval = value }
        if let value = try integer("OCPP_CALL_TIMEOUT", 1...3600) { ingest.callTimeout = value }
        if let value = try integer("OCPP_COMMIT_INTERVAL_MS", 0...1000) { ingest.commitIntervalMilliseconds = value }
        if let value = try flag("OCPP_ACCEPT_UNKNOWN_ID_TAGS") { ingest.acceptUnknownIDTags = value }
        if let text = environment["OCPP_DATA_TRANSFER_VENDOR_IDS"] {
            ingest.dataTransferVendorIDs = Set(text.split(separator: ",").map { String($0) }.filter { !$0.isEmpty })
        }
        if let text = environment["OCPP_ALLOWED_ORIGINS"] {
            ingest.allowedOrigins = Set(
                text.split(separator: ",").map { $0.filter { $0 != " " && $0 != "\t" } }.filter { !$0.isEmpty }
            )
        }
        if let text = environment["TS_SYNC"] {
            if text.lowercased() == "always" {
                timeSeries.syncPolicy = .always
            } else if let milliseconds = Int(text), milliseconds > 0 {
                timeSeries.syncPolicy = .interval(milliseconds: milliseconds)
            } else {
                throw ValidationError("TS_SYNC '\(text)' is not 'always' or a sync interval in milliseconds")
            }
        }
        if let value = try integer("TS_RETENTION_DAYS", 1...36_500) { timeSeries.retentionDays = value }
        if let value = try integer("TS_MAINTENANCE_INTERVAL", 1...86_400) {
            timeSeries.maintenanceInterval = .seconds(value)
        }
        if let value = try integer("TS_MAX_OPEN_FILES", 16...1_000_000) { timeSeries.maximumOpenFiles = value }
        if let value = try integer("TS_BACKGROUND_CPU_PERCENT", 1...100) { timeSeries.backgroundCPUPercent = value }
        if let value = try integer("OCPP_STREAM_BUFFER_ROWS", 100...10_000_000) { timeSeries.liveBufferRows = value }
        if let value = try integer("OCPP_STREAM_MAX", 0...1_000_000) { timeSeries.maximumLiveSubscribers = value }
        try readLimits(integer)
    }

    static let defaultMaximumConnectorID = 100
    static let defaultMaximumSeriesPerCharger = 1000
    static let defaultTimestampWindow = TimestampWindow(pastDays: 30, futureHours: 24)

    /// The limits against bad chargers: the highest connector id, the series per charger, and
    /// the window of timestamps that get partitions of their own (README, "Limits").
    private mutating func readLimits(_ integer: (String, ClosedRange<Int>) throws -> Int?) throws {
        ingest.maximumConnectorID =
            try integer("OCPP_MAX_CONNECTOR_ID", 1...Int(Int32.max)) ?? Self.defaultMaximumConnectorID
        timeSeries.maximumSeriesPerChargePoint =
            try integer("OCPP_MAX_SERIES_PER_CHARGER", 10...100_000_000) ?? Self.defaultMaximumSeriesPerCharger
        var window = Self.defaultTimestampWindow
        if let value = try integer("OCPP_TIMESTAMP_PAST_DAYS", 1...36_500) { window.pastDays = value }
        if let value = try integer("OCPP_TIMESTAMP_FUTURE_HOURS", 1...87_600) { window.futureHours = value }
        timeSeries.timestampWindow = window
    }

    /// Python's level names (the original service's) and swift-log's own.
    static func logLevel(named name: String) -> Logger.Level? {
        switch name.uppercased() {
        case "TRACE": return .trace
        case "DEBUG": return .debug
        case "INFO": return .info
        case "NOTICE": return .notice
        case "WARNING", "WARN": return .warning
        case "ERROR": return .error
        case "CRITICAL": return .critical
        default: return nil
        }
    }
}

/// The flags that override the environment.
struct ServerOptions: ParsableArguments {
    @Option(help: "Address to listen on (env HOST, default 0.0.0.0).")
    var host: String?

    @Option(help: "Port for REST and OCPP WebSocket (env PORT, default 8000; 0 picks a free port).")
    var port: Int?

    @Option(
        name: .customLong("database-url"),
        help: "Relational database (env DATABASE_URL, default \(DatabaseURL.defaultURL))."
    )
    var databaseURL: String?

    @Option(
        name: .customLong("log-level"),
        help: "DEBUG, INFO, WARNING, ERROR, CRITICAL, TRACE or NOTICE (env LOG_LEVEL, default INFO)."
    )
    var logLevel: String?

    @Option(name: .customLong("data-dir"), help: "Directory of the time-series store (env DATA_DIR, default ./data).")
    var dataDirectory: String?
}
