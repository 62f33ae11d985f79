import NIOCore
import Synchronization

/// The idle connections to peers that node-to-node calls keep for the next call.
///
/// At most ``maximumIdlePerPeer`` idle connections per peer are kept, each for at most
/// ``idleLifetime``: less than the minute a node's HTTP server lets a connection idle, so a
/// peer does not close one just as it is taken. A connection found closed is dropped.
///
/// A call sent on a kept connection that closes before any byte of the answer arrives is sent
/// again on a new connection. That cannot run a command twice: a peer closes an idle
/// connection only when it stops or the connection idled too long, and then it has not read
/// the request; a peer that read the request and then died cannot be connected to afresh,
/// and that call fails as unreachable.
final class PeerConnectionPool: Sendable {
    /// A peer's address.
    struct Peer: Hashable, Sendable {
        var host: String
        var port: Int
    }

    /// The most idle connections kept per peer.
    static let maximumIdlePerPeer = 16
    /// How long an idle connection is kept.
    static let idleLifetime = TimeAmount.seconds(30)

    private struct Idle {
        var connection: PeerConnection
        var since: NIODeadline
    }

    private let idle = Mutex<[Peer: [Idle]]>([:])

    /// An idle connection to `peer` that is still open, if one is kept; the most recently
    /// used first. Connections kept too long are closed on the way.
    func take(_ peer: Peer) -> PeerConnection? {
        let oldest = NIODeadline.now() - Self.idleLifetime
        var expired: [PeerConnection] = []
        let taken = idle.withLock { idle -> PeerConnection? in
            while let last = idle[peer]?.popLast() {
                if last.since > oldest, last.connection.channel.isActive { return last.connection }
                expired.append(last.connection)
            }
            return nil
        }
        for connection in expired { connection.channel.close(promise: nil) }
        return taken
    }

    /// Keeps `connection` for the next call to `peer`, or closes it when enough are kept or
    /// it is closed.
    func give(_ connection: PeerConnection, to peer: Peer) {
        let now = NIODeadline.now()
        let oldest = now - Self.idleLifetime
        var closing: [PeerConnection] = []
        idle.withLock { idle in
            var kept = idle[peer] ?? []
            kept.removeAll { entry in
                guard entry.since <= oldest || !entry.connection.channel.isActive else { return false }
                closing.append(entry.connection)
                return true
            }
            if connection.channel.isActive, kept.count < Self.maximumIdlePerPeer {
                kept.append(Idle(connection: connection, since: now))
            } else {
                closing.append(connection)
            }
            idle[peer] = kept.isEmpty ? nil : kept
        }
        for connection in closing { connection.channel.close(promise: nil) }
    }

    /// How many idle connections are kept for `peer`.
    func idleCount(_ peer: Peer) -> Int {
        idle.withLock { $0[peer]?.count ?? 0 }
    }
}
