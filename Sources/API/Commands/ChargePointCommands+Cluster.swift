import Hummingbird
import Ingest
import Protocol
import Relational

extension ChargePointCommands {
    /// The internal API's path segment for GetConfiguration, which the public API reads with
    /// `GET /charge_points/{charge_point_id}/configuration`: between nodes it is a call like
    /// the others, its request (`key`) in the body.
    static let internalConfigurationPath = "get_configuration"

    /// Registers the internal API's command routes: every command, and GetConfiguration.
    static func registerInternal(
        on router: Router<APIRequestContext>,
        ingest: OCPPIngest,
        relational: RelationalStore?,
        _ cluster: ClusterForwarder
    ) {
        for (path, action) in commands {
            internalCommand(path, action.requestType, router, ingest, relational, cluster)
        }
        internalCommand(internalConfigurationPath, GetConfigurationRequest.self, router, ingest, relational, cluster)
    }

    /// `POST /cluster/v1/charge_points/{charge_point_id}/{path}`: the same command from a peer,
    /// with the cluster secret; run here only, never forwarded again.
    private static func internalCommand<Request: OCPPRequest>(
        _ path: String,
        _ type: Request.Type,
        _ router: Router<APIRequestContext>,
        _ ingest: OCPPIngest,
        _ relational: RelationalStore?,
        _ cluster: ClusterForwarder
    ) {
        router.post("\(ClusterForwarder.internalPrefix)/charge_points/:charge_point_id/\(path)") {
            request,
            context -> Response in
            try cluster.checkSecret(request)
            return try await run(type, path, request, context, ingest, relational, forwarding: nil)
        }
    }

    /// Sends `call` through the node that holds the charger when it is not connected here and
    /// the caller may reach it.
    /// - Returns: That node's answer; `nil` when the charger is here, nowhere, or not the caller's.
    static func forwardIfElsewhere<Call: OCPPRequest>(
        _ call: Call,
        path: String,
        segment: String?,
        ingest: OCPPIngest,
        relational: RelationalStore?,
        context: APIRequestContext,
        _ cluster: ClusterForwarder
    ) async throws(APIError) -> Response? {
        guard let chargePointID = try? ChargePointID(pathSegment: Substring(segment ?? "")),
            ingest.connection(chargePointID) == nil,
            try await belongs(chargePointID, context, relational)
        else { return nil }
        return try await cluster.forward(
            chargePointID: chargePointID,
            path: path,
            action: Call.action,
            body: call.encoded(keyStyle: .snakeCase),
            logger: context.logger
        )
    }
}
