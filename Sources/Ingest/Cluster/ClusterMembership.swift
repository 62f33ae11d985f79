import Foundation
public import Logging
import Metrics
public import Relational
public import ServiceLifecycle
import Synchronization

/// A node's membership of the cluster, run in the server's service group: it registers the
/// node with a lease, renews the lease every third of it, writes which chargers the node
/// holds (presence and residency intervals), and on graceful shutdown removes the node and
/// its presence.
///
/// Presence is written in the background, in the order connections opened and closed: the
/// connection registry hands each change over without waiting (``presence``), and one task
/// writes them one after another, so that a charger's close never overtakes its open. A
/// write that fails is logged and counted (`ocpp_cluster_presence_write_failures_total`);
/// the connection goes on.
public final class ClusterMembership: Service, Sendable {
    /// The node's settings.
    public let settings: ClusterSettings
    let store: RelationalStore
    let logger: Logger
    /// Where the connection registry reports connections opening and closing.
    let presence: ChargerPresenceSink
    private let events: AsyncStream<ChargerPresenceEvent>
    private let renewing = Atomic<Bool>(true)
    private let presenceFailures = Counter(label: "ocpp_cluster_presence_write_failures_total")
    private let leaseFailures = Counter(label: "ocpp_cluster_lease_renewal_failures_total")

    /// - Parameters:
    ///   - settings: The node's id, URL, secret and lease.
    ///   - store: The cluster's PostgreSQL database.
    ///   - logger: The server's logger.
    public init(settings: ClusterSettings, store: RelationalStore, logger: Logger) {
        self.settings = settings
        self.store = store
        self.logger = logger
        let (events, continuation) = AsyncStream<ChargerPresenceEvent>.makeStream()
        self.events = events
        presence = ChargerPresenceSink(continuation: continuation)
    }

    /// Registers the node, then renews its lease and writes presence until the group shuts
    /// down gracefully; then writes what is left, and removes the node and its presence.
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
                // Ends once the stream is finished (graceful shutdown) and drained.
                await self.writePresence()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.presence.finish()
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

    /// Writes presence changes in the order they happened, until the stream ends.
    private func writePresence() async {
        // The residency interval each open connection's row is, by connection serial.
        var residencies: [UInt64: Int64] = [:]
        for await event in events {
            switch event {
            case .connected(let serial, let chargePointID, let at):
                do {
                    residencies[serial] = try await store.recordChargerConnected(
                        chargePointID: chargePointID,
                        nodeID: settings.nodeID,
                        at: at
                    )
                } catch {
                    failed("connected", chargePointID, error)
                }
            case .disconnected(let serial, let chargePointID, let at, let current):
                let residency = residencies.removeValue(forKey: serial)
                do {
                    try await store.recordChargerDisconnected(
                        chargePointID: chargePointID,
                        nodeID: settings.nodeID,
                        residencyID: residency,
                        at: at,
                        current: current
                    )
                } catch {
                    failed("disconnected", chargePointID, error)
                }
            }
        }
    }

    private func failed(_ change: String, _ chargePointID: String, _ error: any Error) {
        presenceFailures.increment()
        logger.error(
            "Recording a charger's presence failed",
            metadata: ["charge_point_id": "\(chargePointID)", "change": "\(change)", "error": "\(error)"]
        )
    }

    // MARK: - Tests

    /// Stops renewing the lease (the node then lapses as a hung one would).
    func stopRenewingLease() { renewing.store(false, ordering: .relaxed) }
}

/// A connection opening or closing, as the presence writer records it.
enum ChargerPresenceEvent: Sendable {
    /// Connection `serial` of `chargePointID` was accepted at `at`.
    case connected(serial: UInt64, chargePointID: String, at: Date)
    /// Connection `serial` closed at `at`; `current`: no newer connection had replaced it.
    case disconnected(serial: UInt64, chargePointID: String, at: Date, current: Bool)
}

/// Hands presence changes to the writer without waiting.
struct ChargerPresenceSink: Sendable {
    let continuation: AsyncStream<ChargerPresenceEvent>.Continuation

    func record(_ event: ChargerPresenceEvent) { continuation.yield(event) }

    func finish() { continuation.finish() }
}
