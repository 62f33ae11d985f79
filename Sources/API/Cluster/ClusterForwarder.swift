import HTTPTypes
import Hummingbird
public import Ingest
import Logging
import NIOCore
import Protocol
public import Relational

/// A node's side of forwarding in a cluster: sends a command for a charger held by another
/// node to that node's internal API, and checks the secret of commands peers send here.
///
/// The internal API is `POST /cluster/v1/charge_points/{charge_point_id}/{command}`, the
/// public command's body and answer, with the cluster secret in `X-Cluster-Secret`. It runs
/// the command on the node's own connection only; a charger not connected there is a 404.
public struct ClusterForwarder: Sendable {
    /// The prefix of the internal API's paths.
    static let internalPrefix = "/cluster/v1"

    /// This node's settings.
    let settings: ClusterSettings
    let relational: RelationalStore
    let client: ClusterPeerClient
    /// The nodes that held the chargers commands were sent to, when this node hears the
    /// cluster's announcements.
    let routes: ChargerRoutes?
    /// How long a peer may take to answer: the charger's own call timeout on the peer, plus
    /// a margin for the hop.
    let timeout: TimeAmount

    /// - Parameters:
    ///   - settings: This node's id, URL, secret and lease.
    ///   - relational: The cluster's database, where presence is looked up.
    ///   - callTimeoutSeconds: How long a charger has to answer a call (`OCPP_CALL_TIMEOUT`).
    ///   - routes: The membership's routes (``ClusterMembership/routes``); without them every
    ///     command looks its node up in the database.
    public init(
        settings: ClusterSettings,
        relational: RelationalStore,
        callTimeoutSeconds: Int,
        routes: ChargerRoutes? = nil
    ) {
        self.settings = settings
        self.relational = relational
        self.routes = routes
        client = ClusterPeerClient()
        timeout = .seconds(Int64(callTimeoutSeconds + settings.forwardingMarginSeconds))
    }

    /// Answers 401 unless `request` carries the cluster secret; a bearer token does not stand in for it.
    func checkSecret(_ request: Request) throws(APIError) {
        guard let offered = request.headers[values: .clusterSecret].first, settings.secret.matches(offered) else {
            throw APIError.detail(
                "the cluster's internal API needs the cluster secret in \(ClusterSettings.secretHeader)",
                status: .unauthorized
            )
        }
    }

    /// Sends the command to the node that holds `chargePointID`, if another node whose lease
    /// holds has it.
    ///
    /// The node is the charger's route when one is kept (``ChargerRoutes``), otherwise its
    /// presence row. A route's node that answers 404 (it does not hold the charger, and ran
    /// nothing) or cannot be connected to (it was sent nothing) sends the command through a
    /// fresh lookup, as if no route had been kept.
    /// - Returns: That node's answer as it is (status, content type, body); `nil` when no
    ///   other live node holds the charger.
    /// - Throws: ``APIError``: 502 when the node cannot be reached or answers nonsense, 504
    ///   when it does not answer in time, 503 when the database cannot be asked.
    func forward(
        chargePointID: ChargePointID,
        path: String,
        action: OCPPAction,
        body: [UInt8],
        logger: Logger
    ) async throws(APIError) -> Response? {
        let command = Command(chargePointID: chargePointID, path: path, action: action, body: body)
        if let routes, let route = routes.route(for: chargePointID.rawValue), route.nodeID != settings.nodeID {
            switch await send(command, to: route) {
            case .success(let answer) where answer.status != 404:
                return try response(command, answer, node: route.nodeID, logger: logger)
            case .failure(.call(.cannotConnect)), .success:
                routes.forget(chargePointID.rawValue)
            case .failure(let error):
                throw failure(command, error, route: route, logger: logger)
            }
        }
        let mark = routes?.mark()
        let presence: ChargerPresenceRecord?
        do {
            presence = try await relational.chargerPresence(chargePointID.rawValue)
        } catch let error as RelationalStoreError {
            throw APIError(error)
        } catch {
            throw APIError(RelationalStoreError(code: .unavailable, message: "\(error)"))
        }
        guard let presence, presence.nodeID != settings.nodeID else { return nil }
        let route = ChargerRoutes.Route(nodeID: presence.nodeID, nodeURL: presence.nodeURL)
        switch await send(command, to: route) {
        case .success(let answer):
            if let routes, let mark, answer.status != 404 {
                routes.remember(
                    route,
                    for: chargePointID.rawValue,
                    lookedUp: mark,
                    validity: .milliseconds(Int64(presence.leaseSecondsLeft * 1000))
                )
            }
            return try response(command, answer, node: route.nodeID, logger: logger)
        case .failure(let error):
            throw failure(command, error, route: route, logger: logger)
        }
    }

