import Foundation
public import Logging
import Metrics
public import Relational
public import ServiceLifecycle
import Synchronization

/// A node's membership of the cluster, run in the server's service group: it registers the
/// node with a lease, renews the lease every third of it, writes which chargers the node
/// holds (presence and residency intervals), closes its connections that other nodes have
/// taken over, and on graceful shutdown removes the node and its presence.
///
/// Presence is written in the background: the connection registry hands each change to a
/// ledger (``ChargerPresenceLedger``) without waiting, coalesced per charger (the latest
/// state wins), and a writer applies it, several chargers at a time. A write that fails is
/// retried with a backoff; every lease period the node compares its rows with what it holds
/// and writes what differs, so any lost write heals within a lease.
///
/// A connection that takes a charger over from another node is announced through
/// PostgreSQL's `LISTEN`/`NOTIFY` (``RelationalStore/chargerTakeoverChannel``); the node
/// holding an older connection of that charger closes it (1008, "replaced by a newer
/// connection through another node").
public final class ClusterMembership: Service, Sendable {
    /// The node's settings.
    public let settings: ClusterSettings
    let store: RelationalStore
    let logger: Logger
    /// Where the connection registry reports connections opening and closing.
    let presence = ChargerPresenceSink()
    /// The node's connections, to close those taken over (set by the ingest front end).
    let registry = Mutex<ConnectionRegistry?>(nil)
    /// Set while the takeover announcements are heard.
    let listening = Atomic<Bool>(false)
    /// Which nodes hold the chargers this node forwarded commands to, kept fresh by the
    /// takeover announcements.
    public let routes: ChargerRoutes
    /// Set when the writer should compare its rows with the registry at once.
    let reconcileRequested = Atomic<Bool>(false)
    /// Set once the group shuts down: the writer flushes and ends.
    let stopping = Atomic<Bool>(false)
    let statistics = ClusterPresenceStatistics()
    private let renewing = Atomic<Bool>(true)
    let presenceFailures = Counter(label: "ocpp_cluster_presence_write_failures_total")
    let presencePending = Gauge(label: "ocpp_cluster_presence_pending")
    let presenceReconciled = Counter(label: "ocpp_cluster_presence_reconciled_total")
    let takeovers = Counter(label: "ocpp_cluster_takeovers_total")
    private let leaseFailures = Counter(label: "ocpp_cluster_lease_renewal_failures_total")

    /// - Parameters:
    ///   - settings: The node's id, URL, secret and lease.
    ///   - store: The cluster's PostgreSQL database.
    ///   - logger: The server's logger.
    public init(settings: ClusterSettings, store: RelationalStore, logger: Logger) {
        self.settings = settings
        self.store = store
        self.logger = logger
        routes = ChargerRoutes(lifetime: .seconds(settings.leaseSeconds))
    }

    /// Gives the membership the connections it closes when another node takes them over.
    func attach(_ registry: ConnectionRegistry) {
        self.registry.withLock { $0 = registry }
    }

    /// How often the node compares its presence rows with what it holds: every lease.
    var reconcileInterval: Duration { .seconds(settings.leaseSeconds) }

    /// Registers the node, then renews its lease, hears takeovers and writes presence until
    /// the group shuts down gracefully; then writes what is left, and removes the node and its
    /// presence.
    /// - Throws: ``RelationalStoreError`` when the node cannot register: the server does not run.
    public func run() async throws {
        try await store.registerClusterNode(
            nodeID: settings.nodeID,
            url: settings.nodeURL.description,
            leaseSeconds: Double(settings.leaseSeconds),
            at: Date()
        )
        logger.notice(
            "Joined the cluster",
            metadata: [
                "node_id": "\(settings.nodeID)", "node_url": "\(settings.nodeURL)",
                "lease_seconds": "\(settings.leaseSeconds)",
            ]
        )
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.renewLeases() }
                group.addTask { await self.listenForTakeovers() }
                // Ends once the group shuts down and what is pending is written (or a while has passed).
                await self.writePresence()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            self.presence.doorbell.ring()
        }
        do {
            try await store.removeClusterNode(nodeID: settings.nodeID, at: Date())
            logger.notice("Left the cluster", metadata: ["node_id": "\(settings.nodeID)"])
        } catch {
            logger.error(
                "Leaving the cluster failed; peers treat the node as gone once its lease lapses",
                metadata: ["node_id": "\(settings.nodeID)", "error": "\(error)"]
            )
        }
    }

    /// Renews the lease every third of it until cancelled.
    private func renewLeases() async {
        let interval = Duration.milliseconds(settings.leaseSeconds * 1000 / 3)
        while true {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            guard renewing.load(ordering: .relaxed) else { continue }
            do {
                try await store.renewClusterLease(
                    nodeID: settings.nodeID,
                    url: settings.nodeURL.description,
                    leaseSeconds: Double(settings.leaseSeconds)
                )
            } catch {
                leaseFailures.increment()
                logger.error(
                    "Renewing the cluster lease failed",
                    metadata: ["node_id": "\(settings.nodeID)", "error": "\(error)"]
                )
            }
        }
    }

    // MARK: - Tests

    /// Stops renewing the lease (the node then lapses as a hung one would).
    func stopRenewingLease() { renewing.store(false, ordering: .relaxed) }
}
