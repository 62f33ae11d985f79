import HTTPTypes
import Hummingbird
import NIOCore
import Relational

/// Sets ``APIRequestContext/principal`` from `Authorization: Bearer <token>` on every route
/// but the public ones (``APIAccessPolicy``), or answers 401 with `WWW-Authenticate: Bearer`.
///
/// It runs after routing, so it knows the route (`context.endpointPath`); a request no route
/// matches is authenticated too, so that an unauthenticated caller learns nothing about
/// which paths exist.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    let authenticator: APIAuthenticator
    let metricsPublic: Bool

    func handle(
        _ request: Request,
        context: APIRequestContext,
        next: (Request, APIRequestContext) async throws -> Response
    ) async throws -> Response {
        if let route = context.endpointPath,
            APIAccessPolicy.isPublic(method: request.method, path: route, metricsPublic: metricsPublic)
        {
            return try await next(request, context)
        }
        var context = context
        do {
            let token = try Self.bearerToken(request.headers[.authorization])
            context.principal = try await authenticator.principal(bearer: token)
        } catch let error as APIAuthenticationError {
            return Self.unauthorized(error)
        } catch let error as RelationalStoreError {
            throw APIError.detail(
                "tokens cannot be checked: the database is unavailable: \(error.message)",
                status: .serviceUnavailable
            )
        }
        return try await next(request, context)
    }

    /// The token of an `Authorization: Bearer <token>` header (the scheme in any case).
    static func bearerToken(_ header: String?) throws(APIAuthenticationError) -> Substring {
        guard let header, !header.isEmpty else {
            throw .missing("authentication required: send Authorization: Bearer <token>")
        }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw .missing("the Authorization header must be Bearer <token>")
        }
        let token = parts[1].drop { $0 == " " }
        guard !token.isEmpty, !token.contains(" ") else {
            throw .invalid("the bearer token is not valid")
        }
        return token
    }

    /// The 401 for `error`.
    static func unauthorized(_ error: APIAuthenticationError) -> Response {
        var response = APIJSONEncoder.response(
            (try? APIJSONEncoder.bytes(Detail(detail: error.reason))) ?? [],
            status: .unauthorized
        )
        response.headers[.wwwAuthenticate] = error.challenge
        return response
    }
}

/// Answers 403 when the caller's role may not use the route (``APIAccessPolicy``); runs after
/// ``AuthenticationMiddleware``. A request no route matches goes on to be answered 404 or 405.
struct AuthorizationMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    func handle(
        _ request: Request,
        context: APIRequestContext,
        next: (Request, APIRequestContext) async throws -> Response
    ) async throws -> Response {
        if let principal = context.principal, let route = context.endpointPath,
            !APIAccessPolicy.allows(
                principal.role,
                scoped: principal.companyID != nil,
                method: request.method,
                path: route
            )
        {
            if let company = principal.companyID,
                APIAccessPolicy.allows(principal.role, method: request.method, path: route)
            {
                throw APIError.detail(
                    "\(request.method) \(route) is not for a caller limited to a company (this token is "
                        + "limited to company \(company))",
                    status: .forbidden
                )
            }
            let allowed = APIAccessPolicy.rule(method: request.method, path: route)?.roles ?? [.admin]
            throw APIError.detail(
                "role \(principal.role.rawValue) may not \(request.method) \(route); allowed: "
                    + APIRole.allCases.filter(allowed.contains).map(\.rawValue).joined(separator: ", "),
                status: .forbidden
            )
        }
        return try await next(request, context)
    }
}
