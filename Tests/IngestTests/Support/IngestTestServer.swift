import API
import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Relational
import ServiceLifecycle
import TestSupport
import Testing
import TimeSeries

@testable import Ingest

/// The PEM files of a test's TLS listener.
struct TestTLSFiles: Sendable {
    /// The server certificate (chain).
    var certificate: String
    /// Its private key.
    var key: String
    /// The CA client certificates are verified against, if any.
    var clientCA: String?
}

/// The real server stack for a test: a time-series store and an SQLite database in a
/// temporary directory, the ingest front end, and the HTTP server on a free port (with TLS
/// files, a TLS listener on another), run in the executable's service group.
final class IngestTestServer: Sendable {
    let directory: URL
    let timeSeries: TimeSeriesStore
    let relational: RelationalStore
    let ingest: OCPPIngest
    let port: Int
    /// The TLS listener's port, when started with TLS files.
    let tlsPort: Int?
    /// The TLS listener's context source (``TLSListener/reload()`` is what SIGHUP does).
    let tlsListener: TLSListener?
    private let group: ServiceGroup
    private let task: Task<Void, any Error>
    private let dropDatabase: (@Sendable () async throws -> Void)?
    private let stopped = NIOLockedValueBox(false)

    static let logger: Logger = {
        var logger = Logger(label: "ingest-tests")
        logger.logLevel =
            ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .critical
        return logger
    }()

    private init(
        directory: URL,
        timeSeries: TimeSeriesStore,
        relational: RelationalStore,
        ingest: OCPPIngest,
        port: Int,
        tls: (port: Int, listener: TLSListener)?,
        group: ServiceGroup,
        task: Task<Void, any Error>,
        dropDatabase: (@Sendable () async throws -> Void)?
    ) {
        self.tlsPort = tls?.port
        self.tlsListener = tls?.listener
        self.dropDatabase = dropDatabase
        self.directory = directory
        self.timeSeries = timeSeries
        self.relational = relational
        self.ingest = ingest
        self.port = port
        self.group = group
        self.task = task
    }

