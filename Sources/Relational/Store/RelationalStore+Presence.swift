public import Foundation
import SQLKit

/// What a node writes about one charger at once: its presence (claimed for the node's
/// current connection, or released) and the residency intervals of its connections that
/// are not recorded yet. ``RelationalStore/applyChargerPresence(_:nodeID:)`` writes it in one
/// transaction.
public struct ChargerPresenceChange: Sendable, Equatable {
    /// What becomes of the charger's presence row.
    public enum Presence: Sendable, Equatable {
        /// Left as it is.
        case unchanged
        /// Names this node for the connection made at `connectedAt`, unless a live node holds a
        /// newer connection; with `announce`, the nodes hear of it (``RelationalStore/chargerTakeoverChannel``).
        case claim(connectedAt: Date, announce: Bool)
        /// Deleted if it still names this node.
        case release
    }

    /// A connection whose interval has no row yet.
    public struct NewInterval: Sendable, Equatable {
        /// The node's own key for the connection (its serial), to find the row's id in the outcome.
        public var key: UInt64
        /// When the connection began.
        public var connectedAt: Date
        /// When it ended, if it has.
        public var disconnectedAt: Date?

        public init(key: UInt64, connectedAt: Date, disconnectedAt: Date?) {
            self.key = key
            self.connectedAt = connectedAt
            self.disconnectedAt = disconnectedAt
        }
    }

    /// A recorded interval whose connection ended.
    public struct EndedInterval: Sendable, Equatable {
        /// The interval's id.
        public var id: Int64
        /// When the connection ended.
        public var disconnectedAt: Date

        public init(id: Int64, disconnectedAt: Date) {
            self.id = id
            self.disconnectedAt = disconnectedAt
        }
    }

    /// The charge point id.
    public var chargePointID: String
    /// What becomes of its presence row.
    public var presence: Presence
    /// Intervals to insert.
    public var newIntervals: [NewInterval]
    /// Intervals to end.
    public var endedIntervals: [EndedInterval]

    public init(
        chargePointID: String,
        presence: Presence,
        newIntervals: [NewInterval] = [],
        endedIntervals: [EndedInterval] = []
    ) {
        self.chargePointID = chargePointID
        self.presence = presence
        self.newIntervals = newIntervals
        self.endedIntervals = endedIntervals
    }
}

/// What ``RelationalStore/applyChargerPresence(_:nodeID:)`` did.
public struct ChargerPresenceOutcome: Sendable, Equatable {
    /// For a claim: whether the row names this node now; `false` when a live node holds a
    /// newer connection of the charger (this node's is stale). `nil` without a claim.
    public var claimed: Bool?
    /// The ids of the inserted intervals, by ``ChargerPresenceChange/NewInterval/key``.
    public var intervalIDs: [UInt64: Int64]

    public init(claimed: Bool?, intervalIDs: [UInt64: Int64]) {
        self.claimed = claimed
        self.intervalIDs = intervalIDs
    }
}

/// A node's announcement that it holds a charger's connection made at `connectedAt`.
public struct ChargerTakeover: Sendable, Equatable {
    /// The charge point id.
    public var chargePointID: String
    /// The node holding the new connection.
    public var nodeID: String
    /// When that connection began (the node's clock), in microseconds since 1970.
    public var connectedAtMicroseconds: Int64

    public init(chargePointID: String, nodeID: String, connectedAtMicroseconds: Int64) {
        self.chargePointID = chargePointID
        self.nodeID = nodeID
        self.connectedAtMicroseconds = connectedAtMicroseconds
    }

    /// `date` in whole microseconds since 1970, as connections are compared.
    public static func microseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    /// `node microseconds charge-point-id`: node ids and numbers hold no space, a charge point
    /// id may, so it comes last.
    var payload: String { "\(nodeID) \(connectedAtMicroseconds) \(chargePointID)" }

    /// The takeover `payload` describes, if it is one.
    init?(payload: String) {
        let parts = payload.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, let micros = Int64(parts[1]), !parts[2].isEmpty else { return nil }
        self.init(chargePointID: String(parts[2]), nodeID: String(parts[0]), connectedAtMicroseconds: micros)
    }
}

extension RelationalStore {
    /// The PostgreSQL notification channel on which nodes announce the connections they take.
    public static let chargerTakeoverChannel = "ocpp_charger_takeover"

