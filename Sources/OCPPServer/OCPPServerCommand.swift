import API
import ArgumentParser
import Foundation
import Ingest
import Logging
import Metrics
import NIOCore
import Prometheus
import Relational
import ServiceLifecycle
import TimeSeries

/// `ocpp-server`: the OCPP 1.6J Central System.
@main
struct OCPPServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ocpp-server",
        abstract: "OCPP 1.6J Central System: WebSocket ingest, time-series meter history and a REST API.",
        subcommands: [Serve.self, Migrate.self, Token.self, Repair.self, Backup.self, Restore.self],
        defaultSubcommand: Serve.self
    )
}

extension OCPPServerCommand {
    /// Runs the server.
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the server (the default command)."
        )

        @OptionGroup var options: ServerOptions

        @Flag(help: "Do not bring the relational schema up to date on start.")
        var skipMigrations = false

        func run() async throws {
            let settings = try ServerConfiguration(options: options, environment: ProcessInfo.processInfo.environment)
            let logger = bootstrapLogging(level: settings.logLevel)
            let store = try await openStore(settings, migrate: !skipMigrations, logger: logger)
            do {
                await createInitialToken(store: store, settings: settings, logger: logger)
                try await serve(settings, store: store, logger: logger)
            } catch {
                await store.shutdown()
                throw error
            }
            await store.shutdown()
        }

        private func serve(_ settings: ServerConfiguration, store: RelationalStore, logger: Logger) async throws {
            do {
                try FileManager.default.createDirectory(
                    atPath: settings.dataDirectory,
                    withIntermediateDirectories: true
                )
            } catch {
                throw ValidationError("DATA_DIR '\(settings.dataDirectory)' cannot be created: \(error)")
            }
            // Held until the server exits: a second server, repair or restore is refused meanwhile.
            let dataDirectoryLock: DataDirectoryLock
            do {
                dataDirectoryLock = try DataDirectoryLock(directory: settings.dataDirectory)
            } catch {
                throw ValidationError("DATA_DIR cannot be used: \(error)")
            }
            defer { dataDirectoryLock.release() }
            logger.info(
                "Starting ocpp-server",
                metadata: [
                    "database": "\(settings.databaseURL)",
                    "data_dir": "\(settings.dataDirectory)",
                    "default_security_profile": "\(settings.defaultSecurityProfile)",
                    "tls_port": "\(settings.tls.map { "\($0.port)" } ?? "off")",
                    "cluster_node": "\(settings.cluster.map { "\($0.nodeID) at \($0.nodeURL)" } ?? "off")",
                ]
            )
            if settings.defaultSecurityProfile == 0, !ServerConfiguration.isLoopback(settings.host) {
                logger.notice(
                    "Chargers without a security profile get profile 0: anyone reaching the server can connect as them",
                    metadata: [
                        "host": "\(settings.host)",
                        "hint": "set OCPP_DEFAULT_SECURITY_PROFILE (1 to 3) and give chargers keys or certificates",
                    ]
                )
            }
            // Metrics first: the time-series store reports its WAL syncs from the start.
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            let walSync = Metrics.Timer(label: "ocpp_wal_sync_seconds")
            let timeSeries: TimeSeriesStore
            do {
                timeSeries = try TimeSeriesStore(
                    directory: settings.dataDirectory,
                    options: settings.timeSeries,
                    walSyncObserver: { walSync.recordNanoseconds(Int64($0)) },
                    logger: logger
                )
            } catch let damage as TimeSeriesDamageError {
                throw TimeSeriesStoreDamaged(directory: settings.dataDirectory, damage: damage)
            } catch {
                throw ValidationError("the time-series store in '\(settings.dataDirectory)' cannot be opened: \(error)")
            }
            let recovery = timeSeries.recovery
            if let converted = recovery.convertedSeries {
                logger.notice(
                    "Time-series store converted from format version 1 (series without the transaction)",
                    metadata: ["series_before": "\(converted.before)", "series_after": "\(converted.after)"]
                )
            }
            if recovery.replayedRows > 0 || !recovery.truncatedTails.isEmpty || !recovery.corruptSegments.isEmpty {
                logger.notice(
                    "Time-series store recovered",
                    metadata: [
                        "replayed_rows": "\(recovery.replayedRows)",
                        "truncated_tails": "\(recovery.truncatedTails)",
                        "corrupt_segments": "\(recovery.corruptSegments)",
                    ]
                )
            }
            // In a cluster: registers the node, keeps its lease and records the chargers it holds.
            let membership = settings.cluster.map { ClusterMembership(settings: $0, store: store, logger: logger) }
            let ingest = OCPPIngest(
                configuration: settings.ingest,
                timeSeries: timeSeries,
                relational: store,
                cluster: membership,
                logger: logger
            )
            let forwarder = settings.cluster.map {
                ClusterForwarder(
                    settings: $0,
                    relational: store,
                    callTimeoutSeconds: settings.ingest.callTimeout,
                    routes: membership?.routes
                )
            }
            var jwt: APIJWTVerifier?
            if let jwks = settings.jwks {
                do {
                    jwt = try await APIJWTVerifier(
                        jwks: jwks,
                        roleClaim: settings.jwtRoleClaim,
                        companyClaim: settings.jwtCompanyClaim
                    )
                } catch {
                    throw ValidationError("API_JWKS_FILE cannot be used: \(error)")
                }
            }
            let authentication: APIAuthentication =
                settings.apiAuthenticationDisabled
                ? .disabled
                : .bearer(APIAuthenticator(store: store, jwt: jwt), metricsPublic: settings.metricsPublic)
            let application = APIApplication.make(
                host: settings.host,
                port: settings.port,
                ingest: ingest,
                timeSeries: timeSeries,
                relational: store,
                metrics: registry,
                authentication: authentication,
                cluster: forwarder,
                logger: logger,
                onServerRunning: { channel in
                    let address = channel.localAddress.map { "\($0)" } ?? "unknown"
                    logger.notice("Listening", metadata: ["address": "\(address)"])
                }
            )
            var tlsServer: TLSServer?
            if let tls = settings.tls {
                let listener: TLSListener
                do {
                    listener = try TLSListener(settings: tls, logger: logger)
                } catch {
                    throw ValidationError(error.description)
                }
                let tlsApplication = APIApplication.make(
                    host: settings.host,
                    port: tls.port,
                    tls: listener,
                    ingest: ingest,
                    timeSeries: timeSeries,
                    relational: store,
                    metrics: registry,
                    authentication: authentication,
                    cluster: forwarder,
                    logger: logger,
                    onServerRunning: { channel in
                        let address = channel.localAddress.map { "\($0)" } ?? "unknown"
                        logger.notice(
                            "Listening with TLS",
                            metadata: [
                                "address": "\(address)",
                                "client_certificates": "\(tls.clientCAFile == nil ? "not asked for" : "verified")",
                            ]
                        )
                    }
                )
                tlsServer = await TLSServer.reloadingOnSIGHUP(application: tlsApplication, listener: listener)
            }
            // SIGTERM or SIGINT: the server stops accepting and its connections close, the
            // event writer writes what they sent, the coalescer flushes, the store closes.
            // SIGHUP reloads the TLS certificate and key.
            try await APIApplication.serviceGroup(
                application: application,
                tls: tlsServer,
                ingest: ingest,
                timeSeries: timeSeries,
                // Retention, compaction and the ocpp_ts_* gauges, every TS_MAINTENANCE_INTERVAL.
                maintenance: TimeSeriesMaintenance(store: timeSeries, logger: logger),
                logger: logger
            ).run()
            logger.notice("Stopped")
        }
    }

    /// Brings the relational schema up to date.
    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bring the relational database schema up to date, then exit."
        )

        @OptionGroup var options: ServerOptions

        func run() async throws {
            let settings = try ServerConfiguration(options: options, environment: ProcessInfo.processInfo.environment)
            let logger = bootstrapLogging(level: settings.logLevel)
            let store = try await openStore(settings, migrate: true, logger: logger)
            await store.shutdown()
        }
    }
}

