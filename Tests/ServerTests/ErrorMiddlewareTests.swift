import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import API

/// Every error leaves the server as JSON with a `detail`; an unexpected one as a 500 whose
/// request id is the one the log line carries, never the error itself.
@Suite("Error responses")
struct ErrorMiddlewareTests {
    struct Secret: Error, CustomStringConvertible {
        let description = "connection string postgres://user:hunter2@db"
    }

    @Test("Unknown routes are 404 JSON; an unexpected error is a 500 with a request id and no internals")
    func shapes() async throws {
        let router = Router()
        router.add(middleware: ErrorMiddleware())
        router.get("/boom") { _, _ -> Response in throw Secret() }
        router.get("/teapot") { _, _ -> Response in throw HTTPError(.badRequest, message: "not a teapot") }
        let application = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await application.test(.router) { client in
            try await client.execute(uri: "/boom", method: .get) { response in
                #expect(response.status == .internalServerError)
                let body = String(buffer: response.body)
                #expect(!body.contains("hunter2"))
                let object = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
                #expect((object["request_id"] as? String)?.isEmpty == false)
                #expect(object["detail"] is String)
            }
            try await client.execute(uri: "/teapot", method: .get) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body) == #"{"detail":"not a teapot"}"#)
            }
            try await client.execute(uri: "/nowhere", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(String(buffer: response.body).contains(#""detail":"no route GET /nowhere"#))
            }
        }
    }
}