    /// A command on its way to another node.
    private struct Command {
        var chargePointID: ChargePointID
        var path: String
        var action: OCPPAction
        var body: [UInt8]
    }

    /// Why a command did not reach the node of a route.
    private enum SendFailure: Error {
        case unusableURL(String)
        case call(PeerCallError)
    }

    /// Sends `command` to the node `route` names.
    private func send(_ command: Command, to route: ChargerRoutes.Route) async -> Result<PeerAnswer, SendFailure> {
        let url: ClusterNodeURL
        do {
            url = try ClusterNodeURL(route.nodeURL)
        } catch {
            return .failure(.unusableURL(error.reason))
        }
        do {
            return .success(
                try await client.post(
                    url,
                    path: "\(Self.internalPrefix)/charge_points/\(Self.pathSegment(command.chargePointID.rawValue))/"
                        + command.path,
                    headers: [(ClusterSettings.secretHeader, settings.secret.text)],
                    body: command.body,
                    timeout: timeout
                )
            )
        } catch {
            return .failure(.call(error))
        }
    }

    /// The answer to the caller for `failure` of sending `command` along `route`.
    private func failure(
        _ command: Command,
        _ failure: SendFailure,
        route: ChargerRoutes.Route,
        logger: Logger
    ) -> APIError {
        let action = command.action.rawValue
        let node = route.nodeID
        let error: PeerCallError
        switch failure {
        case .unusableURL(let why):
            return APIError.detail(
                "\(action): node \(node), which holds the charger, has an unusable URL: \(why)",
                status: .badGateway
            )
        case .call(let callError):
            error = callError
        }
        logger.warning(
            "Forwarding a command to another node failed",
            metadata: [
                "charge_point_id": "\(command.chargePointID)", "node_id": "\(node)", "node_url": "\(route.nodeURL)",
                "error": "\(error)",
            ]
        )
        switch error {
        case .timedOut:
            return APIError.detail(
                "\(action): node \(node), which holds the charger, did not answer within "
                    + "\(timeout.nanoseconds / 1_000_000_000) s",
                status: .gatewayTimeout
            )
        case .cannotConnect(let why), .unreachable(let why):
            return APIError.detail(
                "\(action): node \(node), which holds the charger, cannot be reached at \(route.nodeURL): \(why)",
                status: .badGateway
            )
        case .invalidAnswer(let why):
            return APIError.detail(
                "\(action): node \(node), which holds the charger, answered unusably: \(why)",
                status: .badGateway
            )
        }
    }

    /// The caller's answer: `answer` as the node gave it.
    private func response(
        _ command: Command,
        _ answer: PeerAnswer,
        node: String,
        logger: Logger
    ) throws(APIError) -> Response {
        // Only the internal route's secret check answers 401 there: the caller's own token was
        // accepted here, so the peer's refusal is the nodes' configuration, not the caller's.
        guard answer.status != 401 else {
            logger.error(
                "A node refused this node's cluster secret: CLUSTER_SECRET differs between them",
                metadata: ["charge_point_id": "\(command.chargePointID)", "node_id": "\(node)"]
            )
            throw APIError.detail(
                "\(command.action.rawValue): node \(node), which holds the charger, refused this node's cluster "
                    + "secret (CLUSTER_SECRET differs between the nodes)",
                status: .badGateway
            )
        }
        var headers = HTTPFields()
        headers[.contentType] = answer.contentType ?? "application/json"
        return Response(
            status: HTTPResponse.Status(code: answer.status),
            headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body))
        )
    }

    /// `id` percent-encoded but for unreserved characters, as one path segment.
    static func pathSegment(_ id: String) -> String {
        var text = ""
        for byte in id.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                text.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                text += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]], as: UTF8.self)
            }
        }
        return text
    }
}

extension HTTPField.Name {
    /// `X-Cluster-Secret`: the cluster secret on node-to-node calls.
    static let clusterSecret = HTTPField.Name(ClusterSettings.secretHeader)!
}
