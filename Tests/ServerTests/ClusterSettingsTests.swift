import Foundation
import Testing

/// The cluster settings: a server with `NODE_URL` refuses to start without a PostgreSQL
/// database, a valid `NODE_ID` and a long enough `CLUSTER_SECRET`, saying which.
@Suite("Cluster settings")
struct ClusterSettingsTests {
    let commandLine = CommandLineTests()

    static let secret = "a-cluster-secret-of-more-than-32-characters"
    /// Checked before any connection is made: nothing needs to listen there.
    static let postgres = "postgres://ocpp@127.0.0.1:1/ocpp"

    static func cluster(_ changes: [String: String]) -> [String: String] {
        [
            "DATABASE_URL": postgres, "NODE_ID": "node-1", "NODE_URL": "http://127.0.0.1:8181",
            "CLUSTER_SECRET": secret,
        ].merging(changes) { _, new in new }.filter { !$0.value.isEmpty }
    }

    @Test(
        "A cluster setting that is missing or wrong stops the server with a message naming it",
        arguments: [
            (["DATABASE_URL": "sqlite://:memory:"], "DATABASE_URL must be postgres://"),
            (["DATABASE_URL": ""], "DATABASE_URL must be postgres://"),
            (["CLUSTER_SECRET": ""], "NODE_URL is set but CLUSTER_SECRET is not"),
            (
                ["CLUSTER_SECRET": String(repeating: "s", count: 31)],
                "CLUSTER_SECRET has 31 characters; it needs at least 32"
            ),
            (["NODE_ID": ""], "NODE_URL is set but NODE_ID is not"),
            (["NODE_ID": "node one"], "NODE_ID 'node one' is not 1 to 64 letters"),
            (["NODE_ID": String(repeating: "n", count: 65)], "is not 1 to 64 letters"),
            (["NODE_URL": "https://127.0.0.1:8181"], "only http:// is supported"),
            (["NODE_URL": "http://:8181"], "no host"),
            (["NODE_URL": "http://127.0.0.1:0"], "the port is not in 1...65535"),
            (["CLUSTER_LEASE_SECONDS": "0"], "CLUSTER_LEASE_SECONDS '0' is not a whole number in 1...3600"),
            (["NODE_URL": ""], "NODE_ID is set but NODE_URL is not"),
        ]
    )
    func refused(changes: [String: String], message: String) throws {
        let run = try commandLine.run(["migrate"], environment: Self.cluster(changes))
        #expect(run.status != 0, "\(changes) was taken")
        #expect(run.output.contains(message), "\(run.output)")
        #expect(!run.output.contains(Self.secret))
    }

    @Test("Without NODE_URL and the other cluster settings the server runs on its own, on SQLite")
    func alone() throws {
        let run = try commandLine.run(["migrate"], environment: ["DATABASE_URL": "sqlite://:memory:"])
        #expect(run.status == 0, "\(run.output)")
    }
}
