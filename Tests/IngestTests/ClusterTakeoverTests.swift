import Foundation
import Relational
import Synchronization
import TestSupport
import Testing

@testable import API
@testable import Ingest

/// Two nodes on one PostgreSQL database: a charger that moves to another node is taken over
/// there and its old connection closed; presence that heals after the database refused it;
/// forwarded commands audited once; GetConfiguration forwarded.
@Suite("Cluster takeover and presence healing", .serialized)
struct ClusterTakeoverTests {
    /// Waits until both nodes hear takeover announcements.
    static func listening(_ nodes: IngestTestServer...) async throws {
        for node in nodes {
            try await node.eventually("\(node.ingest.cluster?.settings.nodeID ?? "?") listens for takeovers") {
                node.ingest.cluster?.listening.load(ordering: .relaxed) == true
            }
        }
    }

    static func presence(_ node: IngestTestServer, _ id: String) async throws -> String? {
        try await node.relational.chargerPresence(id)?.nodeID
    }

    /// Runs `body`, again after a moment when it fails (a pooled connection the test just
    /// terminated may fail once).
    static func retrying(_ body: () async throws -> Void) async throws {
        for _ in 0..<4 {
            do {
                return try await body()
            } catch {
                try await Task.sleep(for: .milliseconds(300))
            }
        }
        try await body()
    }

    /// Waits for the close frame and the end of `charger`'s connection, at most `timeout` for each.
    static func closed(_ charger: TestChargePoint, timeout: Duration = .seconds(30)) async throws -> UInt16? {
        var code: UInt16?
        while true {
            switch try await charger.next(timeout: timeout) {
            case .close(let received): code = received
            case .disconnected: return code
            case .text: continue
            }
        }
    }

    @Test("A charger that reconnects through B is taken over: A closes its old connection with 1008, presence names B")
    func takeover() async throws {
        // A lease of a minute: reconciliation (every lease) would close a stale connection too,
        // but only after a minute; a close within seconds is the announcement's.
        try await ClusterTests.withNodes(lease: 60) { a, b in
            try await Self.listening(a, b)
            var old = try await a.connect("CP-TO")
            _ = try await old.call("1", "Heartbeat", "{}")
            try await b.eventually("presence names A") { try await Self.presence(b, "CP-TO") == "node-a" }
            // The charger moves back and forth; each time the node it left closes the old connection.
            var nodes = (from: a, to: b)
            var durations: [Duration] = []
            for move in 0..<10 {
                let before = ContinuousClock.now
                let new = try await nodes.to.connect("CP-TO")
                let code = try await Self.closed(old, timeout: .seconds(10))
                durations.append(ContinuousClock.now - before)
                #expect(code == 1008, "move \(move)")
                #expect(old.closeReason == ClusterMembership.takenOverReason)
                _ = try await new.call("\(move)", "Heartbeat", "{}")
                let target = try #require(nodes.to.ingest.cluster?.settings.nodeID)
                let left = try #require(nodes.from.ingest.cluster?.settings.nodeID)
                // Once the old connection's close is written (its interval ends in the same
                // transaction as its presence release), the new node's row is still there.
                try await b.eventually("\(left)'s intervals end") {
                    try await b.relational.chargerResidency("CP-TO").filter { $0.nodeID == left }
                        .allSatisfy { $0.disconnectedAt != nil }
                }
                #expect(try await Self.presence(b, "CP-TO") == target, "move \(move)")
                #expect(nodes.from.ingest.connection(try ChargePointID("CP-TO")) == nil)
                if move == 0 {
                    // A command through the node the charger left reaches it on its new node.
                    let viaOld = try await ClusterTests.reset(
                        new,
                        port: nodes.from.port,
                        path: "/charge_points/CP-TO/reset",
                        answer: #"[3,"ID",{"status":"Accepted"}]"#
                    )
                    #expect(viaOld.status == 200)
                    #expect(viaOld.body == #"{"status":"Accepted"}"#)
                }
                old = new
                nodes = (nodes.to, nodes.from)
            }
            let sorted = durations.sorted()
            print(
                "Takeover through LISTEN/NOTIFY, from the new connection's upgrade to the old one's close: "
                    + "min \(sorted[0]), median \(sorted[sorted.count / 2]), max \(sorted[sorted.count - 1]) "
                    + "over \(sorted.count) moves"
            )
            // The charger is on A now (an even number of moves); the old connection on B closed.
            #expect(a.ingest.connection(try ChargePointID("CP-TO")) != nil)
            #expect(b.ingest.connection(try ChargePointID("CP-TO")) == nil)
            try await a.eventually("every interval but the current one ends") {
                try await a.relational.chargerResidency("CP-TO").filter { $0.disconnectedAt == nil }.map(\.nodeID)
                    == ["node-a"]
            }
            #expect(try await a.relational.chargerResidency("CP-TO").count == 11)
            // A command through B reaches the charger on A.
            let viaB = try await ClusterTests.reset(
                old,
                port: b.port,
                path: "/charge_points/CP-TO/reset",
                answer: #"[3,"ID",{"status":"Accepted"}]"#
            )
            #expect(viaB.status == 200)
            // B's statistics: it closed the connections it lost, by announcement.
            #expect((b.ingest.cluster?.statistics.takeovers.load(ordering: .relaxed) ?? 0) >= 5)
            await old.close()
        }
    }

