import Foundation
import NIOCore
import Relational
import Synchronization
import TestSupport
import Testing

@testable import API
@testable import Ingest

/// Forwarding without a database query per command: the routes a node keeps, what makes it
/// forget them, and the kept connections to peers.
@Suite("Cluster routes", .serialized)
struct ClusterRoutingTests {
    static let accepted = #"[3,"ID",{"status":"Accepted"}]"#
    static let resetBody = #"{"type":"Soft"}"#

    /// Waits until `node` hears the cluster's announcements (routes are only kept then).
    static func listening(_ node: IngestTestServer) async throws {
        try await node.eventually("the node hears announcements") {
            node.ingest.cluster?.listening.load(ordering: .relaxed) == true
        }
    }

    static let path = "/charge_points/CP-RT/reset"

    /// Connects charger `CP-RT` to A and sends it a Reset through B, which keeps A as its route.
    /// - Returns: The charger and B's routes.
    static func routedThroughB(
        _ a: IngestTestServer,
        _ b: IngestTestServer
    ) async throws -> (TestChargePoint, ChargerRoutes) {
        try await listening(b)
        let routes = try #require(b.ingest.cluster?.routes)
        let charger = try await a.connect("CP-RT")
        _ = try await charger.call("1", "Heartbeat", "{}")
        try await b.eventually("B sees the charger on A") {
            try await b.relational.chargerPresence("CP-RT")?.nodeID == "node-a"
        }
        #expect(routes.route(for: "CP-RT") == nil)
        let first = try await ClusterTests.reset(charger, port: b.port, path: path, answer: accepted)
        #expect(first.status == 200 && first.body == #"{"status":"Accepted"}"#)
        #expect(routes.route(for: "CP-RT")?.nodeID == "node-a")
        return (charger, routes)
    }

    @Test("B keeps A's route; a charger that left A is a 404 through a fresh lookup, and its route is forgotten")
    func keptRoute() async throws {
        try await ClusterTests.withNodes { a, b in
            let (charger, routes) = try await Self.routedThroughB(a, b)
            let path = Self.path
            // The kept route serves the next command as the database would.
            let second = try await ClusterTests.reset(charger, port: b.port, path: path, answer: Self.accepted)
            #expect(second.status == 200 && second.body == #"{"status":"Accepted"}"#)

            // Leaving announces nothing: the route still names A, which answers 404 and runs nothing.
            await charger.close()
            let chargePointID = try ChargePointID("CP-RT")
            try await a.eventually("A no longer holds the charger") { a.ingest.connection(chargePointID) == nil }
            let gone = try await ClusterTests.request(b.port, path, body: Self.resetBody)
            #expect(gone.status == 404, "\(gone.body)")
            #expect(routes.route(for: "CP-RT") == nil)
        }
    }

    @Test("A charger's new connection anywhere makes every node forget its route")
    func announcementForgets() async throws {
        try await ClusterTests.withNodes { a, b in
            let (charger, routes) = try await Self.routedThroughB(a, b)
            let path = Self.path
            // The charger reconnects through B: B's announcement reaches B too.
            let again = try await b.connect("CP-RT")
            _ = try await again.call("2", "Heartbeat", "{}")
            try await b.eventually("the announcement forgets the route") { routes.route(for: "CP-RT") == nil }
            let local = try await ClusterTests.reset(again, port: b.port, path: path, answer: Self.accepted)
            #expect(local.status == 200)
            #expect(routes.route(for: "CP-RT") == nil, "a charger held here needs no route")
            await again.close()
            await charger.close()
        }
    }

    @Test("A route lasts no longer than its node's lease: a node that stopped renewing is not sent the command")
    func routeWithinLease() async throws {
        try await ClusterTests.withNodes(lease: 2) { a, b in
            let (charger, _) = try await Self.routedThroughB(a, b)
            let path = Self.path
            a.ingest.cluster?.stopRenewingLease()
            try await b.eventually("A's lease lapses") { try await b.relational.chargerPresence("CP-RT") == nil }
            // A still holds the connection and would run the command; its lapsed lease says it is gone.
            let answer = try await ClusterTests.request(b.port, path, body: Self.resetBody)
            #expect(answer.status == 404, "\(answer.body)")
            await charger.close()
        }
    }

