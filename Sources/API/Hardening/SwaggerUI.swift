import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// `/docs`: Swagger UI reading `/openapi.json`, every file of it served by this server.
///
/// The Swagger UI files are a pinned copy that `scripts/run.sh` and `scripts/test.sh` install
/// from PyPI (`flask-swagger-ui`, whose `dist` folder is Swagger UI's) and name in
/// `SWAGGER_UI_DIR`; the server serves them at `/docs/assets/{file}` and its own initializer
/// at `/docs/swagger-initializer.js` (a file, so the page needs no inline script). Without
/// the directory, `/docs` is a page saying how to install it. The page, the initializer and
/// the assets carry a Content-Security-Policy that lets them load nothing from anywhere else.
enum SwaggerUI {
    /// The environment variable naming the directory of Swagger UI's files.
    static let environmentVariable = "SWAGGER_UI_DIR"

    /// The policy of every `/docs` response: scripts, styles, images and requests from this
    /// server only (Swagger UI sets inline styles; images may be data URLs), never in a frame.
    static let contentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        + "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        + "frame-ancestors 'none'"

    /// Adds `/docs`, `/docs/swagger-initializer.js` and `/docs/assets/{file}`.
    /// - Parameters:
    ///   - router: The API's router.
    ///   - directory: Swagger UI's files (the folder with `swagger-ui-bundle.js`); by default
    ///     `SWAGGER_UI_DIR`'s value, if set and not empty.
    static func register(
        on router: Router<some RequestContext>,
        directory: String? = ProcessInfo.processInfo.environment[environmentVariable]
    ) {
        let assets = directory.flatMap { $0.isEmpty ? nil : Assets(directory: $0) }
        router.get("/docs") { _, _ in
            respond(ByteBuffer(string: assets == nil ? notInstalledPage : page), type: "text/html; charset=utf-8")
        }
        router.get("/docs/swagger-initializer.js") { _, _ in
            respond(ByteBuffer(string: initializer), type: "text/javascript; charset=utf-8")
        }
        router.get("/docs/assets/{file}") { _, context in
            let name = try context.parameters.require("file")
            guard let assets else {
                throw APIError.detail(
                    "Swagger UI is not installed; set \(environmentVariable) (see /docs)",
                    status: .notFound
                )
            }
            guard let (bytes, type) = try await assets.file(name) else {
                throw APIError.detail("no Swagger UI file named '\(name)'", status: .notFound)
            }
            return respond(bytes, type: type)
        }
    }

    private static func respond(_ body: ByteBuffer, type: String) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: type, .contentSecurityPolicy: contentSecurityPolicy, .xContentTypeOptions: "nosniff",
                HTTPField.Name("Referrer-Policy")!: "no-referrer",
            ],
            body: ResponseBody(byteBuffer: body)
        )
    }

    static let page = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>ocpp-server API</title>
        <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
        </head>
        <body>
        <div id="swagger-ui"></div>
        <noscript>Swagger UI needs JavaScript; the API document is <a href="/openapi.json">/openapi.json</a>.</noscript>
        <script src="/docs/assets/swagger-ui-bundle.js"></script>
        <script src="/docs/swagger-initializer.js"></script>
        </body>
        </html>
        """

    static let initializer = """
        window.addEventListener("load", function () {
            window.ui = SwaggerUIBundle({
                url: "/openapi.json",
                dom_id: "#swagger-ui",
                deepLinking: true,
                validatorUrl: null
            });
        });
        """

    static let notInstalledPage = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>ocpp-server API</title>
        </head>
        <body>
        <h1>ocpp-server API</h1>
        <p>The API is described by its OpenAPI document at <a href="/openapi.json">/openapi.json</a>.</p>
        <p>Swagger UI, which shows it here, is not installed on this server. <code>scripts/run.sh</code>
        installs a pinned copy from PyPI and sets <code>SWAGGER_UI_DIR</code>; by hand:</p>
        <pre>python3 -m venv /opt/ocpp-server-venv
        /opt/ocpp-server-venv/bin/pip install --no-deps flask-swagger-ui==5.34.0
        site=$(/opt/ocpp-server-venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
        export SWAGGER_UI_DIR="$site/flask_swagger_ui/dist"</pre>
        <p>then restart the server.</p>
        </body>
        </html>
        """

    /// Swagger UI's files in one directory, read once and kept.
    final class Assets: Sendable {
        let directory: String
        private let cache = Mutex<[String: ByteBuffer]>([:])

        init(directory: String) {
            self.directory = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        }

        /// The file `name` and its media type, nil when it is not there or `name` is not a
        /// plain file name (letters, digits, `.`, `-`, `_`, not starting with `.`): nothing
        /// outside the directory can be named.
        func file(_ name: String) async throws -> (ByteBuffer, String)? {
            guard let type = Self.mediaType(of: name) else { return nil }
            if let bytes = cache.withLock({ $0[name] }) { return (bytes, type) }
            let path = directory + "/" + name
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                let data = FileManager.default.contents(atPath: path)
            else { return nil }
            let bytes = ByteBuffer(bytes: data)
            cache.withLock { $0[name] = bytes }
            return (bytes, type)
        }

        /// The media type of a servable file name, nil for a name that is not one.
        static func mediaType(of name: String) -> String? {
            guard let first = name.utf8.first, first != UInt8(ascii: "."), name.utf8.count <= 100,
                name.utf8.allSatisfy({ byte in
                    (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                        || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                        || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                        || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
                })
            else { return nil }
            switch name.split(separator: ".").last {
            case "js": return "text/javascript; charset=utf-8"
            case "css": return "text/css; charset=utf-8"
            case "png": return "image/png"
            case "map": return "application/json"
            default: return nil
            }
        }
    }
}