    /// Writes `change` for `nodeID` in one transaction.
    ///
    /// A claim names the node unless the row names another node whose lease holds and whose
    /// connection is as new or newer: the newest connection of a charger holds it, whatever
    /// order the nodes' writes arrive in. A claim with `announce` that takes effect notifies
    /// ``chargerTakeoverChannel`` (on PostgreSQL; sent when the transaction commits).
    /// - Throws: ``RelationalStoreError``; nothing of `change` is written then.
    public func applyChargerPresence(
        _ change: ChargerPresenceChange,
        nodeID: String
    ) async throws
        -> ChargerPresenceOutcome
    {
        let now = databaseNow
        let postgres = dialect == .postgres
        return try await write { sql in
            var outcome = ChargerPresenceOutcome(claimed: nil, intervalIDs: [:])
            for interval in change.newIntervals {
                guard
                    let row = try await sql.insert(into: "charger_residency")
                        .columns("charge_point_id", "node_id", "connected_at", "disconnected_at")
                        .values(
                            SQLBind(change.chargePointID),
                            SQLBind(nodeID),
                            SQLBind(interval.connectedAt),
                            interval.disconnectedAt.map { SQLBind($0) as any SQLExpression } ?? SQLLiteral.null
                        )
                        .returning("id").first()
                else { throw RelationalStoreError(code: .unavailable, message: "insert returned no row") }
                outcome.intervalIDs[interval.key] = try row.decode(column: "id", as: Int64.self)
            }
            for interval in change.endedIntervals {
                try await sql.update("charger_residency").set("disconnected_at", to: interval.disconnectedAt)
                    .where("id", .equal, interval.id).where("node_id", .equal, nodeID)
                    .where("disconnected_at", .is, SQLLiteral.null).run()
            }
            switch change.presence {
            case .unchanged:
                break
            case .release:
                try await sql.delete(from: "charger_presence")
                    .where("charge_point_id", .equal, change.chargePointID).where("node_id", .equal, nodeID).run()
            case .claim(let connectedAt, let announce):
                let taken = try await sql.raw(
                    """
                    INSERT INTO charger_presence (charge_point_id, node_id, connected_at)
                    VALUES (\(bind: change.chargePointID), \(bind: nodeID), \(bind: connectedAt))
                    ON CONFLICT (charge_point_id) DO UPDATE SET node_id = excluded.node_id,
                        connected_at = excluded.connected_at
                    WHERE charger_presence.node_id = excluded.node_id
                        OR charger_presence.connected_at < excluded.connected_at
                        OR NOT EXISTS (SELECT 1 FROM cluster_nodes n WHERE n.node_id = charger_presence.node_id
                            AND n.lease_expires_at > \(unsafeRaw: now))
                    RETURNING node_id
                    """
                ).first()
                outcome.claimed = taken != nil
                if taken != nil, announce, postgres {
                    let takeover = ChargerTakeover(
                        chargePointID: change.chargePointID,
                        nodeID: nodeID,
                        connectedAtMicroseconds: ChargerTakeover.microseconds(connectedAt)
                    )
                    try await sql.raw(
                        "SELECT pg_notify(\(bind: Self.chargerTakeoverChannel), \(bind: takeover.payload))"
                    ).run()
                }
            }
            return outcome
        }
    }

    /// The chargers whose presence rows name `nodeID`, with when each connection began.
    /// - Throws: ``RelationalStoreError``.
    public func presence(ofNode nodeID: String) async throws -> [String: Date] {
        try await read { sql in
            var rows: [String: Date] = [:]
            for row in try await sql.select().columns("charge_point_id", "connected_at").from("charger_presence")
                .where("node_id", .equal, nodeID).all()
            {
                rows[try row.decode(column: "charge_point_id", as: String.self)] = try row.decode(
                    column: "connected_at",
                    as: Date.self
                )
            }
            return rows
        }
    }

    /// The ids of `nodeID`'s residency intervals that have not ended.
    /// - Throws: ``RelationalStoreError``.
    public func openResidencies(ofNode nodeID: String) async throws -> Set<Int64> {
        try await read { sql in
            Set(
                try await sql.select().column("id").from("charger_residency")
                    .where("node_id", .equal, nodeID).where("disconnected_at", .is, SQLLiteral.null)
                    .all().map { try $0.decode(column: "id", as: Int64.self) }
            )
        }
    }

    /// Ends the residency intervals `ids` of `nodeID` at `at`, those not ended yet.
    /// - Throws: ``RelationalStoreError``.
    public func endResidencies(_ ids: [Int64], ofNode nodeID: String, at: Date) async throws {
        guard !ids.isEmpty else { return }
        try await write { sql in
            try await sql.update("charger_residency").set("disconnected_at", to: at)
                .where("id", .in, ids).where("node_id", .equal, nodeID)
                .where("disconnected_at", .is, SQLLiteral.null).run()
        }
    }

    /// Listens for ``ChargerTakeover`` announcements on a connection of its own until the
    /// connection fails or the task is cancelled (PostgreSQL only).
    /// - Parameters:
    ///   - listening: Called once the database listens: announcements made before it are not heard.
    ///   - received: Called with each announcement, in the order the database sent them.
    /// - Throws: ``RelationalStoreError`` when the connection fails or the database is SQLite.
    public func listenForChargerTakeovers(
        listening: @escaping @Sendable () -> Void,
        received: @escaping @Sendable (ChargerTakeover) -> Void
    ) async throws {
        guard let postgres = backend as? PostgresBackend else {
            throw RelationalStoreError(code: .unavailable, message: "announcements need PostgreSQL")
        }
        do {
            try await postgres.listen(channel: Self.chargerTakeoverChannel, listening: listening) { payload in
                if let takeover = ChargerTakeover(payload: payload) { received(takeover) }
            }
        } catch {
            throw RelationalStoreError.translating(error, operation: .read)
        }
    }
}
