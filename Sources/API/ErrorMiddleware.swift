import Hummingbird
import Logging

/// Gives every error the API's JSON shape: Hummingbird's own errors (unknown route, wrong
/// method, body too large) as `{"detail": "..."}` with their status, and anything unexpected
/// as a 500 whose body and log line carry the same request id, never the error itself.
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
            var response = APIErrors.detail(detail, status: error.status)
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
            return APIApplication.jsonResponse(
                #"{"detail":"internal server error; quote the request id when reporting it","request_id":\#(APIApplication.jsonString(context.id))}"#,
                status: .internalServerError
            )
        }
    }
}
