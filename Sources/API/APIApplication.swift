public import Hummingbird
public import Logging
public import NIOCore

/// The HTTP application: one port for the REST API (and, with the ingest front end, the
/// OCPP WebSocket endpoint).
public enum APIApplication {
    /// Builds the application.
    /// - Parameters:
    ///   - host: The address to listen on.
    ///   - port: The port to listen on; 0 picks a free one (reported through `onServerRunning`).
    ///   - logger: The application's logger.
    ///   - onServerRunning: Called with the listening channel once the server accepts connections.
    /// - Returns: An application to run with `runService()`.
    public static func make(
        host: String,
        port: Int,
        logger: Logger,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: buildRouter(),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "ocpp-server"),
            onServerRunning: onServerRunning,
            logger: logger
        )
    }

    /// The routes of the API.
    public static func buildRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/health") { _, _ in
            jsonResponse(#"{"status":"ok"}"#)
        }
        router.get("/ready") { _, _ in
            jsonResponse(#"{"status":"ready"}"#)
        }
        return router
    }

    static func jsonResponse(_ json: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: json))
        )
    }
}
