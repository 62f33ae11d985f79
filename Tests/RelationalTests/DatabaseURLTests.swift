import Relational
import Testing

@Suite("DATABASE_URL")
struct DatabaseURLTests {
    @Test("SQLite forms")
    func sqlite() throws {
        #expect(try DatabaseURL("sqlite:///./ocpp_server.db") == .sqlite(.file(path: "./ocpp_server.db")))
        #expect(try DatabaseURL("sqlite:///relative.db") == .sqlite(.file(path: "relative.db")))
        #expect(try DatabaseURL("sqlite:////var/lib/ocpp/ocpp.db") == .sqlite(.file(path: "/var/lib/ocpp/ocpp.db")))
        #expect(try DatabaseURL("sqlite://:memory:") == .sqlite(.memory))
        #expect(try DatabaseURL("sqlite:///:memory:") == .sqlite(.memory))
        #expect(try DatabaseURL("SQLITE:///a%20b.db") == .sqlite(.file(path: "a b.db")))
        #expect(try DatabaseURL(DatabaseURL.defaultURL) == .sqlite(.file(path: "./ocpp_server.db")))
    }

    @Test("PostgreSQL forms")
    func postgres() throws {
        let full = try DatabaseURL("postgres://ocpp:s%40cret@db.internal:6543/ocpp_prod?sslmode=require")
        #expect(
            full
                == .postgres(
                    .init(
                        host: "db.internal",
                        port: 6543,
                        user: "ocpp",
                        password: "s@cret",
                        database: "ocpp_prod",
                        sslMode: .require
                    )
                )
        )
        #expect(!full.description.contains("cret"))

        let minimal = try DatabaseURL("postgresql://localhost/ocpp")
        #expect(
            minimal
                == .postgres(
                    .init(
                        host: "localhost",
                        port: 5432,
                        user: "postgres",
                        password: nil,
                        database: "ocpp",
                        sslMode: .prefer
                    )
                )
        )
        let socket = try DatabaseURL("postgres://me@/ocpp?host=/var/run/postgresql&sslmode=disable")
        guard case .postgres(let settings) = socket else {
            Issue.record("not postgres")
            return
        }
        #expect(settings.host == "/var/run/postgresql")
        #expect(settings.sslMode == .disable)
    }

    @Test(
        "Unusable URLs are refused with a message that says what is supported",
        arguments: [
            ("mysql://root@localhost/ocpp", "not supported"),
            ("ocpp_server.db", "expected scheme://"),
            ("sqlite://relative.db", "empty host"),
            ("sqlite:///", "empty"),
            ("postgres://localhost", "database name is missing"),
            ("postgres:///ocpp", "host is missing"),
            ("postgres://localhost:99999/ocpp", "out of range"),
            ("postgres://localhost/ocpp?sslmode=sometimes", "sslmode must be one of"),
            ("postgres://localhost/ocpp?timeout=3", "unknown parameter"),
        ]
    )
    func refused(url: String, message: String) {
        #expect {
            try DatabaseURL(url)
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test("The unsupported-scheme message names every supported scheme")
    func unsupportedSchemeMessage() {
        do {
            _ = try DatabaseURL("mysql://user:pw@localhost/ocpp")
            Issue.record("accepted")
        } catch {
            for scheme in DatabaseURL.supportedSchemes {
                #expect(error.description.contains("\(scheme)://"))
            }
        }
    }
}
