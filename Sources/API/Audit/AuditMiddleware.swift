import Foundation
import Hummingbird
import Logging
import NIOCore
import Relational

/// Appends an entry to the audit log for every write made through the API (POST, PUT,
/// PATCH, DELETE on any route: commands to chargers, `/db/*` including the OCPP relay,
/// token administration, authorization keys), with the status it is answered with.
///
/// The entry is written after the route has run and before the answer leaves: a write whose
/// entry cannot be appended is answered 503 (and logged), although what it did may already
/// have taken effect. Reads are not audited. An entry never holds a body or a header; the
/// target is the path's ids, the id a create answers in `Location`, or the
/// `charge_point_id` of a relayed OCPP message.
///
/// The internal API of a cluster (`/cluster/v1/...`) is not audited: a node calls it only to
/// run a command another node received, and that node's entry names the caller.
///
/// It runs inside the authentication middleware (it reads ``APIRequestContext/principal``)
/// and the ``ErrorMiddleware``, so what it records is the status the client gets.
struct AuditMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    let store: RelationalStore

    /// The methods that write.
    static let auditedMethods: Set<HTTPRequest.Method> = [.post, .put, .patch, .delete]

    /// The actor of a request made without a principal (authentication is off).
    static let anonymous = "anonymous"

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        // A command a peer forwards here was audited by the node that received it, with its
        // caller: one action, one entry (the nodes share one audit log).
        guard Self.auditedMethods.contains(request.method),
            !request.uri.path.hasPrefix(ClusterForwarder.internalPrefix + "/")
        else {
            return try await next(request, context)
        }
        let route = context.endpointPath
        var request = request
        var relayedChargePoint: String?
        let outcome: Result<Response, any Error>
        if let route, route.hasPrefix("/db/ocpp/") {
            // The relay names its charger in the body: read it here, the route reads it again.
            do {
                let body = try await request.collectBody(upTo: IntegrationRoutes.maximumBodySize)
                relayedChargePoint = Self.chargePointID(in: body)
                outcome = await Self.run(next, request, context)
            } catch {
                outcome = .failure(
                    APIError.detail(
                        "the body exceeds \(IntegrationRoutes.maximumBodySize) bytes",
                        status: .contentTooLarge
                    )
                )
            }
        } else {
            outcome = await Self.run(next, request, context)
        }
        let entry = Self.entry(
            request,
            context,
            route: context.endpointPath ?? route,
            outcome: outcome,
            relayedChargePoint: relayedChargePoint
        )
        do {
            try await store.appendAudit(entry)
        } catch {
            context.logger.error(
                "Cannot append to the audit log; the write is answered 503",
                metadata: [
                    "error": "\(error)", "method": "\(request.method)", "path": "\(request.uri.path)",
                    "status": "\(entry.status)",
                ]
            )
            throw APIError.detail(
                "the audit log cannot be written, so the outcome of this request is not reported; "
                    + "it may have taken effect: check before retrying",
                status: .serviceUnavailable
            )
        }
        return try outcome.get()
    }

    private static func run(
        _ next: (Request, Context) async throws -> Response,
        _ request: Request,
        _ context: Context
    ) async -> Result<Response, any Error> {
        do {
            return .success(try await next(request, context))
        } catch {
            return .failure(error)
        }
    }

    /// The entry recording `request` and its outcome.
    static func entry(
        _ request: Request,
        _ context: Context,
        route: String?,
        outcome: Result<Response, any Error>,
        relayedChargePoint: String?
    ) -> AuditEntry {
        let status: HTTPResponse.Status
        var notes = ["request_id=\(context.id)"]
        // The query's names; a value only for `cascade`, the one a write takes (others could
        // carry anything a caller put there).
        let query = request.uri.queryParameters.map { name, value in
            name == "cascade" ? "\(name)=\(value)" : String(name)
        }
        if !query.isEmpty { notes.append("query: " + query.joined(separator: "&")) }
        var created: String?
        switch outcome {
        case .success(let response):
            status = response.status
            if status == .created, let location = response.headers[.location],
                let id = location.split(separator: "/").last
            {
                created = "id=\(id)"
            }
        case .failure(let error as APIError):
            status = error.status
            if let invalid = error.body as? ValidationErrors {
                // Where and what kind, never the message: it may quote what was sent.
                let issues = invalid.detail.map { issue in
                    issue.loc.map { location -> String in
                        switch location {
                        case .name(let name): name
                        case .index(let index): "[\(index)]"
                        }
                    }.joined(separator: ".") + " (\(issue.type))"
                }
                notes.append("invalid: " + issues.joined(separator: ", "))
            }
        case .failure(let error as any HTTPResponseError):
            status = error.status
        case .failure:
            // The ErrorMiddleware around this one answers it with a 500.
            status = .internalServerError
        }
        var targets = context.parameters.map { "\($0.key)=\($0.value)" }
        if let relayedChargePoint { targets.append("charge_point_id=\(relayedChargePoint)") }
        if let created { targets.append(created) }
        let principal = context.principal
        return AuditEntry(
            actor: principal?.name ?? anonymous,
            actorTokenID: principal?.tokenID,
            role: principal?.role.rawValue,
            method: request.method.rawValue,
            route: route.flatMap { $0 == "NotFound" ? nil : $0 } ?? "(no route)",
            path: request.uri.path,
            target: targets.isEmpty ? nil : targets.joined(separator: ","),
            status: status.code,
            detail: notes.joined(separator: "; ")
        )
    }

    /// The `charge_point_id` string of a JSON object `body`, if it has one.
    static func chargePointID(in body: ByteBuffer) -> String? {
        guard case .object(let object)? = JSONValue.parse(Array(buffer: body)),
            case .string(let identity)? = object["charge_point_id"]
        else { return nil }
        return identity
    }
}