    @Test("A charger that bounces back keeps its newest connection; an older announcement closes nothing")
    func bounceBack() async throws {
        try await ClusterTests.withNodes(lease: 2) { a, b in
            try await Self.listening(a, b)
            let first = try await a.connect("CP-BB")
            _ = try await first.call("1", "Heartbeat", "{}")
            // To B and straight back to A, without waiting for any write.
            let onB = try await b.connect("CP-BB")
            let back = try await a.connect("CP-BB")
            #expect(try await Self.closed(first) == 1008)
            #expect(try await Self.closed(onB) == 1008)
            try await b.eventually("presence names A") { try await Self.presence(b, "CP-BB") == "node-a" }
            // An announcement of a connection older than A's current one closes nothing; a newer one would.
            let cluster = try #require(a.ingest.cluster)
            let current = try #require(a.ingest.connection(try ChargePointID("CP-BB")))
            let micros = ChargerTakeover.microseconds(current.connectedSince)
            cluster.heard(
                ChargerTakeover(chargePointID: "CP-BB", nodeID: "node-b", connectedAtMicroseconds: micros - 1)
            )
            cluster.heard(ChargerTakeover(chargePointID: "CP-BB", nodeID: "node-b", connectedAtMicroseconds: micros))
            cluster.heard(
                ChargerTakeover(chargePointID: "CP-BB", nodeID: "node-a", connectedAtMicroseconds: micros + 1)
            )
            // Past a reconciliation (every lease, 2 s): the newest connection still works.
            try await Task.sleep(for: .seconds(3))
            let answer = try await back.call("2", "Heartbeat", "{}")
            #expect(answer[0] as? Int == 3)
            #expect(try await Self.presence(b, "CP-BB") == "node-a")
            cluster.heard(
                ChargerTakeover(chargePointID: "CP-BB", nodeID: "node-b", connectedAtMicroseconds: micros + 1)
            )
            #expect(try await Self.closed(back) == 1008)
            #expect(back.closeReason == ClusterMembership.takenOverReason)
        }
    }

