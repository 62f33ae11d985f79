import Hummingbird
import Logging

/// Gives every error the API's JSON shape: Hummingbird's own errors (unknown route, wrong
/// method, body too large) as `{"detail": "..."}` with their status, and anything unexpected
/// as a 500 whose body and log line carry the same request id, never the error itself.
/// ``APIError``s pass through: they answer for themselves.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let detail =
                error.body
                ?? (error.status == .notFound
                    ? "no route \(request.method) \(request.uri.path); the API is described at /openapi.json"
                    : error.status.reasonPhrase)
            var response = try APIError.detail(detail, status: error.status).response(from: request, context: context)
            response.headers.append(contentsOf: error.headers)
            return response
        } catch let error as any HTTPResponseError {
            throw error
        } catch {
            context.logger.error(
                "Unexpected error answering a request",
                metadata: [
                    "error": "\(String(reflecting: error))", "method": "\(request.method)",
                    "path": "\(request.uri.path)",
                ]
            )
            return try APIError(status: .internalServerError, body: InternalError(requestID: context.id))
                .response(from: request, context: context)
        }
    }

    /// The body of a 500.
    struct InternalError: Encodable, Sendable {
        var detail = "internal server error; quote the request id when reporting it"
        var requestID: String

        enum CodingKeys: String, CodingKey {
            case detail
            case requestID = "request_id"
        }
    }
}
