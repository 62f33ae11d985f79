import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Relational
import TestSupport
import Testing
import TimeSeries

@testable import API

/// Web hardening of the REST API: JSON bodies only, 405 with `Allow`, Swagger UI served by
/// the server itself under a Content-Security-Policy, CSV cells a spreadsheet cannot run.
@Suite("Web hardening")
struct HardeningTests {
    struct Answer {
        var status: Int
        var body: String
        var headers: HTTPFields

        var detail: String? {
            let object = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
            return object?["detail"] as? String
        }
    }

    /// Runs `body` against the API on a fresh SQLite database, over a real socket.
    static func withAPI(
        _ body: @escaping @Sendable (_ client: LiveClient) async throws -> Void
    )
        async throws
    {
        try await TestBackend.sqlite.withStore { store in
            let application = APIApplication.make(
                host: "127.0.0.1",
                port: 0,
                relational: store,
                authentication: .disabled,
                logger: TestBackend.logger
            )
            try await application.testLive { client in try await body(client) }
        }
    }

    static func call(
        _ client: LiveClient,
        _ method: HTTPRequest.Method,
        _ uri: String,
        contentType: String? = nil,
        body: String? = nil
    ) async throws -> Answer {
        var headers: HTTPFields = [:]
        if let contentType { headers[.contentType] = contentType }
        return try await client.execute(
            uri: uri,
            method: method,
            headers: headers,
            body: body.map { ByteBuffer(string: $0) }
        ) { response in
            Answer(status: Int(response.status.code), body: String(buffer: response.body), headers: response.headers)
        }
    }

    // MARK: - Content-Type

    @Test("A body that is not application/json is refused with 415; JSON with parameters and empty bodies pass")
    func jsonBodiesOnly() async throws {
        try await Self.withAPI { client in
            let plain = try await Self.call(
                client,
                .post,
                "/db/companies/",
                contentType: "text/plain",
                body: #"{"name":"A"}"#
            )
            #expect(plain.status == 415)
            #expect(plain.detail?.contains("application/json") == true)
            #expect(plain.detail?.contains("text/plain") == true)
            let form = try await Self.call(
                client,
                .post,
                "/db/companies/",
                contentType: "application/x-www-form-urlencoded",
                body: "name=A"
            )
            #expect(form.status == 415)
            let missing = try await Self.call(client, .post, "/db/companies/", body: #"{"name":"A"}"#)
            #expect(missing.status == 415)
            #expect(missing.detail?.contains("no Content-Type") == true)
            // Nothing was created by the refused requests.
            let list = try await Self.call(client, .get, "/db/companies/")
            #expect(list.body.contains(#""total":0"#))

            let json = try await Self.call(
                client,
                .post,
                "/db/companies/",
                contentType: "Application/JSON; charset=utf-8",
                body: #"{"name":"A"}"#
            )
            #expect(json.status == 201)
            let id = try #require(
                ((try JSONSerialization.jsonObject(with: Data(json.body.utf8))) as? [String: Any])?["id"] as? Int
            )
            let patch = try await Self.call(client, .patch, "/db/companies/\(id)", contentType: "text/json", body: "{}")
            #expect(patch.status == 415)
            let put = try await Self.call(client, .put, "/db/companies/\(id)", contentType: "text/xml", body: "<a/>")
            #expect(put.status == 415)
            // An empty body needs no Content-Type: the route answers it (here: the name is missing).
            let empty = try await Self.call(client, .post, "/db/companies/", contentType: "text/plain")
            #expect(empty.status != 415)
            // A DELETE is not checked, nor a GET.
            let deleted = try await Self.call(client, .delete, "/db/companies/\(id)")
            #expect(deleted.status == 204)
        }
    }