    /// - Parameters:
    ///   - configuration: The ingest settings.
    ///   - backend: The relational database: an SQLite file in the directory (the default), or
    ///     a fresh database on the PostgreSQL server `scripts/test.sh` starts.
    ///   - commitClock: The clock of the event writer's commit interval (uptime by default).
    ///   - defaultSecurityProfile: The profile of chargers created without one.
    ///   - tls: The TLS listener's files; without them there is no TLS listener.
    ///   - timeSeriesOptions: The time-series store's settings.
    ///   - database: A database another server shares (migrated already, left in place on stop);
    ///     it overrides `backend`.
    ///   - cluster: The node's cluster settings; its URL's port is the port the server listens on.
    static func start(
        _ configuration: IngestConfiguration = IngestConfiguration(),
        backend: TestBackend = .sqlite,
        commitClock: any CommitClock = UptimeCommitClock(),
        defaultSecurityProfile: Int = 0,
        tls: TestTLSFiles? = nil,
        authenticated: Bool = false,
        timeSeriesOptions: TimeSeriesOptions = TimeSeriesOptions(),
        database shared: DatabaseURL? = nil,
        cluster: ClusterSettings? = nil
    ) async throws -> IngestTestServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ocpp-ingest-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let timeSeries = try TimeSeriesStore(
            directory: directory.appendingPathComponent("data").path,
            options: timeSeriesOptions
        )
        let database: DatabaseURL
        var dropDatabase: (@Sendable () async throws -> Void)?
        if let shared {
            database = shared
        } else {
            switch backend {
            case .sqlite:
                database = .sqlite(.file(path: directory.appendingPathComponent("store.db").path))
            case .postgres:
                let made = try await backend.makeDatabase()
                database = made.url
                dropDatabase = made.drop
            }
        }
        let relational = try await RelationalStore(
            url: database,
            logger: logger,
            defaultSecurityProfile: defaultSecurityProfile
        )
        try await relational.migrate()
        let membership = cluster.map { ClusterMembership(settings: $0, store: relational, logger: logger) }
        let ingest = OCPPIngest(
            configuration: configuration,
            timeSeries: timeSeries,
            relational: relational,
            cluster: membership,
            commitClock: commitClock,
            logger: logger
        )
        let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
        let application = APIApplication.make(
            host: "127.0.0.1",
            port: cluster?.nodeURL.port ?? 0,
            ingest: ingest,
            timeSeries: timeSeries,
            relational: relational,
            authentication: authenticated ? .bearer(APIAuthenticator(store: relational)) : .disabled,
            cluster: cluster.map {
                ClusterForwarder(
                    settings: $0,
                    relational: relational,
                    callTimeoutSeconds: configuration.callTimeout,
                    routes: membership?.routes
                )
            },
            logger: logger
        ) { channel in
            portContinuation.yield(channel.localAddress?.port ?? 0)
            portContinuation.finish()
        }
        var tlsServer: TLSServer?
        let (tlsPortStream, tlsPortContinuation) = AsyncStream<Int>.makeStream()
        if let tls {
            let listener = try TLSListener(
                settings: TLSSettings(
                    port: 0,
                    certificateFile: tls.certificate,
                    keyFile: tls.key,
                    clientCAFile: tls.clientCA
                ),
                logger: logger
            )
            let tlsApplication = APIApplication.make(
                host: "127.0.0.1",
                port: 0,
                tls: listener,
                ingest: ingest,
                timeSeries: timeSeries,
                relational: relational,
                authentication: .disabled,
                logger: logger
            ) { channel in
                tlsPortContinuation.yield(channel.localAddress?.port ?? 0)
                tlsPortContinuation.finish()
            }
            tlsServer = TLSServer(application: tlsApplication, listener: listener)
        } else {
            tlsPortContinuation.finish()
        }
        let group = APIApplication.serviceGroup(
            application: application,
            tls: tlsServer,
            ingest: ingest,
            timeSeries: timeSeries,
            shutsDownOnSignals: false,
            logger: logger
        )
        let task = Task {
            // A group that ends before it listens (a port in use, say) ends the wait below.
            defer {
                portContinuation.finish()
                tlsPortContinuation.finish()
            }
            try await group.run()
        }
        var iterator = portStream.makeAsyncIterator()
        guard let port = await iterator.next() else { throw TestFailure("the server did not start") }
        var tlsIterator = tlsPortStream.makeAsyncIterator()
        let tlsPort = await tlsIterator.next()
        if tls != nil, tlsPort == nil { throw TestFailure("the TLS server did not start") }
        return IngestTestServer(
            directory: directory,
            timeSeries: timeSeries,
            relational: relational,
            ingest: ingest,
            port: port,
            tls: tlsServer.flatMap { server in tlsPort.map { ($0, server.listener) } },
            group: group,
            task: task,
            dropDatabase: dropDatabase
        )
    }

    /// Shuts down as SIGTERM does: stop accepting, answer what was received, close the
    /// WebSockets with 1001; then the writers finish and the stores close (the group's order).
    /// - Parameter keepFiles: Leave the data directory for the test to reopen (it removes it).
    func stop(keepFiles: Bool = false) async {
        // A test may stop a server before the code that started it does.
        let alreadyStopped = stopped.withLockedValue { stopped in
            defer { stopped = true }
            return stopped
        }
        guard !alreadyStopped else { return }
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        await relational.shutdown()
        try? await dropDatabase?()
        if !keepFiles { try? FileManager.default.removeItem(at: directory) }
    }

    /// Every row stored for `chargePointID`, oldest first.
    func rows(_ chargePointID: String, kinds: Set<SeriesKey.Kind>? = nil) throws -> [EventRow] {
        var rows: [EventRow] = []
        var cursor: EventCursor?
        repeat {
            let page = try timeSeries.query(
                EventQuery(chargePointIDs: [chargePointID], kinds: kinds, limit: 10_000, cursor: cursor)
            )
            rows += page.rows
            cursor = page.nextCursor
        } while cursor != nil
        return rows
    }

    /// Connects a test charger.
    func connect(_ id: String, answerPings: Bool = true) async throws -> TestChargePoint {
        try await TestChargePoint.connect(port: port, id: id, answerPings: answerPings)
    }

    /// Waits until `condition` holds (for effects that are applied in the background).
    func eventually(
        timeout: Duration = .seconds(10),
        _ what: String,
        _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting until \(what)") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

extension IngestTestServer {
    /// A JSON object from the REST API, expecting a 2xx answer.
    func json(_ method: String, _ path: String, _ body: String? = nil) async throws -> [String: Any] {
        let answer = try await CommandEndpointTests.http(port, method, path, body: body)
        #expect((200..<300).contains(answer.status), "\(method) \(path): \(answer.body)")
        return try object(answer.json as Any)
    }
}
