import API
import Hummingbird
import HummingbirdTesting
import Logging
import Relational
import Testing

@Suite("Health")
struct HealthTests {
    @Test("GET /health and /ready answer 200 over a real socket")
    func health() async throws {
        let application = APIApplication.make(
            host: "127.0.0.1",
            port: 0,
            authentication: .disabled,
            logger: Logger(label: "test")
        )
        try await application.testLive { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
            }
            try await client.execute(uri: "/ready", method: .get) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/no-such-path", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test("GET /ready is 503 while the database lacks migrations, then 200")
    func readiness() async throws {
        let store = try await RelationalStore(url: .sqlite(.memory), logger: Logger(label: "test"))
        let application = APIApplication.make(
            host: "127.0.0.1",
            port: 0,
            relational: store,
            authentication: .disabled,
            logger: Logger(label: "test")
        )
        try await application.testLive { client in
            try await client.execute(uri: "/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body).contains("unavailable"))
            }
            try await store.migrate()
            try await client.execute(uri: "/ready", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"ready"}"#)
            }
        }
        await store.shutdown()
    }
}