/// Opens the relational store and, when asked, applies the migrations it lacks.
/// - Throws: `ValidationError` with the store's message, so the command exits with it.
func openStore(_ settings: ServerConfiguration, migrate: Bool, logger: Logger) async throws -> RelationalStore {
    try await openStore(
        url: settings.databaseURL,
        defaultSecurityProfile: settings.defaultSecurityProfile,
        migrate: migrate,
        logger: logger
    )
}

/// Opens the relational store at `url` and, when asked, applies the migrations it lacks.
/// - Throws: `ValidationError` with the store's message, so the command exits with it.
func openStore(
    url: DatabaseURL,
    defaultSecurityProfile: Int = 0,
    migrate: Bool,
    logger: Logger
) async throws -> RelationalStore {
    let store: RelationalStore
    do {
        store = try await RelationalStore(
            url: url,
            logger: logger,
            defaultSecurityProfile: defaultSecurityProfile
        )
    } catch {
        throw ValidationError("\(error)")
    }
    guard migrate else { return store }
    do {
        let applied = try await store.migrate()
        logger.notice(
            applied.isEmpty ? "Relational schema is up to date" : "Relational schema migrated",
            metadata: [
                "database": "\(url)",
                "applied": "\(applied)",
                "version": "\(RelationalStore.knownMigrations.last ?? 0)",
            ]
        )
        return store
    } catch {
        await store.shutdown()
        throw ValidationError("migrating \(url) failed: \(error)")
    }
}

/// Routes swift-log to standard error at `level` and returns the server's logger.
func bootstrapLogging(level: Logger.Level) -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
    var logger = Logger(label: "ocpp-server")
    logger.logLevel = level
    return logger
}
