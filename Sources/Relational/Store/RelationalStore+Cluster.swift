public import Foundation
import SQLKit

/// A node of the cluster as `cluster_nodes` holds it.
public struct ClusterNodeRecord: Sendable, Hashable {
    /// The node's id (`NODE_ID`).
    public var nodeID: String
    /// The base URL peers reach its API at (`NODE_URL`).
    public var url: String
    /// When it last registered (started).
    public var startedAt: Date
    /// Until when its lease holds.
    public var leaseExpiresAt: Date
    /// Whether the lease holds now, by the database's clock.
    public var isAlive: Bool
}

/// A connected charger as `charger_presence` holds it, with the node that holds it.
public struct ChargerPresenceRecord: Sendable, Hashable {
    /// The charge point id.
    public var chargePointID: String
    /// The node its connection is on.
    public var nodeID: String
    /// That node's base URL.
    public var nodeURL: String
    /// When the connection began (the node's clock).
    public var connectedAt: Date
    /// How long the node's lease still held when the row was read, in seconds.
    public var leaseSecondsLeft: Double
}

/// One connection of a charger to a node: when it began and, once it has, when it ended.
public struct ChargerResidencyRecord: Sendable, Hashable {
    /// The interval's id.
    public var id: Int64
    /// The charge point id.
    public var chargePointID: String
    /// The node the connection was on.
    public var nodeID: String
    /// When it began (the node's clock).
    public var connectedAt: Date
    /// When it ended; `nil` while it lasts (or until its node registers again after a crash).
    public var disconnectedAt: Date?
}

extension RelationalStore {
    /// The database's own clock, as an instant of the dialect: nodes compare leases against
    /// one clock, whatever their own clocks say.
    var databaseNow: String {
        dialect == .postgres ? "now()" : "((julianday('now') - 2440587.5) * 86400.0)"
    }

    /// The database's clock plus `seconds`.
    func databaseNow(plus seconds: Double) -> SQLQueryString {
        dialect == .postgres
            ? "(now() + \(bind: seconds) * interval '1 second')"
            : "(((julianday('now') - 2440587.5) * 86400.0) + \(bind: seconds))"
    }

    /// Registers a starting node: its row with a new lease, and none of the presence a previous
    /// run of the same node left (it holds no charger yet; its open residency intervals end now).
    /// - Parameters:
    ///   - nodeID: The node's id.
    ///   - url: The base URL peers reach it at.
    ///   - leaseSeconds: How long the lease holds unless renewed.
    ///   - at: The node's clock, for the intervals it closes.
    /// - Throws: ``RelationalStoreError``.
    public func registerClusterNode(nodeID: String, url: String, leaseSeconds: Double, at: Date) async throws {
        let expires = databaseNow(plus: leaseSeconds)
        let now = databaseNow
        try await write { sql in
            try await Self.endResidency(of: nodeID, at: at, sql)
            try await sql.raw(
                """
                INSERT INTO cluster_nodes (node_id, url, started_at, lease_expires_at)
                VALUES (\(bind: nodeID), \(bind: url), \(unsafeRaw: now), \(expires))
                ON CONFLICT (node_id) DO UPDATE SET url = excluded.url, started_at = excluded.started_at,
                    lease_expires_at = excluded.lease_expires_at
                """
            ).run()
        }
    }

    /// Renews a node's lease: it holds `leaseSeconds` from now. A node whose row is gone (its
    /// lease lapsed and was cleaned up) is registered again, keeping its presence rows.
    /// - Throws: ``RelationalStoreError``.
    public func renewClusterLease(nodeID: String, url: String, leaseSeconds: Double) async throws {
        let expires = databaseNow(plus: leaseSeconds)
        let now = databaseNow
        try await write { sql in
            try await sql.raw(
                """
                INSERT INTO cluster_nodes (node_id, url, started_at, lease_expires_at)
                VALUES (\(bind: nodeID), \(bind: url), \(unsafeRaw: now), \(expires))
                ON CONFLICT (node_id) DO UPDATE SET url = excluded.url,
                    lease_expires_at = excluded.lease_expires_at
                """
            ).run()
        }
    }

    /// Removes a node that leaves the cluster: its row and its presence rows; its open
    /// residency intervals end at `at`.
    /// - Throws: ``RelationalStoreError``.
    public func removeClusterNode(nodeID: String, at: Date) async throws {
        try await write { sql in
            try await Self.endResidency(of: nodeID, at: at, sql)
            try await sql.delete(from: "cluster_nodes").where("node_id", .equal, nodeID).run()
        }
    }

    /// Deletes the presence rows of `nodeID` and ends its open residency intervals.
    private static func endResidency(of nodeID: String, at: Date, _ sql: any SQLDatabase) async throws {
        try await sql.delete(from: "charger_presence").where("node_id", .equal, nodeID).run()
        try await sql.update("charger_residency").set("disconnected_at", to: at)
            .where("node_id", .equal, nodeID).where("disconnected_at", .is, SQLLiteral.null).run()
    }

