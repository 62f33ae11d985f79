import ArgumentParser
import Foundation
import Histogram
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import Synchronization

/// `ocpp-loadgen`: a fleet of simulated OCPP 1.6J chargers against a central system.
@main
struct LoadgenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ocpp-loadgen",
        abstract: "Simulate a fleet of OCPP 1.6J chargers and measure the central system's ingest."
    )

    @Option(help: "Number of chargers (one WebSocket each).")
    var chargers = 100

    @Option(name: .customLong("connectors-per-charger"), help: "Connectors per charger.")
    var connectorsPerCharger = 2

    @Option(name: .customLong("sampled-values"), help: "Sampled values per MeterValues message.")
    var sampledValues = 10

    @Option(help: "Per charger, one message every INTERVAL (e.g. 15s, 500ms). Without it: flat out.")
    var interval: String?

    @Option(help: "Flat out: calls outstanding per connection.")
    var window = 1

    @Option(help: "How long to measure, after the ramp-up (e.g. 30s).")
    var duration = "30s"

    @Option(name: .customLong("ramp-up"), help: "How long to take opening the connections.")
    var rampUp = "0s"

    @Option(help: "The OCPP endpoint (ws:// or wss://); the charger id is appended.")
    var url = "ws://127.0.0.1:8000/ocpp"

    @Option(name: .customLong("ca-file"), help: "wss://: trust the server certificates this PEM CA file signed.")
    var caFile: String?

    @Option(name: .customLong("client-cert"), help: "wss://: present this PEM certificate (with --client-key).")
    var clientCertificate: String?

    @Option(name: .customLong("client-key"), help: "wss://: the PEM private key of --client-cert.")
    var clientKey: String?

    @Option(name: .customLong("tls-max-version"), help: "wss://: the highest TLS version to offer, 1.2 or 1.3.")
    var tlsMaximumVersion: String?

    @Option(
        name: .customLong("tls-groups"),
        help: ArgumentHelp(
            "wss://: the key exchange groups to offer, comma-separated, of p256, p384, x25519, x25519mlkem768 "
                + "(default: the TLS library's own list, which puts the post-quantum hybrid x25519mlkem768 first; "
                + "an OCPP 1.6 charger's TLS stack offers classic elliptic curves)."
        )
    )
    var tlsGroups: String?

    @Option(
        name: .customLong("auth-key-hex"),
        help: "HTTP Basic authentication on the upgrade: every charger's AuthorizationKey, in hex."
    )
    var authKeyHex: String?

    @Flag(
        name: .customLong("auth-key-per-charger"),
        help: "HTTP Basic authentication with each charger's own key: the first 20 bytes of SHA-256(\"bench:\" + id)."
    )
    var authKeyPerCharger = false

    @Flag(
        name: .customLong("auth-password-hex-text"),
        help: "Send the key's hex text as the password instead of its bytes."
    )
    var authPasswordHexText = false

    @Flag(
        help: ArgumentHelp(
            "Reconnect storm: open every connection at once (no ramp-up), each boots as soon as it is upgraded; "
                + "reports the seconds until every BootNotification is Accepted, then closes."
        )
    )
    var storm = false

    @Option(name: .customLong("storm-timeout"), help: "Storm: give up after this long.")
    var stormTimeout = "120s"

    @Option(
        name: .customLong("retry-delay"),
        help: "Storm: a charger whose attempt failed (not refused with 4xx) retries after 0.5-1.5 times this."
    )
    var retryDelay = "1s"

    @Option(name: .customLong("connect-timeout"), help: "TCP connect timeout.")
    var connectTimeout = "10s"

    @Option(name: .customLong("upgrade-timeout"), help: "How long the TLS handshake and the upgrade may take.")
    var upgradeTimeout = "30s"

    @Option(
        name: .customLong("source-addresses"),
        help: "Local addresses to connect from, e.g. 127.0.0.2-127.0.0.20 (past the ephemeral port limit)."
    )
    var sourceAddresses: String?

    @Option(
        help: ArgumentHelp(
            "meter-values, sessions, mixed, heartbeat or fleet (one call outstanding at most per charger: "
                + "MeterValues every --interval, default 1s, StatusNotification every --status-interval, "
                + "Heartbeat every --heartbeat-interval, each charger's times staggered)."
        )
    )
    var scenario = "meter-values"

    @Option(name: .customLong("status-interval"), help: "Fleet: one StatusNotification per charger this often.")
    var statusInterval = "60s"

    @Option(name: .customLong("heartbeat-interval"), help: "Fleet: one Heartbeat per charger this often.")
    var heartbeatInterval = "300s"

    @Option(name: .customLong("id-prefix"), help: "Charger ids are PREFIX-N.")
    var idPrefix = "LG"

    @Option(name: .customLong("event-loops"), help: "Event loop threads of the simulator.")
    var eventLoops = 1

    @Option(name: .customLong("server-pid"), help: "Sample this process's CPU time and memory from /proc.")
    var serverPID: Int32?

    @Option(help: "Also write the summary as JSON to FILE.")
    var json: String?

    @Option(
        help: ArgumentHelp(
            "Write the measurement's timeline as CSV to FILE: per tenth of a second, the calls answered, how many took over 10, 50 and 200 ms, and the slowest; its first line names the start on CLOCK_MONOTONIC (as perf -k CLOCK_MONOTONIC shows it).",
            valueName: "FILE"
        )
    )
    var timeline: String?

    @Option(name: .customLong("meter-values-per-session"), help: "Sessions scenario: MeterValues per session.")
    var meterValuesPerSession = 20

    @Option(help: "Concurrent connection attempts at most (default 256; a storm: all).")
    var connectConcurrency: Int?

    @Option(
        help: ArgumentHelp(
            "After the run, read the meter history back through the REST API at URL (e.g. http://127.0.0.1:8000) "
                + "and check that every acknowledged sampled value is stored, per charger.",
            valueName: "URL"
        )
    )
    var verify: String?

    func validate() throws {
        guard chargers > 0 else { throw ValidationError("--chargers must be at least 1") }
        guard (1...32).contains(connectorsPerCharger) else {
            throw ValidationError("--connectors-per-charger is 1...32")
        }
        guard (1...200).contains(sampledValues) else { throw ValidationError("--sampled-values is 1...200") }
        guard window >= 1 else { throw ValidationError("--window must be at least 1") }
        guard Scenario(rawValue: scenario) != nil else {
            throw ValidationError(
                "--scenario must be one of \(Scenario.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        _ = try parseDuration(duration, "--duration")
        _ = try parseDuration(rampUp, "--ramp-up")
        guard try parseDuration(statusInterval, "--status-interval") > 0,
            try parseDuration(heartbeatInterval, "--heartbeat-interval") > 0
        else { throw ValidationError("--status-interval and --heartbeat-interval must be more than 0") }
        if let interval { _ = try parseDuration(interval, "--interval") }
        let endpoint = try Endpoint(url)
        if !endpoint.secure, caFile != nil || clientCertificate != nil || tlsMaximumVersion != nil || tlsGroups != nil {
            throw ValidationError("--ca-file, --client-cert, --tls-max-version and --tls-groups need a wss:// --url")
        }
        if let tlsGroups { _ = try ConnectionOptions.curves(tlsGroups) }
        guard (clientCertificate == nil) == (clientKey == nil) else {
            throw ValidationError("--client-cert and --client-key go together")
        }
        if let authKeyHex {
            guard let key = bytes(hex: authKeyHex), (16...20).contains(key.count) else {
                throw ValidationError("--auth-key-hex takes 16 to 20 bytes in hex (32 to 40 hex digits)")
            }
            guard !authKeyPerCharger else {
                throw ValidationError("--auth-key-hex and --auth-key-per-charger exclude each other")
            }
        }
        for (text, name) in [
            (stormTimeout, "--storm-timeout"), (retryDelay, "--retry-delay"), (connectTimeout, "--connect-timeout"),
            (upgradeTimeout, "--upgrade-timeout"),
        ] {
            _ = try parseDuration(text, name)
        }
        if let connectConcurrency, connectConcurrency < 1 {
            throw ValidationError("--connect-concurrency must be at least 1")
        }
        if let sourceAddresses { _ = try parseAddresses(sourceAddresses) }
        if let verify, URL(string: verify)?.scheme?.hasPrefix("http") != true {
            throw ValidationError("--verify takes the REST API's base URL, e.g. http://127.0.0.1:8000")
        }
    }

    /// How the chargers connect and authenticate, from the options.
    func connectionOptions() throws -> ConnectionOptions {
        let endpoint = try Endpoint(url)
        let authentication: UpgradeAuthentication =
            if let authKeyHex, let key = bytes(hex: authKeyHex) {
                .shared(key)
            } else if authKeyPerCharger {
                .perCharger
            } else {
                .none
            }
        return ConnectionOptions(
            endpoint: endpoint,
            address: try SocketAddress.makeAddressResolvingHost(endpoint.host, port: endpoint.port),
            tls: endpoint.secure
                ? try ConnectionOptions.makeTLSContext(
                    caFile: caFile,
                    clientCertificateFile: clientCertificate,
                    clientKeyFile: clientKey,
                    maximumVersion: tlsMaximumVersion,
                    groups: tlsGroups
                ) : nil,
            authentication: authentication,
            passwordAsHexText: authPasswordHexText,
            connectTimeout: .nanoseconds(Int64(try parseDuration(connectTimeout, "--connect-timeout") * 1e9)),
            upgradeTimeout: .nanoseconds(Int64(try parseDuration(upgradeTimeout, "--upgrade-timeout") * 1e9))
        )
    }

    func run() async throws {
        raiseOpenFileLimit()
        let options = try connectionOptions()
        if storm {
            try await runStorm(options: options)
            return
        }
        let connectConcurrency = connectConcurrency ?? 256
        let measure = try parseDuration(duration, "--duration")
        let ramp = try parseDuration(rampUp, "--ramp-up")
        let sources = try sourceAddresses.map(parseAddresses) ?? []
        let group = MultiThreadedEventLoopGroup(numberOfThreads: eventLoops)
        let loops = Array(group.makeIterator())
        let statistics = LoadStatistics(loops: loops)
        let running = RunningFlag()
        let settings = ChargerSettings(
            scenario: Scenario(rawValue: scenario)!,
            connectors: connectorsPerCharger,
            sampledValues: sampledValues,
            interval: try interval.map { .nanoseconds(Int64(try parseDuration($0, "--interval") * 1e9)) },
            window: window,
            meterValuesPerSession: meterValuesPerSession,
            statusInterval: .nanoseconds(Int64(try parseDuration(statusInterval, "--status-interval") * 1e9)),
            heartbeatInterval: .nanoseconds(Int64(try parseDuration(heartbeatInterval, "--heartbeat-interval") * 1e9))
        )
        let runStarted = Date()
        let sampler = serverPID.map { ProcessSampler(pid: $0) }
        let baselineRSS = sampler?.residentBytes()

        let pacing =
            if settings.scenario == .fleet {
                "per charger one call outstanding at most, MeterValues every "
                    + "\((settings.interval ?? .seconds(1)).nanoseconds / 1_000_000) ms, StatusNotification every "
                    + "\(statusInterval), Heartbeat every \(heartbeatInterval)"
            } else {
                settings.interval.map { "one message per \($0.nanoseconds / 1_000_000) ms per charger" }
                    ?? "flat out, window \(window)"
            }
        print(
            "ocpp-loadgen: \(chargers) chargers -> \(url), scenario \(scenario), \(sampledValues) sampled values, "
                + pacing
        )

        // Ramp-up: open the connections, spread over the ramp-up time.
        let handlers = ConnectionSet()
        let started = ContinuousClock.now
        let progress = Task { await Self.progressLoop(statistics: statistics, total: chargers) }
        await withTaskGroup(of: Void.self) { tasks in
            var inFlight = 0
            for index in 0..<chargers {
                if ramp > 0 {
                    let due = started + .nanoseconds(Int64(ramp * 1e9 * Double(index) / Double(chargers)))
                    if due > ContinuousClock.now { try? await Task.sleep(until: due) }
                }
                if inFlight >= connectConcurrency {
                    await tasks.next()
                    inFlight -= 1
                }
                inFlight += 1
                let source = sources.isEmpty ? nil : sources[index % sources.count]
                tasks.addTask {
                    do {
                        let connection = try await Self.connect(
                            index: index,
                            chargePointID: "\(idPrefix)-\(index)",
                            options: options,
                            source: source,
                            group: group,
                            settings: settings,
                            statistics: statistics,
                            running: running
                        )
                        handlers.add(connection.handler)
                    } catch {
                        statistics.connectFailures.wrappingAdd(1, ordering: .relaxed)
                        statistics.problem("charger \(index): \(error)")
                    }
                }
            }
        }
        // Wait (briefly) for the boots to be answered.
        let bootDeadline = ContinuousClock.now + .seconds(30)
        while statistics.booted.load(ordering: .relaxed) + statistics.connectFailures.load(ordering: .relaxed)
            < chargers,
            ContinuousClock.now < bootDeadline
        {
            try await Task.sleep(for: .milliseconds(20))
        }

        // The measurement window.
        let confirmedBefore = statistics.confirmed.load(ordering: .relaxed)
        let sampledBefore = statistics.sampledValues.load(ordering: .relaxed)
        let lateBefore = statistics.lateMeterValues.load(ordering: .relaxed)
        let cpuBefore = sampler?.cpuMicroseconds()
        let ownCPUBefore = ownCPUMicroseconds()
        try await statistics.setRecording(true)
        let windowStart = ContinuousClock.now
        try await Task.sleep(for: .nanoseconds(Int64(measure * 1e9)))
        try await statistics.setRecording(false)
        let elapsed = ContinuousClock.now - windowStart
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let confirmed = statistics.confirmed.load(ordering: .relaxed) - confirmedBefore
        let sampled = statistics.sampledValues.load(ordering: .relaxed) - sampledBefore
        let cpuAfter = sampler?.cpuMicroseconds()
        let ownCPUAfter = ownCPUMicroseconds()
        let late = statistics.lateMeterValues.load(ordering: .relaxed) - lateBefore
        let rss = sampler?.residentBytes()
        let connected = statistics.connected.load(ordering: .relaxed)
        running.stop()
        progress.cancel()
        let histogram = try await statistics.mergedHistogram()
        let byAction = try await statistics.mergedHistogramsByAction()

        var summary = Summary(
            chargers: chargers,
            connectedChargers: connected,
            seconds: seconds,
            confirmedMessages: confirmed,
            confirmedMessagesPerSecond: Double(confirmed) / seconds,
            sampledValuesPerSecond: Double(sampled) / seconds,
            latency: LatencySummary(histogram),
            callErrors: statistics.callErrors.load(ordering: .relaxed),
            disconnects: statistics.disconnects.load(ordering: .relaxed),
            connectFailures: statistics.connectFailures.load(ordering: .relaxed)
        )
        for (action, histogram) in byAction { summary.latencyByAction[action.name] = LatencySummary(histogram) }
        if settings.scenario == .fleet { summary.lateMeterValues = late }
        if confirmed > 0 {
            summary.loadgenCPUMicrosecondsPerMessage = Double(ownCPUAfter - ownCPUBefore) / Double(confirmed)
            summary.loadgenCPUCores = Double(ownCPUAfter - ownCPUBefore) / 1e6 / seconds
        }
        if let cpuBefore, let cpuAfter, confirmed > 0 {
            summary.serverCPUMicrosecondsPerMessage = Double(cpuAfter - cpuBefore) / Double(confirmed)
            summary.serverCPUCores = Double(cpuAfter - cpuBefore) / 1e6 / seconds
        }
        if let rss, let baselineRSS, connected > 0 {
            summary.serverRSSBytes = rss
            summary.serverRSSBytesPerConnection = Double(max(0, rss - baselineRSS)) / Double(connected)
        }
        if let verify {
            handlers.stopAll()
            // Answers in flight when the run stopped still count as acknowledged.
            try? await Task.sleep(for: .seconds(1))
            var expectations: [Verifier.Expectation] = []
            for handler in handlers.all {
                let counts = try await handler.eventLoop.submit {
                    (handler.value.index, handler.value.storedAcknowledged, handler.value.storedSent)
                }.get()
                expectations.append(
                    Verifier.Expectation(
                        chargePointID: "\(idPrefix)-\(counts.0)",
                        acknowledged: counts.1,
                        sent: counts.2
                    )
                )
            }
            let baseURL = verify.hasSuffix("/") ? String(verify.dropLast()) : verify
            let outcome = await Verifier(baseURL: baseURL, since: runStarted.addingTimeInterval(-1)).verify(
                expectations
            )
            summary.verification = VerificationSummary(
                passed: outcome.passed,
                chargersChecked: outcome.chargersChecked,
                acknowledgedSampledValues: outcome.acknowledged,
                storedSampledValues: outcome.stored,
                failures: outcome.failures
            )
        }
        print("")
        print(summary.text)
        let problems = statistics.firstProblems.withLock { $0 }
        if !problems.isEmpty {
            print("first problems:")
            for problem in problems { print("  \(problem)") }
        }
        if let json {
            try summary.json.write(to: URL(fileURLWithPath: json))
        }
        if let timeline {
            let slots = try await statistics.mergedTimeline()
            let origin = Double(statistics.timelineOrigin.load(ordering: .relaxed)) / 1e9
            let lines = [String(format: "# start %.6f s CLOCK_MONOTONIC", origin), TimelineSlot.csvHeader]
            let text = (lines + slots.map(\.csvLine)).joined(separator: "\n") + "\n"
            try Data(text.utf8).write(to: URL(fileURLWithPath: timeline))
        }
        handlers.stopAll()
        try? await Task.sleep(for: .milliseconds(200))
        try await group.shutdownGracefully()
        if connected == 0 || summary.verification?.passed == false { throw ExitCode.failure }
    }

    static func progressLoop(statistics: LoadStatistics, total: Int) async {
        var lastConfirmed = statistics.confirmed.load(ordering: .relaxed)
        var lastSampled = statistics.sampledValues.load(ordering: .relaxed)
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            let confirmed = statistics.confirmed.load(ordering: .relaxed)
            let sampled = statistics.sampledValues.load(ordering: .relaxed)
            let line =
                "connected \(statistics.connected.load(ordering: .relaxed))/\(total)  "
                + "messages/s \(confirmed - lastConfirmed)  sampled values/s \(sampled - lastSampled)  "
                + "callerrors \(statistics.callErrors.load(ordering: .relaxed))  "
                + "disconnects \(statistics.disconnects.load(ordering: .relaxed))  "
                + "connect failures \(statistics.connectFailures.load(ordering: .relaxed))"
            FileHandle.standardError.write(Data((line + "\n").utf8))
            lastConfirmed = confirmed
            lastSampled = sampled
        }
    }

    /// A charger's live connection and its BootNotification's answer.
    struct Connection: Sendable {
        let handler: NIOLoopBound<ChargerHandler>
        let bootAnswer: EventLoopFuture<BootAnswer>
    }

    /// Connects one charger (TLS first for wss://), upgrades with its credentials and sends
    /// its BootNotification.
    static func connect(
        index: Int,
        chargePointID: String,
        options: ConnectionOptions,
        source: SocketAddress?,
        group: MultiThreadedEventLoopGroup,
        settings: ChargerSettings,
        statistics: LoadStatistics,
        running: RunningFlag
    ) async throws -> Connection {
        let endpoint = options.endpoint
        var bootstrap = ClientBootstrap(group: group).connectTimeout(options.connectTimeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
        if let source { bootstrap = bootstrap.bind(to: source) }
        let path = endpoint.path + "/" + chargePointID
        let status = UpgradeStatus()
        // The address resolved once: resolving the host per connection (getaddrinfo, even of an
        // IP literal, on NIO's resolver thread) limited a storm to a few hundred connects a second.
        let (channel, upgrade) = try await bootstrap.connect(to: options.address) { channel in
            channel.eventLoop.makeCompletedFuture {
                let operations = channel.pipeline.syncOperations
                if let tls = options.tls {
                    try operations.addHandler(
                        try NIOSSLClientHandler(
                            context: tls,
                            serverHostname: endpoint.hostIsAddress ? nil : endpoint.host
                        )
                    )
                }
                let upgrader = NIOTypedWebSocketClientUpgrader<Connection?>(
                    maxFrameSize: 1 << 20,
                    upgradePipelineHandler: { channel, response in
                        channel.eventLoop.makeCompletedFuture {
                            let offered = response.headers["Sec-WebSocket-Protocol"].first
                            guard offered == "ocpp1.6" else {
                                throw UpgradeRefused(
                                    description: "the server answered subprotocol \(offered ?? "none"), not ocpp1.6"
                                )
                            }
                            let bootAnswer = channel.eventLoop.makePromise(of: BootAnswer.self)
                            let handler = ChargerHandler(
                                index: index,
                                settings: settings,
                                statistics: statistics,
                                running: running,
                                bootAnswer: bootAnswer
                            )
                            // The handler reads the server's frames from the raw bytes itself
                            // (they are small, unmasked and unfragmented): NIO's frame decoder
                            // and a pipeline hop per frame were a tenth of the simulator's CPU.
                            let operations = channel.pipeline.syncOperations
                            let decoder = try operations.context(
                                handlerType: ByteToMessageHandler<WebSocketFrameDecoder>.self
                            )
                            try operations.addHandler(handler)
                            operations.removeHandler(context: decoder, promise: nil)
                            return Connection(
                                handler: NIOLoopBound(handler, eventLoop: channel.eventLoop),
                                bootAnswer: bootAnswer.futureResult
                            )
                        }
                    }
                )
                var headers = HTTPHeaders()
                headers.add(name: "Host", value: "\(endpoint.host):\(endpoint.port)")
                headers.add(name: "Sec-WebSocket-Protocol", value: "ocpp1.6")
                if let authorization = options.authentication.headerValue(
                    chargePointID: chargePointID,
                    hexText: options.passwordAsHexText
                ) {
                    headers.add(name: "Authorization", value: authorization)
                }
                let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
                let configuration = NIOTypedHTTPClientUpgradeConfiguration<Connection?>(
                    upgradeRequestHead: head,
                    upgraders: [upgrader],
                    notUpgradingCompletionHandler: { channel in channel.eventLoop.makeCompletedFuture { nil } }
                )
                let future = try operations.configureUpgradableHTTPClientPipeline(
                    configuration: .init(upgradeConfiguration: configuration)
                )
                try operations.addHandler(
                    UpgradeStatusRecorder(status: status),
                    position: .before(
                        try operations.handler(type: NIOTypedHTTPClientUpgradeHandler<Connection?>.self)
                    )
                )
                return (channel, future)
            }
        }
        // The TLS handshake and the upgrade must finish in time.
        let timeout = channel.eventLoop.scheduleTask(in: options.upgradeTimeout) { channel.close(promise: nil) }
        let upgraded: Connection?
        do {
            upgraded = try await upgrade.get()
            timeout.cancel()
        } catch {
            timeout.cancel()
            try? await channel.close()
            throw error
        }
        guard let connection = upgraded else {
            try? await channel.close()
            let answer = status.value
            throw UpgradeRefused(
                status: answer,
                description: "the server refused the WebSocket upgrade of \(path)"
                    + (answer.map { ": HTTP \($0.code) \($0.reasonPhrase)" } ?? "")
            )
        }
        let handler = connection.handler
        handler.eventLoop.execute { handler.value.begin() }
        return connection
    }
}