    @Test("Calls to a peer reuse one kept connection; one closed while kept is replaced, a new one is not retried")
    func keptConnections() async throws {
        let peer = try ScriptedPeer(
            [
                .answer("first", keepAlive: true),
                // The kept connection: the peer closes it instead of answering.
                .close,
            ],
            [.answer("second", keepAlive: false)],
            [.close]
        )
        defer { peer.stop() }
        let client = ClusterPeerClient()
        let url = try ClusterNodeURL("http://127.0.0.1:\(peer.port)")
        let key = PeerConnectionPool.Peer(host: "127.0.0.1", port: peer.port)
        func post() async throws(PeerCallError) -> PeerAnswer {
            try await client.post(url, path: "/x", headers: [], body: Array("{}".utf8), timeout: .seconds(5))
        }
        let first = try await post()
        #expect(first.status == 200 && first.body == Array("first".utf8))
        try await eventually { client.pool.idleCount(key) == 1 }
        let second = try await post()
        #expect(second.body == Array("second".utf8), "sent again on a new connection")
        #expect(client.pool.idleCount(key) == 0, "an answer with Connection: close is not kept")
        do {
            _ = try await post()
            Issue.record("a new connection closed before the answer must fail")
        } catch {
            guard case .unreachable = error else {
                Issue.record("\(error)")
                return
            }
        }
        #expect(peer.requestsRead == 4)
        #expect(peer.connectionsAccepted == 3, "the failure on a new connection is not sent again")
    }

    private func eventually(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw TestFailure("not within 5 s") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// An HTTP peer that follows a script: one list of steps per connection it accepts, in turn,
/// one step per request it reads.
final class ScriptedPeer: Sendable {
    enum Step: Sendable {
        /// Answers 200 with `body`, keeping the connection open or closing it after.
        case answer(String, keepAlive: Bool)
        /// Closes the connection without answering.
        case close
    }

    let port: Int
    private let listener: Int32
    private final class Counts: Sendable {
        let value = Mutex((connections: 0, requests: 0))
    }

    private let counts = Counts()

    var connectionsAccepted: Int { counts.value.withLock { $0.connections } }
    var requestsRead: Int { counts.value.withLock { $0.requests } }

    init(_ scripts: [Step]...) throws {
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listener = self.listener
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        guard listener >= 0, bound, listen(listener, 16) == 0 else { throw TestFailure("cannot listen") }
        port = Int(UInt16(bigEndian: address.sin_port))
        let counts = self.counts
        Thread {
            for script in scripts {
                let connection = accept(listener, nil, nil)
                guard connection >= 0 else { return }
                counts.value.withLock { $0.connections += 1 }
                for step in script {
                    guard Self.readRequest(connection) else { break }
                    counts.value.withLock { $0.requests += 1 }
                    switch step {
                    case .close:
                        break
                    case .answer(let body, let keepAlive):
                        let text =
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n"
                            + (keepAlive ? "" : "Connection: close\r\n") + "\r\n" + body
                        _ = text.withCString { send(connection, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                        if keepAlive { continue }
                    }
                    break
                }
                Glibc.close(connection)
            }
        }.start()
    }

    /// Reads one request (its head and a body of Content-Length bytes); `false` at the end.
    private static func readRequest(_ connection: Int32) -> Bool {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            if let end = received.firstRange(of: Array("\r\n\r\n".utf8)) {
                let head = String(decoding: received[..<end.lowerBound], as: UTF8.self).lowercased()
                let length =
                    head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                if received.count - end.upperBound >= length { return true }
            }
            let count = recv(connection, &buffer, buffer.count, 0)
            guard count > 0 else { return false }
            received += buffer[..<count]
        }
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
    }
}
