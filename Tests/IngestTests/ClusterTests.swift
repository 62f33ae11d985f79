import Foundation
import Relational
import TestSupport
import Testing

@testable import API
@testable import Ingest

/// A cluster of two in-process nodes on one PostgreSQL database: presence, forwarded commands,
/// the cluster-wide list, the internal API's secret, and leases that lapse.
@Suite("Cluster", .serialized)
struct ClusterTests {
    static let secret = "a-cluster-secret-of-more-than-32-characters"

    /// Runs `body` with nodes `node-a` and `node-b` on a new PostgreSQL database, both
    /// registered, then stops them and drops the database.
    /// Registers `node-hung`, a node whose socket accepts connections but never answers, as
    /// holding `chargePointID`; close the listener when done.
    static func hungNode(_ relational: RelationalStore, holding chargePointID: String) async throws -> SilentListener {
        let listener = try SilentListener()
        try await relational.registerClusterNode(
            nodeID: "node-hung",
            url: "http://127.0.0.1:\(listener.port)",
            leaseSeconds: 60,
            at: Date()
        )
        _ = try await relational.recordChargerConnected(chargePointID: chargePointID, nodeID: "node-hung", at: Date())
        return listener
    }

    static func withNodes(
        lease: Int = 15,
        callTimeout: Int = 30,
        forwardingMargin: Int = 5,
        authenticated: Bool = false,
        _ body: (IngestTestServer, IngestTestServer) async throws -> Void
    ) async throws {
        let database = try await TestBackend.postgres.makeDatabase()
        var nodes: [IngestTestServer] = []
        do {
            for name in ["node-a", "node-b"] {
                let settings = try ClusterSettings(
                    nodeID: name,
                    nodeURL: ClusterNodeURL("http://127.0.0.1:\(try freePort())"),
                    secret: ClusterSecret(secret),
                    leaseSeconds: lease,
                    forwardingMarginSeconds: forwardingMargin
                )
                nodes.append(
                    try await IngestTestServer.start(
                        IngestConfiguration(callTimeout: callTimeout),
                        authenticated: authenticated,
                        database: database.url,
                        cluster: settings
                    )
                )
            }
            try await nodes[1].eventually("both nodes are registered") {
                try await nodes[1].relational.clusterNodes().filter(\.isAlive).map(\.nodeID) == ["node-a", "node-b"]
            }
            try await body(nodes[0], nodes[1])
        } catch {
            for node in nodes { await node.stop() }
            try? await database.drop()
            throw error
        }
        for node in nodes { await node.stop() }
        try await database.drop()
    }

    /// An HTTP request with extra headers; the answer's status and body.
    static func request(
        _ port: Int,
        _ path: String,
        body: String,
        headers: [String: String] = [:]
    ) async throws -> (status: Int, body: String) {
        var text = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { text += "\(name): \(value)\r\n" }
        text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        let raw = try await rawHTTP(port: port, text)
        guard let statusLine = raw.split(separator: "\r\n").first,
            let status = Int(statusLine.split(separator: " ").dropFirst().first ?? ""),
            let split = raw.range(of: "\r\n\r\n")
        else { throw TestFailure("not an HTTP response: \(raw)") }
        return (status, String(raw[split.upperBound...]))
    }