    /// The cluster's nodes, by id, with whether each lease holds.
    /// - Throws: ``RelationalStoreError``.
    public func clusterNodes() async throws -> [ClusterNodeRecord] {
        let now = databaseNow
        return try await read { sql in
            try await sql.raw(
                """
                SELECT node_id, url, started_at, lease_expires_at,
                    CASE WHEN lease_expires_at > \(unsafeRaw: now) THEN 1 ELSE 0 END AS alive
                FROM cluster_nodes ORDER BY node_id
                """
            ).all().map { row in
                ClusterNodeRecord(
                    nodeID: try row.decode(column: "node_id", as: String.self),
                    url: try row.decode(column: "url", as: String.self),
                    startedAt: try row.decode(column: "started_at", as: Date.self),
                    leaseExpiresAt: try row.decode(column: "lease_expires_at", as: Date.self),
                    isAlive: try row.decode(column: "alive", as: Int.self) == 1
                )
            }
        }
    }

    /// Records that `chargePointID` connected to `nodeID`: its presence names the node (whoever
    /// held it before), and a residency interval opens.
    /// - Returns: The interval's id.
    /// - Throws: ``RelationalStoreError``.
    public func recordChargerConnected(chargePointID: String, nodeID: String, at: Date) async throws -> Int64 {
        try await write { sql in
            try await sql.raw(
                """
                INSERT INTO charger_presence (charge_point_id, node_id, connected_at)
                VALUES (\(bind: chargePointID), \(bind: nodeID), \(bind: at))
                ON CONFLICT (charge_point_id) DO UPDATE SET node_id = excluded.node_id,
                    connected_at = excluded.connected_at
                """
            ).run()
            guard
                let row = try await sql.insert(into: "charger_residency")
                    .columns("charge_point_id", "node_id", "connected_at")
                    .values(SQLBind(chargePointID), SQLBind(nodeID), SQLBind(at))
                    .returning("id").first()
            else { throw RelationalStoreError(code: .unavailable, message: "insert returned no row") }
            return try row.decode(column: "id", as: Int64.self)
        }
    }

    /// Where `chargePointID` is connected, if a node whose lease holds has it.
    /// - Throws: ``RelationalStoreError``.
    public func chargerPresence(_ chargePointID: String) async throws -> ChargerPresenceRecord? {
        try await presence(chargePointID).first
    }

    /// The chargers connected to nodes whose lease holds, by charge point id.
    /// - Throws: ``RelationalStoreError``.
    public func clusterPresence() async throws -> [ChargerPresenceRecord] {
        try await presence(nil)
    }

    private func presence(_ chargePointID: String?) async throws -> [ChargerPresenceRecord] {
        let now = databaseNow
        let leaseLeft =
            dialect == .postgres
            ? "CAST(EXTRACT(EPOCH FROM (n.lease_expires_at - now())) AS DOUBLE PRECISION)"
            : "(n.lease_expires_at - \(now))"
        return try await read { sql in
            var query: SQLQueryString = """
                SELECT p.charge_point_id, p.node_id, n.url, p.connected_at, \(unsafeRaw: leaseLeft) AS lease_left
                FROM charger_presence p JOIN cluster_nodes n ON n.node_id = p.node_id
                WHERE n.lease_expires_at > \(unsafeRaw: now)
                """
            if let chargePointID { query += " AND p.charge_point_id = \(bind: chargePointID)" }
            query += " ORDER BY p.charge_point_id"
            return try await sql.raw(query).all().map { row in
                ChargerPresenceRecord(
                    chargePointID: try row.decode(column: "charge_point_id", as: String.self),
                    nodeID: try row.decode(column: "node_id", as: String.self),
                    nodeURL: try row.decode(column: "url", as: String.self),
                    connectedAt: try row.decode(column: "connected_at", as: Date.self),
                    leaseSecondsLeft: try row.decode(column: "lease_left", as: Double.self)
                )
            }
        }
    }

    /// The residency intervals of `chargePointID`, oldest first.
    /// - Throws: ``RelationalStoreError``.
    public func chargerResidency(_ chargePointID: String) async throws -> [ChargerResidencyRecord] {
        try await read { sql in
            try await sql.select().columns("id", "charge_point_id", "node_id", "connected_at", "disconnected_at")
                .from("charger_residency").where("charge_point_id", .equal, chargePointID)
                .orderBy("connected_at").orderBy("id").all().map { row in
                    ChargerResidencyRecord(
                        id: try row.decode(column: "id", as: Int64.self),
                        chargePointID: try row.decode(column: "charge_point_id", as: String.self),
                        nodeID: try row.decode(column: "node_id", as: String.self),
                        connectedAt: try row.decode(column: "connected_at", as: Date.self),
                        disconnectedAt: try row.decode(column: "disconnected_at", as: Date?.self)
                    )
                }
        }
    }
}
