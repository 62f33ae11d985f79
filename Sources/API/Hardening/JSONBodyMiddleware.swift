import HTTPTypes
import Hummingbird
import NIOCore

/// Refuses request bodies that are not JSON: a POST, PUT or PATCH whose body is not empty must
/// say `Content-Type: application/json` (parameters such as `charset` allowed), or it is
/// answered 415 before any route reads it. An empty body (commands that take no parameters)
/// needs no Content-Type.
///
/// Requests for which no route matched pass through, so an undeclared method or path is
/// answered 405 or 404 whatever its body.
struct JSONBodyMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard context.endpointPath != nil, Self.bodyMethods.contains(request.method) else {
            return try await next(request, context)
        }
        let contentType = request.headers[.contentType]
        if let contentType, Self.isJSON(contentType) { return try await next(request, context) }
        switch Self.body(request.headers) {
        case .empty:
            return try await next(request, context)
        case .unknownLength:
            // Chunked: empty only if it ends before any byte arrives.
            for try await buffer in request.body where buffer.readableBytes > 0 {
                throw Self.refusal(contentType)
            }
            return try await next(Request(head: request.head, body: RequestBody(buffer: ByteBuffer())), context)
        case .nonEmpty:
            throw Self.refusal(contentType)
        }
    }

    private static func refusal(_ contentType: String?) -> APIError {
        let stated = contentType.map { "Content-Type \($0)" } ?? "no Content-Type"
        return APIError.detail(
            "request bodies must be JSON (Content-Type: application/json); this one has \(stated)",
            status: .unsupportedMediaType
        )
    }

    static var bodyMethods: Set<HTTPRequest.Method> { [.post, .put, .patch] }

    /// What the headers say of the body.
    enum Body: Equatable {
        case empty, nonEmpty, unknownLength
    }

    /// A Content-Length of 0 or none at all (and no Transfer-Encoding): empty; above 0: not
    /// empty; chunked: unknown until it is read.
    static func body(_ headers: HTTPFields) -> Body {
        if let length = headers[.contentLength] {
            return length.trimmingSpaces == "0" ? .empty : .nonEmpty
        }
        return headers[.transferEncoding] == nil ? .empty : .unknownLength
    }

    /// Whether `contentType` is `application/json`, with or without parameters.
    static func isJSON(_ contentType: String) -> Bool {
        let mediaType = contentType.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return mediaType.trimmingSpaces.lowercased() == "application/json"
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs.
    var trimmingSpaces: Substring {
        var text = self[...]
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return Substring(text)
    }
}
