import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The operator console: one HTML page at `/` and its own scripts and style sheet at
/// `/console/{file}`, all from this server, under a Content-Security-Policy that lets the page
/// load and ask nothing from anywhere else (no inline script, no CDN).
///
/// The files are the API target's resources (`Sources/API/Console/Assets`), which SwiftPM
/// copies into the `ocpp-server_API.resources` folder beside the executable (`.build/debug`,
/// `.build/release`, the test runner's folder); a binary moved without that folder reads them
/// from the source tree it was built from, if it is still there, and otherwise `/` says they
/// are missing. The page signs in with an API token it keeps in `sessionStorage` and sends
/// as `Authorization: Bearer` on every request: the routes it calls are the API's, with the
/// caller's role and company, and `/whoami` tells it which they are.
enum Console {
    /// The policy of every console response: everything from this server only; images may be
    /// data or blob URLs (a downloaded CSV is a blob URL), never in a frame.
    static let contentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        + "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        + "frame-ancestors 'none'"

    /// The bundle folder's name: SwiftPM's `<package>_<target>.resources`.
    static let bundleName = "ocpp-server_API.resources"

    /// The folder the console's files are read from, nil when there is none.
    static let directory: String? = {
        var candidates = [
            Bundle.main.bundleURL.appendingPathComponent(bundleName).appendingPathComponent("Assets").path
        ]
        if let executable = Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent() {
            candidates.append(executable.appendingPathComponent(bundleName).appendingPathComponent("Assets").path)
        }
        candidates.append(
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Assets").path
        )
        return candidates.first { path in
            FileManager.default.fileExists(atPath: path + "/index.html")
        }
    }()

    /// Adds `/`, `/console/{file}` and `/whoami`.
    static func register(on router: Router<APIRequestContext>, directory: String? = Console.directory) {
        let files = directory.map(read) ?? [:]
        let page = directory.flatMap { FileManager.default.contents(atPath: $0 + "/index.html") }.map {
            ByteBuffer(bytes: $0)
        }
        router.get("/") { _, _ in
            respond(page ?? ByteBuffer(string: missingPage), type: "text/html; charset=utf-8")
        }
        router.get("/console/{file}") { _, context in
            let name = try context.parameters.require("file")
            guard let (bytes, type) = files[name] else {
                throw APIError.detail("no console file named '\(name)'", status: .notFound)
            }
            return respond(bytes, type: type)
        }
        router.get("/whoami") { _, context in
            Caller(context.principal)
        }
    }

    /// Every file of `directory` a script or style sheet may name (``SwaggerUI/Assets/mediaType(of:)``),
    /// read once when the router is built (a few tens of kilobytes), so no request reads a file.
    static func read(_ directory: String) -> [String: (ByteBuffer, String)] {
        var files: [String: (ByteBuffer, String)] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            guard let type = SwaggerUI.Assets.mediaType(of: name),
                let data = FileManager.default.contents(atPath: directory + "/" + name)
            else { continue }
            files[name] = (ByteBuffer(bytes: data), type)
        }
        return files
    }

    private static func respond(_ body: ByteBuffer, type: String) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: type, .contentSecurityPolicy: contentSecurityPolicy, .xContentTypeOptions: "nosniff",
                .cacheControl: "no-cache", HTTPField.Name("Referrer-Policy")!: "no-referrer",
            ],
            body: ResponseBody(byteBuffer: body)
        )
    }

    /// The answer of `/whoami`: who the token is, and what the console may offer it.
    struct Caller: ResponseEncodable, Sendable {
        var name: String
        var role: String
        var companyID: Int64?
        /// Whether the caller may send commands to chargers (`POST /charge_points/{id}/{command}`).
        var commands: Bool
        /// Whether the API checks tokens at all (false only on a development server).
        var authenticated: Bool

        enum CodingKeys: String, CodingKey {
            case name, role
            case companyID = "company_id"
            case commands, authenticated
        }

        init(_ principal: APIPrincipal?) {
            guard let principal else {
                // Authentication is off: every route is open.
                name = "anonymous"
                role = APIRole.admin.rawValue
                companyID = nil
                commands = true
                authenticated = false
                return
            }
            name = principal.name
            role = principal.role.rawValue
            companyID = principal.companyID
            commands = APIAccessPolicy.allows(
                principal.role,
                scoped: principal.companyID != nil,
                method: .post,
                path: "/charge_points/{charge_point_id}/reset"
            )
            authenticated = true
        }
    }

    static let missingPage = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>ocpp-server</title>
        </head>
        <body>
        <h1>ocpp-server</h1>
        <p>The console's files were not found beside this binary (the <code>ocpp-server_API.resources</code>
        folder SwiftPM builds next to it). Copy that folder next to the binary, or run the binary from its
        build folder.</p>
        <p>The API is described at <a href="/openapi.json">/openapi.json</a> and <a href="/docs">/docs</a>.</p>
        </body>
        </html>
        """
}