    @Test("Presence written while the database refused heals once it accepts again, and a lost row comes back")
    func healing() async throws {
        try await ClusterTests.withNodes(lease: 3) { a, b in
            try await Self.listening(a, b)
            let cluster = try #require(a.ingest.cluster)
            let leaving = try await a.connect("CP-H1")
            _ = try await leaving.call("1", "Heartbeat", "{}")
            try await b.eventually("presence names A") { try await Self.presence(b, "CP-H1") == "node-a" }
            // The database refuses every change to presence (and so the transactions with intervals).
            try await a.relational.executeRawSQL(
                """
                CREATE FUNCTION ocpp_test_refuse() RETURNS trigger LANGUAGE plpgsql AS
                $$ BEGIN RAISE EXCEPTION 'presence refused by the test'; END $$
                """
            )
            try await a.relational.executeRawSQL(
                """
                CREATE TRIGGER ocpp_test_refuse BEFORE INSERT OR UPDATE OR DELETE ON charger_presence
                FOR EACH ROW EXECUTE FUNCTION ocpp_test_refuse()
                """
            )
            let failuresBefore = cluster.statistics.failures.load(ordering: .relaxed)
            let arriving = try await a.connect("CP-H2")
            _ = try await arriving.call("1", "Heartbeat", "{}")
            await leaving.close()
            try await a.eventually("both writes failed, and were retried") {
                cluster.statistics.failures.load(ordering: .relaxed) >= failuresBefore + 4
            }
            #expect(try await Self.presence(b, "CP-H2") == nil)
            #expect(try await Self.presence(b, "CP-H1") == "node-a")
            // Every connection of the database drops too (the listener's among them).
            try await a.relational.executeRawSQL(
                """
                SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid()
                """
            )
            try await Task.sleep(for: .seconds(1))
            let restored = ContinuousClock.now
            try await Self.retrying {
                try await b.relational.executeRawSQL("DROP TRIGGER ocpp_test_refuse ON charger_presence")
            }
            try await b.eventually(timeout: .seconds(30), "presence heals") {
                let arrived = try await Self.presence(b, "CP-H2")
                let left = try await Self.presence(b, "CP-H1")
                return arrived == "node-a" && left == nil
            }
            print("Presence healed \(ContinuousClock.now - restored) after the database accepted writes again")
            let intervals = try await b.relational.chargerResidency("CP-H1") + b.relational.chargerResidency("CP-H2")
            #expect(intervals.map(\.chargePointID) == ["CP-H1", "CP-H2"])
            #expect(intervals.map { $0.disconnectedAt == nil } == [false, true])
            try await a.eventually("nothing is pending") { cluster.presence.ledger.withLock { $0.pendingCount } == 0 }
            try await Self.listening(a)
            // A row lost behind the node's back comes back, and a stray one naming A goes,
            // within a lease (3 s) or so; so does an interval left open.
            let reconciled = cluster.statistics.reconciled.load(ordering: .relaxed)
            try await b.relational.executeRawSQL("DELETE FROM charger_presence WHERE charge_point_id = 'CP-H2'")
            _ = try await b.relational.recordChargerConnected(chargePointID: "CP-STRAY", nodeID: "node-a", at: Date())
            let lost = ContinuousClock.now
            try await b.eventually(timeout: .seconds(20), "reconciliation restores the lost row and removes the stray")
            {
                let restoredRow = try await Self.presence(b, "CP-H2")
                let stray = try await Self.presence(b, "CP-STRAY")
                let strayIntervals = try await b.relational.chargerResidency("CP-STRAY")
                return restoredRow == "node-a" && stray == nil && strayIntervals.allSatisfy { $0.disconnectedAt != nil }
            }
            print("Reconciliation healed a lost presence row in \(ContinuousClock.now - lost) (lease 3 s)")
            #expect(cluster.statistics.reconciled.load(ordering: .relaxed) >= reconciled + 2)
            #expect(cluster.statistics.orphansEnded.load(ordering: .relaxed) >= 1)
            // Takeovers are heard again after the listener's connection dropped.
            let moved = try await b.connect("CP-H2")
            #expect(try await Self.closed(arriving) == 1008)
            try await a.eventually("presence names B") { try await Self.presence(a, "CP-H2") == "node-b" }
            await moved.close()
        }
    }

    @Test("A forwarded command is in the audit log once: the receiving node's entry, with its caller")
    func auditedOnce() async throws {
        try await ClusterTests.withNodes(authenticated: true) { a, b in
            let (_, token) = try await a.relational.createAPIToken(name: "operator-x", role: "operator")
            let charger = try await a.connect("CP-AU")
            _ = try await charger.call("1", "Heartbeat", "{}")
            try await b.eventually("B sees the charger on A") { try await Self.presence(b, "CP-AU") == "node-a" }
            let answer = try await ClusterTests.reset(
                charger,
                port: b.port,
                path: "/charge_points/CP-AU/reset",
                headers: ["Authorization": "Bearer \(token)"],
                answer: #"[3,"ID",{"status":"Accepted"}]"#
            )
            #expect(answer.status == 200)
            let entries = try await a.relational.auditLog(limit: 1000).entries.filter { $0.method == "POST" }
            #expect(entries.count == 1, "\(entries.map(\.route))")
            let entry = try #require(entries.first)
            #expect(entry.actor == "operator-x")
            #expect(entry.route == "/charge_points/{charge_point_id}/reset")
            #expect(entry.path == "/charge_points/CP-AU/reset")
            #expect(entry.status == 200)
            await charger.close()
        }
    }

