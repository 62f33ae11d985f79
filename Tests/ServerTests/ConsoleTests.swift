import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Relational
import TestSupport
import Testing

@testable import API

/// The operator console: its page and files come from this server under a
/// Content-Security-Policy, load nothing from elsewhere, and `/whoami` tells it the caller's
/// role, company and whether it may send commands. (Tests/Console drives it in a browser.)
@Suite("Console")
struct ConsoleTests {
    @Test("/ and every file it loads are served by the server under a policy that allows only itself")
    func pageAndFiles() async throws {
        try await AuthenticationTests.withAPI { call, _ in
            let page = try await call(.get, "/")
            #expect(page.status == 200)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            let policy = page.headers[.contentSecurityPolicy] ?? ""
            #expect(policy.contains("default-src 'self'"))
            #expect(policy.contains("script-src 'self';"))
            #expect(policy.contains("connect-src 'self'"))
            #expect(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"))
            #expect(page.headers[.xContentTypeOptions] == "nosniff")
            #expect(!page.body.contains("<script>"), "no inline script: the policy forbids it")
            #expect(!page.body.contains("http://") && !page.body.contains("https://"), "nothing from elsewhere")
            // Every script and style sheet the page names.
            let names = page.body.components(separatedBy: "\"/console/").dropFirst().map {
                String($0.prefix { $0 != "\"" })
            }
            #expect(names.count >= 8)
            #expect(names.contains("console.css") && names.contains("app.js"))
            for name in names {
                let file = try await call(.get, "/console/\(name)")
                #expect(file.status == 200, "\(name)")
                let type = name.hasSuffix(".css") ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8"
                #expect(file.headers[.contentType] == type, "\(name)")
                #expect(file.headers[.contentSecurityPolicy] == Console.contentSecurityPolicy, "\(name)")
                // The only URL in the files is the SVG namespace, which names and loads nothing.
                let stripped = file.body.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "")
                #expect(!stripped.contains("http://") && !stripped.contains("https://"), "\(name)")
                #expect(!file.body.contains("localStorage"), "\(name): the token stays in session storage")
            }
            for path in [
                "/console/missing.js", "/console/..%2FConsole.swift", "/console/.hidden.js", "/console/index.html",
            ] {
                let answer = try await call(.get, path)
                #expect(answer.status == 404, "\(path)")
            }
            // Public: the page signs in by itself.
            #expect(try await call(.get, "/console/app.js").status == 200)
        }
    }

    @Test("/whoami answers the token's name, role, company and whether it may send commands")
    func whoami() async throws {
        try await AuthenticationTests.withAPI { call, store in
            #expect(try await call(.get, "/whoami").status == 401)
            let company = try await store.create(Company.self, Company.Fields(name: "Tenant"))
            let cases: [(String, String, Int64?, Bool)] = [
                ("admin", "console-admin", nil, true), ("operator", "console-operator", nil, true),
                ("analyst", "console-analyst", nil, false), ("integration", "console-relay", nil, false),
                ("operator", "tenant-operator", company.id, true), ("analyst", "tenant-analyst", company.id, false),
            ]
            for (role, name, companyID, commands) in cases {
                let token = try await store.createAPIToken(name: name, role: role, companyID: companyID).token
                let answer = try await call(.get, "/whoami", token: token)
                #expect(answer.status == 200)
                let object = answer.object
                #expect(object["name"] as? String == name)
                #expect(object["role"] as? String == role)
                #expect((object["company_id"] as? Int).map(Int64.init) == companyID)
                #expect(object["company_id"] != nil, "company_id is always there, null for every company")
                #expect(object["commands"] as? Bool == commands, "\(name)")
                #expect(object["authenticated"] as? Bool == true)
            }
        }
    }

    @Test("Without authentication /whoami says so, and commands are open")
    func whoamiWithoutAuthentication() async throws {
        try await HardeningTests.withAPI { client in
            let answer = try await HardeningTests.call(client, .get, "/whoami")
            #expect(answer.status == 200)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])
            #expect(object["authenticated"] as? Bool == false)
            #expect(object["commands"] as? Bool == true)
        }
    }
}
