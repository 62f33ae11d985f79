public import Foundation
import NIOCore
import NIOWebSocket
import Synchronization

/// A connected charger as the REST API lists it.
public struct ConnectedChargePoint: Sendable, Hashable {
    /// The charge point id.
    public var chargePointID: ChargePointID
    /// When the WebSocket was established.
    public var connectedSince: Date
    /// The peer's address, as `ip:port`.
    public var remoteAddress: String?
    /// When the last message arrived from it.
    public var lastMessageAt: Date
    /// The registration status it was last told (`Accepted`, `Pending`, `Rejected`), if it booted or is known.
    public var registrationStatus: String?
    /// The negotiated subprotocol (`ocpp1.6`, or `nil` when the charger offered none).
    public var subprotocol: String?
}

/// One live connection, shared between its handler (on its event loop) and the rest of the
/// server (registry, calls from REST).
final class ChargePointSession: Sendable {
    let chargePointID: ChargePointID
    let channel: any Channel
    let connectedSince: Date
    let remoteAddress: String?
    let subprotocol: String?
    /// This connection's number in the process (the presence writer tells connections apart by it).
    let serial: UInt64
    private let lastMessageMilliseconds: Synchronization.Atomic<Int64>
    private let registration: Mutex<String?>
    /// Set once the handler is in the pipeline; calls go through it.
    let handler = Mutex<NIOLoopBound<OCPPConnectionHandler>?>(nil)

    init(chargePointID: ChargePointID, channel: any Channel, subprotocol: String?, registrationStatus: String?) {
        self.chargePointID = chargePointID
        self.channel = channel
        self.subprotocol = subprotocol
        self.serial = Self.serials.add(1, ordering: .relaxed).newValue
        let now = Date()
        self.connectedSince = now
        self.remoteAddress = channel.remoteAddress.map(Self.describe)
        self.lastMessageMilliseconds = Synchronization.Atomic(Int64(now.timeIntervalSince1970 * 1000))
        self.registration = Mutex(registrationStatus)
    }

    private static let serials = Synchronization.Atomic<UInt64>(0)

    private static func describe(_ address: SocketAddress) -> String {
        if let ip = address.ipAddress, let port = address.port {
            return address.protocol == .inet6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
        }
        return "\(address)"
    }

    func noteMessage(at milliseconds: Int64) {
        lastMessageMilliseconds.store(milliseconds, ordering: .relaxed)
    }

    var registrationStatus: String? {
        get { registration.withLock { $0 } }
        set { registration.withLock { $0 = newValue } }
    }

    /// Closes the connection with a WebSocket close frame (`code`, `reason`) once what it is
    /// writing is out; the socket alone when no handler runs it yet.
    func close(code: WebSocketErrorCode, reason: String) {
        if let handler = handler.withLock({ $0 }) {
            channel.eventLoop.execute { handler.value.close(code: code, reason: reason) }
        } else {
            channel.close(promise: nil)
        }
    }

    var snapshot: ConnectedChargePoint {
        ConnectedChargePoint(
            chargePointID: chargePointID,
            connectedSince: connectedSince,
            remoteAddress: remoteAddress,
            lastMessageAt: Date(
                timeIntervalSince1970: Double(lastMessageMilliseconds.load(ordering: .relaxed)) / 1000
            ),
            registrationStatus: registrationStatus,
            subprotocol: subprotocol
        )
    }
}

/// Who is connected: charge point id to its live session. A second connection with the
/// same id replaces the first, which is closed.
///
/// In a cluster, each change is handed to the presence writer under the registry's lock, so
/// the writer sees a charger's changes in the order the registry made them.
final class ConnectionRegistry: Sendable {
    private let sessions = Mutex<[ChargePointID: ChargePointSession]>([:])
    private let presence: ChargerPresenceSink?

    /// - Parameter presence: Where connections opening and closing are reported (cluster mode).
    init(presence: ChargerPresenceSink? = nil) {
        self.presence = presence
    }

    /// Registers `session`.
    /// - Returns: The session it replaces, to be closed by the caller.
    func register(_ session: ChargePointSession) -> ChargePointSession? {
        sessions.withLock { sessions in
            presence?.record(
                .connected(
                    serial: session.serial,
                    chargePointID: session.chargePointID.rawValue,
                    at: session.connectedSince
                )
            )
            return sessions.updateValue(session, forKey: session.chargePointID)
        }
    }

    /// Removes `session`, unless a newer connection has replaced it already.
    func remove(_ session: ChargePointSession) {
        sessions.withLock { sessions in
            let current = sessions[session.chargePointID] === session
            if current {
                sessions.removeValue(forKey: session.chargePointID)
            }
            presence?.record(
                .disconnected(
                    serial: session.serial,
                    chargePointID: session.chargePointID.rawValue,
                    at: Date(),
                    current: current
                )
            )
        }
    }

    func session(for chargePointID: ChargePointID) -> ChargePointSession? {
        sessions.withLock { $0[chargePointID] }
    }

    var count: Int { sessions.withLock { $0.count } }

    var all: [ChargePointSession] { sessions.withLock { Array($0.values) } }
}
