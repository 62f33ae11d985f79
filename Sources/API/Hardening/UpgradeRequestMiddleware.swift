import HTTPTypes
import Hummingbird

/// Closes the connection after answering a request that asked for a protocol upgrade and
/// reached the router (an upgrade the WebSocket upgrader refused, or one sent after the first
/// request of a keep-alive connection, which only the first request may upgrade). HTTP/1.1's
/// decoder stops reading a connection after a request that asks for an upgrade, since what
/// follows is meant for the new protocol: a connection kept open would take the answer and
/// then hang on its next request. So the client learns why (the answer) and opens a new
/// connection, as a load balancer that reuses connections to the server must for an upgrade.
struct UpgradeRequestMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard request.headers[.upgrade] != nil else { return try await next(request, context) }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[.connection] = "close"
        return response
    }
}
