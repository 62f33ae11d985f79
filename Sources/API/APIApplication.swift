public import Hummingbird
public import Ingest
public import Logging
public import NIOCore
public import Prometheus
public import Relational
public import TimeSeries

/// The HTTP application: one port for the REST API and the OCPP WebSocket endpoint.
public enum APIApplication {
    /// Builds the application.
    /// - Parameters:
    ///   - host: The address to listen on.
    ///   - port: The port to listen on; 0 picks a free one (reported through `onServerRunning`).
    ///   - ingest: The OCPP front end; without it the server speaks only HTTP.
    ///   - timeSeries: The store meter history is read from.
    ///   - relational: The database that maps charger, connector and session ids.
    ///   - metrics: The registry exported at `/metrics`, if any.
    ///   - logger: The application's logger.
    ///   - onServerRunning: Called with the listening channel once the server accepts connections.
    /// - Returns: An application to run with `runService()`.
    public static func make(
        host: String,
        port: Int,
        ingest: OCPPIngest? = nil,
        timeSeries: TimeSeriesStore? = nil,
        relational: RelationalStore? = nil,
        metrics: PrometheusCollectorRegistry? = nil,
        logger: Logger,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: buildRouter(ingest: ingest, timeSeries: timeSeries, relational: relational, metrics: metrics),
            server: ingest.map { .ocpp($0) } ?? .http1(),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "ocpp-server"),
            onServerRunning: onServerRunning,
            logger: logger
        )
    }

    /// The routes of the API.
    public static func buildRouter(
        ingest: OCPPIngest? = nil,
        timeSeries: TimeSeriesStore? = nil,
        relational: RelationalStore? = nil,
        metrics: PrometheusCollectorRegistry? = nil
    ) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: ErrorMiddleware())
        if let relational {
            DatabaseRoutes.register(on: router, store: relational, authorizations: ingest?.authorizations)
        }
        if let timeSeries, let relational {
            MeterHistory.register(on: router, timeSeries: timeSeries, relational: relational)
            ChargerHistory.register(on: router, timeSeries: timeSeries, relational: relational)
        }
        router.get("/openapi.json") { _, _ in
            jsonResponse(OpenAPIDocument.json)
        }
        router.get("/docs") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/html; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.swaggerPage))
            )
        }
        router.get("/health") { _, _ in
            jsonResponse(#"{"status":"ok"}"#)
        }
        router.get("/ready") { _, _ in
            // Ready when the database answers and its schema is this version's.
            if let relational {
                do {
                    let applied = try await relational.appliedMigrations()
                    let missing = Set(RelationalStore.knownMigrations).subtracting(applied)
                    guard missing.isEmpty else {
                        return jsonResponse(
                            #"{"status":"unavailable","detail":"the database schema lacks migrations \#(missing.sorted()); run ocpp-server migrate"}"#,
                            status: .serviceUnavailable
                        )
                    }
                } catch {
                    return jsonResponse(
                        #"{"status":"unavailable","detail":\#(jsonString("the database does not answer: \(error)"))}"#,
                        status: .serviceUnavailable
                    )
                }
            }
            return jsonResponse(#"{"status":"ready"}"#)
        }
        if let metrics {
            router.get("/metrics") { _, _ in
                Response(
                    status: .ok,
                    headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer()))
                )
            }
        }
        if let ingest {
            ChargePointCommands.register(on: router, ingest: ingest, relational: relational)
            IntegrationRoutes.register(on: router, ingest: ingest)
            // Reached only by requests the WebSocket upgrader refused (or plain GETs): say why.
            router.get("/ocpp/**") { request, _ in
                let offered = request.headers[values: .secWebSocketProtocol]
                switch ingest.decide(uri: request.uri.description, subprotocols: offered) {
                case .refuse(let status, let reason):
                    return errorResponse(reason, status: HTTPResponse.Status(code: status))
                case .accept:
                    return errorResponse(
                        "this is the OCPP WebSocket endpoint: send a WebSocket upgrade request "
                            + "(Upgrade: websocket, Sec-WebSocket-Protocol: ocpp1.6) as the first request of a connection",
                        status: .upgradeRequired
                    )
                }
            }
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

    static func errorResponse(_ detail: String, status: HTTPResponse.Status) -> Response {
        jsonResponse(#"{"detail":\#(jsonString(detail))}"#, status: status)
    }

    /// `text` as a JSON string literal.
    static func jsonString(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