    /// Sends a Reset through `port` (`path` under it), has the charger answer `answer`, and
    /// returns the HTTP answer.
    static func reset(
        _ charger: TestChargePoint,
        port: Int,
        path: String = "/charge_points/CP-CL/reset",
        headers: [String: String] = [:],
        answer: String
    ) async throws -> (status: Int, body: String) {
        let pending = Task { try await request(port, path, body: #"{"type":"Soft"}"#, headers: headers) }
        let call = try parse(try await charger.nextText())
        #expect(call[2] as? String == "Reset")
        #expect(try object(call[3])["type"] as? String == "Soft")
        let uniqueID = try #require(call[1] as? String)
        try await charger.send(answer.replacingOccurrences(of: "ID", with: uniqueID))
        return try await pending.value
    }

    @Test("A command sent to node B reaches the charger on node A, and B answers what A answers")
    func forwarded() async throws {
        try await Self.withNodes { a, b in
            let charger = try await a.connect("CP-CL")
            _ = try await charger.call("1", "Heartbeat", "{}")
            try await b.eventually("B sees the charger on A") {
                try await b.relational.chargerPresence("CP-CL")?.nodeID == "node-a"
            }
            let confirmation = #"[3,"ID",{"status":"Rejected"}]"#
            let viaB = try await Self.reset(charger, port: b.port, answer: confirmation)
            let viaA = try await Self.reset(charger, port: a.port, answer: confirmation)
            #expect(viaB.status == 200)
            #expect(viaB.body == #"{"status":"Rejected"}"#)
            #expect(viaB.status == viaA.status && viaB.body == viaA.body)
            // A CALLERROR: the same 502 and body either way.
            let callError = #"[4,"ID","NotSupported","no resets here",{"why":"test"}]"#
            let errorViaB = try await Self.reset(charger, port: b.port, answer: callError)
            let errorViaA = try await Self.reset(charger, port: a.port, answer: callError)
            #expect(errorViaB.status == 502)
            #expect(errorViaB.body.contains("no resets here"))
            #expect(errorViaB.status == errorViaA.status && errorViaB.body == errorViaA.body)
            // A body that is not a Reset is refused by B itself, as by A.
            let invalid = try await Self.request(b.port, "/charge_points/CP-CL/reset", body: #"{"type":"Hard!"}"#)
            #expect(invalid.status == 422)
            // A charger connected nowhere: 404, as on one server.
            let nowhere = try await Self.request(b.port, "/charge_points/CP-NOWHERE/reset", body: #"{"type":"Soft"}"#)
            #expect(nowhere.status == 404)
            await charger.close()
        }
    }

    @Test("/charge_points on either node lists the cluster's chargers with the node holding each")
    func listed() async throws {
        try await Self.withNodes { a, b in
            let onA = try await a.connect("CP-LA")
            let onB = try await b.connect("CP-LB")
            _ = try await onA.call("1", "Heartbeat", "{}")
            _ = try await onB.call("1", "Heartbeat", "{}")
            try await a.eventually("both chargers are present") {
                try await a.relational.clusterPresence().map(\.chargePointID) == ["CP-LA", "CP-LB"]
            }
            for (node, own) in [(a, "CP-LA"), (b, "CP-LB")] {
                let page = try await node.json("GET", "/charge_points")
                let items = try #require(page["items"] as? [[String: Any]])
                #expect(page["total"] as? Int == 2)
                #expect(items.map { $0["charge_point_id"] as? String } == ["CP-LA", "CP-LB"])
                #expect(items.map { $0["node_id"] as? String } == ["node-a", "node-b"])
                for item in items {
                    // Only the node holding a charger knows when it last sent a message.
                    let local = item["charge_point_id"] as? String == own
                    #expect((item["last_message_at"] is String) == local, "\(item)")
                    #expect(item["connected_since"] is String)
                }
                let second = try await node.json("GET", "/charge_points?limit=1&offset=1")
                #expect((second["items"] as? [[String: Any]])?.first?["charge_point_id"] as? String == "CP-LB")
            }
            await onA.close()
            try await b.eventually("the closed charger is gone from the list") {
                let page = try await b.json("GET", "/charge_points")
                return page["total"] as? Int == 1
            }
            await onB.close()
        }
    }

    @Test("The internal API answers 401 without the cluster secret, with a wrong one, or with a token instead")
    func internalSecret() async throws {
        try await Self.withNodes(authenticated: true) { a, b in
            let (_, token) = try await a.relational.createAPIToken(name: "admin", role: "admin")
            let charger = try await a.connect("CP-CL")
            _ = try await charger.call("1", "Heartbeat", "{}")
            let path = "/cluster/v1/charge_points/CP-CL/reset"
            for headers in [
                [:], ["X-Cluster-Secret": "wrong"], ["X-Cluster-Secret": String(Self.secret.dropLast())],
                ["Authorization": "Bearer \(token)"],
            ] {
                let answer = try await Self.request(a.port, path, body: #"{"type":"Soft"}"#, headers: headers)
                #expect(answer.status == 401, "\(headers.keys)")
                #expect(answer.body.contains("X-Cluster-Secret"))
            }
            // With the secret it runs here.
            let direct = try await Self.reset(
                charger,
                port: a.port,
                path: path,
                headers: ["X-Cluster-Secret": Self.secret],
                answer: #"[3,"ID",{"status":"Accepted"}]"#
            )
            #expect(direct.status == 200)
            // It never forwards: B does not hold the charger, so its internal API answers 404.
            try await b.eventually("B sees the charger on A") {
                try await b.relational.chargerPresence("CP-CL") != nil
            }
            let notHere = try await Self.request(
                b.port,
                path,
                body: #"{"type":"Soft"}"#,
                headers: ["X-Cluster-Secret": Self.secret]
            )
            #expect(notHere.status == 404)
            // The public route still needs a token, and with one it forwards.
            let anonymous = try await Self.request(b.port, "/charge_points/CP-CL/reset", body: #"{"type":"Soft"}"#)
            #expect(anonymous.status == 401)
            let forwarded = try await Self.reset(
                charger,
                port: b.port,
                headers: ["Authorization": "Bearer \(token)"],
                answer: #"[3,"ID",{"status":"Accepted"}]"#
            )
            #expect(forwarded.status == 200)
            await charger.close()
        }
    }

    @Test("A node whose lease lapsed is gone: its chargers are not listed and commands for them answer 404")
    func lapsedLease() async throws {
        try await Self.withNodes(lease: 2) { a, b in
            let charger = try await a.connect("CP-CL")
            _ = try await charger.call("1", "Heartbeat", "{}")
            try await b.eventually("B sees the charger on A") {
                try await b.relational.chargerPresence("CP-CL") != nil
            }
            // Renewed every third of the lease: still there after more than one lease.
            try await Task.sleep(for: .seconds(3))
            #expect(try await b.relational.chargerPresence("CP-CL")?.nodeID == "node-a")
            a.ingest.cluster?.stopRenewingLease()
            try await b.eventually("A's lease lapses") {
                try await b.relational.chargerPresence("CP-CL") == nil
            }
            let answer = try await Self.request(b.port, "/charge_points/CP-CL/reset", body: #"{"type":"Soft"}"#)
            #expect(answer.status == 404)
            let page = try await b.json("GET", "/charge_points")
            #expect(page["total"] as? Int == 0)
            #expect(try await b.relational.clusterNodes().first { $0.nodeID == "node-a" }?.isAlive == false)
            await charger.close()
        }
    }

    @Test("A node that cannot be reached is a 502, one that does not answer in time a 504")
    func unreachablePeers() async throws {
        try await Self.withNodes(callTimeout: 1, forwardingMargin: 1) { _, b in
            // A node that registered and holds a charger, but nothing listens at its URL.
            try await b.relational.registerClusterNode(
                nodeID: "node-gone",
                url: "http://127.0.0.1:\(try freePort())",
                leaseSeconds: 60,
                at: Date()
            )
            _ = try await b.relational.recordChargerConnected(chargePointID: "CP-GONE", nodeID: "node-gone", at: Date())
            let gone = try await Self.request(b.port, "/charge_points/CP-GONE/reset", body: #"{"type":"Soft"}"#)
            #expect(gone.status == 502)
            #expect(gone.body.contains("node-gone"))
            let listener = try await Self.hungNode(b.relational, holding: "CP-HUNG")
            defer { listener.close() }
            let started = ContinuousClock.now
            let hung = try await Self.request(b.port, "/charge_points/CP-HUNG/reset", body: #"{"type":"Soft"}"#)
            #expect(hung.status == 504)
            #expect(hung.body.contains("node-hung"))
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }

    @Test("Presence follows connections; a node that stops leaves with its presence and closes its intervals")
    func presenceAndLeaving() async throws {
        try await Self.withNodes { a, b in
            let first = try await a.connect("CP-RES")
            _ = try await first.call("1", "Heartbeat", "{}")
            await first.close()
            try await b.eventually("the closed connection's interval ends") {
                let intervals = try await b.relational.chargerResidency("CP-RES")
                return intervals.count == 1 && intervals[0].disconnectedAt != nil
            }
            #expect(try await b.relational.chargerPresence("CP-RES") == nil)
            // It comes back through B, then through A again: one interval per connection.
            let second = try await b.connect("CP-RES")
            _ = try await second.call("1", "Heartbeat", "{}")
            try await a.eventually("A sees the charger on B") {
                try await a.relational.chargerPresence("CP-RES")?.nodeID == "node-b"
            }
            let third = try await a.connect("CP-RES")
            _ = try await third.call("1", "Heartbeat", "{}")
            try await b.eventually("the charger is back on A") {
                try await b.relational.chargerPresence("CP-RES")?.nodeID == "node-a"
            }
            // B's stale connection closing later does not take A's presence away.
            await second.close()
            try await b.eventually("B's interval ends") {
                try await b.relational.chargerResidency("CP-RES").filter { $0.nodeID == "node-b" }
                    .allSatisfy { $0.disconnectedAt != nil }
            }
            #expect(try await b.relational.chargerPresence("CP-RES")?.nodeID == "node-a")
            let intervals = try await b.relational.chargerResidency("CP-RES")
            #expect(intervals.map(\.nodeID) == ["node-a", "node-b", "node-a"])
            // A stops gracefully with the charger connected: its row, presence and open interval go.
            await a.stop()
            #expect(try await b.relational.clusterNodes().map(\.nodeID) == ["node-b"])
            #expect(try await b.relational.chargerPresence("CP-RES") == nil)
            #expect(try await b.relational.chargerResidency("CP-RES").allSatisfy { $0.disconnectedAt != nil })
            await third.close()
        }
    }

    @Test("On a server alone, /charge_points has no node_id and the internal API does not exist")
    func alone() async throws {
        let server = try await IngestTestServer.start()
        let charger = try await server.connect("CP-ALONE")
        _ = try await charger.call("1", "Heartbeat", "{}")
        let page = try await server.json("GET", "/charge_points")
        let item = try #require((page["items"] as? [[String: Any]])?.first)
        #expect(item["node_id"] == nil)
        #expect(item["last_message_at"] is String)
        let answer = try await Self.request(
            server.port,
            "/cluster/v1/charge_points/CP-ALONE/reset",
            body: #"{"type":"Soft"}"#,
            headers: ["X-Cluster-Secret": Self.secret]
        )
        #expect(answer.status == 404)
        await charger.close()
        await server.stop()
    }
}

/// A TCP socket on 127.0.0.1 that listens but never accepts: connections to it open (the
/// kernel completes them) and are never answered.
final class SilentListener: Sendable {
    let port: Int
    private let descriptor: Int32

    init() throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestFailure("socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let descriptor = self.descriptor
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard bound, listen(descriptor, 16) == 0 else {
            Glibc.close(descriptor)
            throw TestFailure("bind() or listen() failed")
        }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { Glibc.close(descriptor) }
}

/// The executable as a node of a cluster.
@Suite("Cluster node process", .serialized)
struct ClusterProcessTests {
    @Test("The server joins the cluster, never logs the secret, and leaves on SIGTERM")
    func joinsAndLeaves() async throws {
        let database = try await TestBackend.postgres.makeDatabase()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ocpp-cluster-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try await RelationalStore(url: database.url, logger: TestBackend.logger)
        do {
            try await store.migrate()
            guard case .postgres(let settings) = database.url else { throw TestFailure("not PostgreSQL") }
            let password = settings.password.map { ":\($0)" } ?? ""
            let url = "postgres://\(settings.user)\(password)@\(settings.host):\(settings.port)/\(settings.database)"
            let port = try freePort()
            let log = directory.appendingPathComponent("server.log").path
            let server = try ServerProcess.start(
                in: directory,
                logLevel: "debug",
                settings: [
                    "DATABASE_URL": url + "?sslmode=disable", "NODE_ID": "node-p",
                    "NODE_URL": "http://127.0.0.1:\(port)",
                    "CLUSTER_SECRET": ClusterTests.secret, "CLUSTER_LEASE_SECONDS": "3",
                ],
                port: port,
                logFile: log
            )
            defer { server.kill() }
            let charger = try await server.connect("CP-PROC")
            _ = try await charger.call("1", "Heartbeat", "{}")
            let deadline = ContinuousClock.now + .seconds(20)
            while try await store.chargerPresence("CP-PROC")?.nodeID != "node-p" {
                guard ContinuousClock.now < deadline else { throw TestFailure("no presence for CP-PROC") }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(try await store.clusterNodes().map(\.url) == ["http://127.0.0.1:\(port)"])
            kill(server.process.processIdentifier, SIGTERM)
            try await server.waitUntilExit()
            #expect(server.process.terminationStatus == 0)
            #expect(try await store.clusterNodes().isEmpty)
            #expect(try await store.chargerPresence("CP-PROC") == nil)
            let output = try String(contentsOfFile: log, encoding: .utf8)
            #expect(output.contains("Joined the cluster"))
            #expect(output.contains("Left the cluster"))
            #expect(!output.contains(ClusterTests.secret))
            await charger.close()
        } catch {
            await store.shutdown()
            try? await database.drop()
            throw error
        }
        await store.shutdown()
        try await database.drop()
    }
}