    @Test("GET configuration on a node that does not hold the charger is forwarded to the one that does")
    func configurationForwarded() async throws {
        try await ClusterTests.withNodes { a, b in
            let charger = try await a.connect("CP-CF")
            _ = try await charger.call("1", "Heartbeat", "{}")
            try await b.eventually("B sees the charger on A") { try await Self.presence(b, "CP-CF") == "node-a" }
            let path = "/charge_points/CP-CF/configuration?key=HeartbeatInterval&key=Nope"
            var answers: [CommandEndpointTests.HTTPResponse] = []
            for node in [b, a] {
                let pending = Task { try await CommandEndpointTests.http(node.port, "GET", path) }
                let call = try parse(try await charger.nextText())
                #expect(call[2] as? String == "GetConfiguration")
                #expect(try object(call[3])["key"] as? [String] == ["HeartbeatInterval", "Nope"])
                try await charger.send(
                    #"[3,"\#(call[1] as! String)",{"configurationKey":[{"key":"HeartbeatInterval","readonly":false,"value":"300"}],"unknownKey":["Nope"]}]"#
                )
                answers.append(try await pending.value)
            }
            #expect(answers.map(\.status) == [200, 200])
            #expect(answers[0].body == answers[1].body)
            let json = try object(answers[0].json as Any)
            #expect(json["unknown_key"] as? [String] == ["Nope"])
            // Without keys: the whole configuration is asked for.
            let all = Task { try await CommandEndpointTests.http(b.port, "GET", "/charge_points/CP-CF/configuration") }
            let call = try parse(try await charger.nextText())
            #expect(try object(call[3])["key"] == nil)
            try await charger.send(#"[3,"\#(call[1] as! String)",{"configurationKey":[]}]"#)
            #expect(try await all.value.status == 200)
            // A charger connected nowhere: 404, as on one server.
            let nowhere = try await CommandEndpointTests.http(b.port, "GET", "/charge_points/CP-NONE/configuration")
            #expect(nowhere.status == 404)
            await charger.close()
        }
    }

    @Test("A claim takes a charger from an older connection or a lapsed node, never from a newer live one")
    func claims() async throws {
        try await TestBackend.postgres.withStore { store in
            for node in ["node-a", "node-b"] {
                try await store.registerClusterNode(nodeID: node, url: "http://\(node)", leaseSeconds: 60, at: Date())
            }
            let t0 = Date(timeIntervalSince1970: 1_800_000_000)
            func claim(_ node: String, _ at: Date) async throws -> Bool? {
                let change = ChargerPresenceChange(
                    chargePointID: "CP",
                    presence: .claim(connectedAt: at, announce: true)
                )
                return try await store.applyChargerPresence(change, nodeID: node).claimed
            }
            #expect(try await claim("node-a", t0 + 10) == true)
            // B's write of an older connection arrives late: refused, A keeps the charger.
            #expect(try await claim("node-b", t0 + 5) == false)
            #expect(try await store.chargerPresence("CP")?.nodeID == "node-a")
            // As new is not newer.
            #expect(try await claim("node-b", t0 + 10) == false)
            #expect(try await claim("node-b", t0 + 11) == true)
            #expect(try await store.chargerPresence("CP")?.nodeID == "node-b")
            // A's stale connection closing releases nothing of B's.
            let release = ChargerPresenceChange(chargePointID: "CP", presence: .release)
            _ = try await store.applyChargerPresence(release, nodeID: "node-a")
            #expect(try await store.chargerPresence("CP")?.nodeID == "node-b")
            // A node re-asserting its own row is never refused.
            #expect(try await claim("node-b", t0 + 11) == true)
            // A newer connection on a node whose lease lapsed does not hold the charger.
            try await store.registerClusterNode(nodeID: "node-b", url: "http://node-b", leaseSeconds: 60, at: Date())
            #expect(try await claim("node-b", t0 + 20) == true)
            try await store.executeRawSQL(
                "UPDATE cluster_nodes SET lease_expires_at = now() - interval '1 second' WHERE node_id = 'node-b'"
            )
            #expect(try await claim("node-a", t0 + 15) == true)
            #expect(try await store.chargerPresence("CP")?.nodeID == "node-a")
            // Intervals: inserted with their ids, ended by id, and only this node's.
            let change = ChargerPresenceChange(
                chargePointID: "CP",
                presence: .unchanged,
                newIntervals: [
                    .init(key: 1, connectedAt: t0, disconnectedAt: t0 + 1),
                    .init(key: 2, connectedAt: t0 + 2, disconnectedAt: nil),
                ]
            )
            let ids = try await store.applyChargerPresence(change, nodeID: "node-a").intervalIDs
            let open = try #require(ids[2])
            #expect(try await store.openResidencies(ofNode: "node-a") == [open])
            let end = ChargerPresenceChange(
                chargePointID: "CP",
                presence: .unchanged,
                endedIntervals: [.init(id: open, disconnectedAt: t0 + 3)]
            )
            _ = try await store.applyChargerPresence(end, nodeID: "node-b")
            #expect(try await store.openResidencies(ofNode: "node-a") == [open], "another node's interval is not ended")
            _ = try await store.applyChargerPresence(end, nodeID: "node-a")
            #expect(try await store.openResidencies(ofNode: "node-a").isEmpty)
            let intervals = try await store.chargerResidency("CP")
            #expect(intervals.map(\.disconnectedAt) == [t0 + 1, t0 + 3])
        }
    }
}
