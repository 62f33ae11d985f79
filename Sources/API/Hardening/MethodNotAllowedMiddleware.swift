import HTTPTypes
import Hummingbird
import NIOCore

/// Answers a request whose path a route matches but whose method none declares: 405 with an
/// `Allow` header listing the methods the path has (and `OPTIONS`); `OPTIONS` itself is
/// answered 204 with the same `Allow` header (and no CORS headers: no other origin is let in).
/// `HEAD` is not served: the API declares no `HEAD` operation, so it gets 405 like any other
/// undeclared method. Paths no route matches stay 404.
///
/// It learns the routes from the router itself: registered after every route, it runs only
/// for requests the router could not match (a router applies a middleware to the routes added
/// after it, and to its not-found answer). It copies every route into a second router, under
/// a method name of its own, so a path resolves to the same route there as in the router.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Answers `probe(method)` for the paths that have a route for `method`.
    private let table: RouterResponder<Context>
    /// Every method some route has, sorted.
    private let methods: [HTTPRequest.Method]

    /// - Parameter routes: Every route of the router (`router.routes`, once all are added).
    init(routes: [Router<Context>.RouteDescription]) {
        let table = Router(context: Context.self)
        for route in routes {
            table.on(route.path, method: Self.probe(route.method)) { _, _ in Response(status: .noContent) }
        }
        self.table = table.buildResponder()
        methods = Set(routes.map(\.method)).sorted { $0.rawValue < $1.rawValue }
    }

    /// The method the table keeps `method` under (a token no client sends).
    private static func probe(_ method: HTTPRequest.Method) -> HTTPRequest.Method {
        HTTPRequest.Method("OCPP-SERVER-ROUTE-" + method.rawValue)!
    }

    /// The methods routes have for the request's path, empty when no route has it.
    func allowed(_ request: Request, context: Context) async throws -> [HTTPRequest.Method] {
        var allowed: [HTTPRequest.Method] = []
        for method in methods {
            var head = request.head
            head.method = Self.probe(method)
            let probe = Request(head: head, body: RequestBody(buffer: ByteBuffer()))
            if try await table.respond(to: probe, context: context).status == .noContent { allowed.append(method) }
        }
        return allowed
    }

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard context.endpointPath == nil else { return try await next(request, context) }
        let allowed = try await allowed(request, context: context)
        // The table's lookups name their own route; the request matched none.
        context.coreContext.endpointPath.value = nil
        guard !allowed.isEmpty else { return try await next(request, context) }
        let allow = (allowed.map(\.rawValue) + ["OPTIONS"]).joined(separator: ", ")
        if request.method == .options {
            return Response(status: .noContent, headers: [.allow: allow])
        }
        throw HTTPError(
            .methodNotAllowed,
            headers: [.allow: allow],
            message: "\(request.method) is not allowed on \(request.uri.path); allowed: \(allow)"
        )
    }
}