    @Test("A chunked body without a Content-Type is refused too; an empty chunked one passes")
    func chunkedBody() async throws {
        try await Self.withAPI { client in
            let port = try #require(client.port)
            let answer = try await onOwnThread {
                try rawHTTP(
                    port: port,
                    "POST /db/companies/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                        + "Transfer-Encoding: chunked\r\n\r\nC\r\n{\"name\":\"A\"}\r\n0\r\n\r\n"
                )
            }
            #expect(answer.hasPrefix("HTTP/1.1 415"), "\(answer)")
            let empty = try await onOwnThread {
                try rawHTTP(
                    port: port,
                    "POST /db/companies/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                        + "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                )
            }
            #expect(empty.hasPrefix("HTTP/1.1 422"), "an empty chunked body reaches the route: \(empty)")
        }
    }

    @Test("JSONBodyMiddleware's parsing of Content-Type and body presence")
    func contentTypeParsing() {
        typealias Middleware = JSONBodyMiddleware<APIRequestContext>
        #expect(Middleware.isJSON("application/json"))
        #expect(Middleware.isJSON("application/json;charset=UTF-8"))
        #expect(Middleware.isJSON(" APPLICATION/JSON ; charset=utf-8"))
        #expect(!Middleware.isJSON("application/jsonp"))
        #expect(!Middleware.isJSON("application/json-patch+json"))
        #expect(!Middleware.isJSON("text/plain; x=application/json"))
        #expect(Middleware.body([.contentLength: "0"]) == .empty)
        #expect(Middleware.body([.contentLength: "12"]) == .nonEmpty)
        #expect(Middleware.body([.transferEncoding: "chunked"]) == .unknownLength)
        #expect(Middleware.body([:]) == .empty)
    }

    // MARK: - 405

    @Test("Undeclared methods on known paths are 405 with Allow; OPTIONS lists them; unknown paths stay 404")
    func methodNotAllowed() async throws {
        try await Self.withAPI { client in
            let collection = try await Self.call(client, .delete, "/db/companies/")
            #expect(collection.status == 405)
            #expect(collection.headers[.allow] == "GET, POST, OPTIONS")
            #expect(collection.detail?.contains("DELETE") == true)
            #expect(collection.headers[.contentType] == "application/json")

            let item = try await Self.call(client, .post, "/db/companies/7")
            #expect(item.status == 405)
            let itemMethods = Set((item.headers[.allow] ?? "").split(separator: ",").map { $0.trimmingSpaces })
            #expect(itemMethods.isSuperset(of: ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"]))
            #expect(!itemMethods.contains("POST"))

            let document = try await Self.call(client, .put, "/openapi.json", contentType: "text/plain", body: "x")
            #expect(document.status == 405, "an undeclared method is 405 before its body is looked at")
            #expect(document.headers[.allow] == "GET, OPTIONS")

            let head = try await Self.call(client, .head, "/health")
            #expect(head.status == 405)
            #expect(head.headers[.allow] == "GET, OPTIONS")

            let options = try await Self.call(client, .options, "/db/companies/")
            #expect(options.status == 204)
            #expect(options.headers[.allow] == "GET, POST, OPTIONS")
            #expect(options.headers[.accessControlAllowOrigin] == nil)

            let trace = try await Self.call(client, .trace, "/ready")
            #expect(trace.status == 405)

            let unknown = try await Self.call(client, .delete, "/nowhere")
            #expect(unknown.status == 404)
            let unknownOptions = try await Self.call(client, .options, "/nowhere/at/all")
            #expect(unknownOptions.status == 404)

            // Declared methods are unaffected.
            let listed = try await Self.call(client, .get, "/db/companies/")
            #expect(listed.status == 200)
        }
    }

    // MARK: - /docs

    /// A directory standing in for Swagger UI's files, with a file beside it that must stay unreachable.
    static func withAssets(_ body: (URL) async throws -> Void) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ocpp-docs-\(UUID().uuidString)")
        let assets = root.appendingPathComponent("dist")
        try FileManager.default.createDirectory(at: assets, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        try Data("window.SwaggerUIBundle = function () {};".utf8)
            .write(to: assets.appendingPathComponent("swagger-ui-bundle.js"))
        try Data("body { margin: 0 }".utf8).write(to: assets.appendingPathComponent("swagger-ui.css"))
        try Data("TOP-SECRET-CONTENT".utf8).write(to: assets.appendingPathComponent(".hidden.js"))
        try Data("TOP-SECRET-CONTENT".utf8).write(to: root.appendingPathComponent("secret.js"))
        try await body(assets)
    }

    static func docsClient(
        directory: String?,
        _ body: @escaping @Sendable (LiveClient) async throws -> Void
    )
        async throws
    {
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        SwaggerUI.register(on: router, directory: directory)
        let application = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await application.testLive { client in try await body(client) }
    }

    static func expectHardened(_ answer: Answer, _ what: String) {
        let policy = answer.headers[.contentSecurityPolicy] ?? ""
        #expect(policy.contains("default-src 'self'"), "\(what)")
        #expect(policy.contains("script-src 'self';"), "\(what)")
        #expect(policy.contains("img-src 'self' data:"), "\(what)")
        #expect(policy.contains("frame-ancestors 'none'"), "\(what)")
        #expect(!policy.contains("unsafe-eval"), "\(what)")
        #expect(answer.headers[.xContentTypeOptions] == "nosniff", "\(what)")
    }

    @Test("/docs loads Swagger UI from the server's own files under a Content-Security-Policy")
    func docsFromTheServer() async throws {
        try await Self.withAssets { assets in
            try await Self.docsClient(directory: assets.path) { client in
                let page = try await Self.call(client, .get, "/docs")
                #expect(page.status == 200)
                #expect(page.headers[.contentType] == "text/html; charset=utf-8")
                Self.expectHardened(page, "/docs")
                #expect(page.body.contains(#"<script src="/docs/assets/swagger-ui-bundle.js"></script>"#))
                #expect(page.body.contains(#"<script src="/docs/swagger-initializer.js"></script>"#))
                #expect(page.body.contains(#"href="/docs/assets/swagger-ui.css""#))
                #expect(!page.body.contains("<script>"), "no inline script: the policy forbids it")
                #expect(!page.body.contains("http://") && !page.body.contains("https://"), "nothing from elsewhere")

                let initializer = try await Self.call(client, .get, "/docs/swagger-initializer.js")
                #expect(initializer.status == 200)
                #expect(initializer.headers[.contentType] == "text/javascript; charset=utf-8")
                #expect(initializer.body.contains(#"url: "/openapi.json""#))
                Self.expectHardened(initializer, "initializer")

                let bundle = try await Self.call(client, .get, "/docs/assets/swagger-ui-bundle.js")
                #expect(bundle.status == 200)
                #expect(bundle.body == "window.SwaggerUIBundle = function () {};")
                #expect(bundle.headers[.contentType] == "text/javascript; charset=utf-8")
                Self.expectHardened(bundle, "bundle")
                let css = try await Self.call(client, .get, "/docs/assets/swagger-ui.css")
                #expect(css.status == 200)
                #expect(css.headers[.contentType] == "text/css; charset=utf-8")

                for path in [
                    "/docs/assets/..%2Fsecret.js", "/docs/assets/../secret.js", "/docs/assets/%2e%2e%2fsecret.js",
                    "/docs/assets/.hidden.js", "/docs/assets/missing.js", "/docs/assets/..",
                    "/docs/assets/secret.js%00",
                ] {
                    let answer = try await Self.call(client, .get, path)
                    #expect(answer.status == 404, "\(path)")
                    #expect(!answer.body.contains("TOP-SECRET-CONTENT"), "\(path)")
                }
            }
        }
        #expect(SwaggerUI.Assets.mediaType(of: "../secret.js") == nil)
        #expect(SwaggerUI.Assets.mediaType(of: ".env") == nil)
        #expect(SwaggerUI.Assets.mediaType(of: "a/b.js") == nil)
        #expect(SwaggerUI.Assets.mediaType(of: "swagger-ui.exe") == nil)
        #expect(SwaggerUI.Assets.mediaType(of: "favicon-32x32.png") == "image/png")
    }

    @Test("Without SWAGGER_UI_DIR, /docs says how to install Swagger UI and runs no script")
    func docsNotInstalled() async throws {
        try await Self.docsClient(directory: nil) { client in
            let page = try await Self.call(client, .get, "/docs")
            #expect(page.status == 200)
            Self.expectHardened(page, "/docs")
            #expect(page.body.contains("SWAGGER_UI_DIR"))
            #expect(page.body.contains("pip install"))
            #expect(page.body.contains("/openapi.json"))
            #expect(!page.body.contains("<script"))
            let asset = try await Self.call(client, .get, "/docs/assets/swagger-ui-bundle.js")
            #expect(asset.status == 404)
            #expect(asset.detail?.contains("SWAGGER_UI_DIR") == true)
        }
    }

    @Test("The application's /docs is the hardened page; with SWAGGER_UI_DIR set, the real Swagger UI is served")
    func applicationDocs() async throws {
        let installed = ProcessInfo.processInfo.environment[SwaggerUI.environmentVariable].flatMap {
            $0.isEmpty ? nil : $0
        }
        try await Self.withAPI { client in
            let page = try await Self.call(client, .get, "/docs")
            #expect(page.status == 200)
            Self.expectHardened(page, "/docs")
            #expect(!page.body.contains("cdn."))
            if installed != nil {
                #expect(page.body.contains("/docs/assets/swagger-ui-bundle.js"))
                for file in ["swagger-ui-bundle.js", "swagger-ui.css"] {
                    let asset = try await Self.call(client, .get, "/docs/assets/\(file)")
                    #expect(asset.status == 200, "\(file)")
                    #expect(asset.body.count > 10_000, "\(file)")
                }
            }
        }
    }

    // MARK: - CSV

    @Test("CSV text cells a spreadsheet would run are neutralized; numbers stay numbers")
    func csvFormulas() {
        #expect(HistoryFormat.csv("=1+1") == "'=1+1")
        #expect(HistoryFormat.csv("+1+1") == "'+1+1")
        #expect(HistoryFormat.csv("-1+1") == "'-1+1")
        #expect(HistoryFormat.csv("@SUM(A1)") == "'@SUM(A1)")
        #expect(HistoryFormat.csv("\tcmd") == "'\tcmd")
        #expect(HistoryFormat.csv("\r=cmd") == "\"'\r=cmd\"")
        #expect(HistoryFormat.csv(#"=HYPERLINK("http://x","y")"#) == #""'=HYPERLINK(""http://x"",""y"")""#)
        #expect(HistoryFormat.csv("-") == "'-")
        #expect(HistoryFormat.csv("-inf") == "'-inf")
        for number in ["-5.2", "+12", "-0.5", "-.5", "-1.5e3", "+2E-4", "-7"] {
            #expect(HistoryFormat.csv(number) == number, "\(number)")
        }
        for plain in ["Energy.Active.Import.Register", "Wh", "", "a=b", "Sample.Periodic"] {
            #expect(HistoryFormat.csv(plain) == plain, "\(plain)")
        }
    }

    @Test("History CSV rows: a text sample that is a formula is neutralized, a negative number is not")
    func csvRows() {
        let series = SeriesKey(
            chargePointID: "CP-1",
            connectorID: 1,
            kind: .sample,
            measurand: "=cmd|' /C calc'!A0",
            unit: "Wh"
        )
        let rows = [
            EventRow(series: series, timestamp: 0, value: .number(-5.25)),
            EventRow(series: series, timestamp: 1000, value: .text("@SUM(1+1)*cmd")),
            EventRow(series: series, timestamp: 2000, value: .numberWithText(-5.2, "-5.20")),
        ]
        let text = String(decoding: HistoryFormat.rowsCSV(rows), as: UTF8.self)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines[1].hasSuffix(",-5.25,"), "\(lines[1])")
        #expect(lines[1].contains(",'=cmd|' /C calc'!A0,"), "\(lines[1])")
        #expect(lines[2].hasSuffix(",,'@SUM(1+1)*cmd"), "\(lines[2])")
        #expect(lines[3].hasSuffix(",-5.2,-5.20"), "\(lines[3])")
        for line in lines.dropFirst() {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            for cell in cells {
                if let first = cell.first, "=+-@".contains(first) {
                    #expect(Double(cell) != nil, "a formula cell left as is: \(cell)")
                }
            }
        }
    }
}
