import API
import ArgumentParser
import Foundation
import Logging
import Relational

extension OCPPServerCommand {
    /// `ocpp-server token create|list|revoke`: the REST API's bearer tokens, straight in the
    /// database (`DATABASE_URL`), whether or not a server is running.
    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create, list and revoke the REST API's bearer tokens.",
            subcommands: [Create.self, List.self, Revoke.self]
        )
    }
}

/// The flags of the token commands: where the database is, and how much to log (to standard error).
struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .customLong("database-url"),
        help: "Relational database (env DATABASE_URL, default \(DatabaseURL.defaultURL))."
    )
    var databaseURL: String?

    @Option(
        name: .customLong("log-level"),
        help: "DEBUG, INFO, WARNING, ERROR, CRITICAL, TRACE or NOTICE (env LOG_LEVEL, default INFO)."
    )
    var logLevel: String?

    /// Opens the database and brings its schema up to date, as `migrate` does.
    func openMigratedStore() async throws -> RelationalStore {
        let environment = ProcessInfo.processInfo.environment
        let text = databaseURL ?? environment["DATABASE_URL"] ?? DatabaseURL.defaultURL
        let url: DatabaseURL
        do {
            url = try DatabaseURL(text)
        } catch {
            throw ValidationError(error.description)
        }
        let levelName = logLevel ?? environment["LOG_LEVEL"] ?? ServerConfiguration.defaultLogLevel
        guard let level = ServerConfiguration.logLevel(named: levelName) else {
            throw ValidationError(
                "LOG_LEVEL '\(levelName)' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL, TRACE, NOTICE (any case)"
            )
        }
        return try await openStore(url: url, migrate: true, logger: bootstrapLogging(level: level))
    }
}

extension OCPPServerCommand.Token {
    /// Creates a token and prints it, alone, on the last line of standard output.
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a token; it is printed once, alone on the last line, and only its hash is stored."
        )

        @Option(help: "admin, operator, analyst or integration.")
        var role: String

        @Option(help: "Limit the token to this company's id.")
        var company: Int64?

        @Option(help: "Who or what holds the token (default: cli-ROLE).")
        var name: String?

        @Option(help: "Lifetime: a number and s, m, h, d or w (90d, 12h, 30m); default: never expires.")
        var expires: String?

        @OptionGroup var database: DatabaseOptions

        func validate() throws {
            guard APIRole(rawValue: role) != nil else {
                throw ValidationError(
                    "--role '\(role)' is not one of \(APIRole.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            if let expires { _ = try TokenLifetime.seconds(expires) }
            if let name, !(1...255).contains(name.count) {
                throw ValidationError("--name must have 1 to 255 characters")
            }
        }

        func run() async throws {
            let lifetime = try expires.map(TokenLifetime.seconds)
            let store = try await database.openMigratedStore()
            let created: (record: APITokenRecord, token: String)
            do {
                created = try await store.createAPIToken(
                    name: name ?? "cli-\(role)",
                    role: role,
                    companyID: company,
                    expiresAt: lifetime.map { Date().addingTimeInterval($0) }
                )
            } catch let error as RelationalStoreError {
                await store.shutdown()
                throw ValidationError("the token cannot be created: \(error.message)")
            }
            await store.shutdown()
            let record = created.record
            print(
                "Created API token \(record.id) '\(record.name)': role \(record.role), "
                    + "company \(record.companyID.map { "\($0)" } ?? "any"), "
                    + "expires \(record.expiresAt.map(TokenTable.time) ?? "never")."
            )
            print("It is shown only this once; send it as Authorization: Bearer <token>.")
            print(created.token)
        }
    }

    /// Lists the tokens, never a token itself.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tokens (never the tokens themselves).")

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let store = try await database.openMigratedStore()
            var records: [APITokenRecord] = []
            do {
                while true {
                    let page = try await store.apiTokens(limit: ListQuery.maximumLimit, offset: records.count)
                    records += page.items
                    if page.items.isEmpty || records.count >= page.total { break }
                }
            } catch {
                await store.shutdown()
                throw ValidationError("the tokens cannot be read: \(error)")
            }
            await store.shutdown()
            print(TokenTable.render(records, now: Date()), terminator: "")
        }
    }

    /// Revokes a token.
    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a token: it stops working (on running servers within seconds)."
        )

        @Argument(help: "The token's id, as token list shows it.")
        var id: Int64

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let store = try await database.openMigratedStore()
            let record: APITokenRecord
            do {
                record = try await store.revokeAPIToken(id: id)
            } catch let error as RelationalStoreError {
                await store.shutdown()
                throw ValidationError(error.message)
            }
            await store.shutdown()
            print("Revoked API token \(record.id) '\(record.name)' (revoked at \(TokenTable.time(record.revokedAt!))).")
        }
    }
}

/// `--expires`: a whole number and a unit.
enum TokenLifetime {
    /// The lifetime `text` names, in seconds.
    /// - Throws: `ValidationError` unless it is a positive number and s, m, h, d or w, at most 100 years.
    static func seconds(_ text: String) throws -> TimeInterval {
        let units: [Character: TimeInterval] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        guard let unit = text.last.flatMap({ units[$0] }), let count = Int(text.dropLast()), count > 0,
            Double(count) * unit <= 100 * 365 * 86_400
        else {
            throw ValidationError(
                "--expires '\(text)' is not a lifetime: a positive whole number and s, m, h, d or w "
                    + "(90d, 12h, 30m), at most 100 years"
            )
        }
        return Double(count) * unit
    }
}

/// The table `token list` prints.
enum TokenTable {
    static func time(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    static func render(_ records: [APITokenRecord], now: Date) -> String {
        let header = ["ID", "NAME", "ROLE", "COMPANY", "STATE", "CREATED", "EXPIRES", "LAST USED"]
        let rows = records.map { record -> [String] in
            let state: String
            if record.revokedAt != nil {
                state = "revoked"
            } else if !record.isActive(at: now) {
                state = "expired"
            } else {
                state = "active"
            }
            return [
                "\(record.id)", record.name, record.role, record.companyID.map { "\($0)" } ?? "any", state,
                time(record.createdAt), record.expiresAt.map(time) ?? "never", record.lastUsedAt.map(time) ?? "never",
            ]
        }
        let widths = header.indices.map { column in
            ([header] + rows).map { $0[column].count }.max() ?? 0
        }
        return ([header] + rows).map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ") + "\n"
        }.joined()
    }
}

/// On a start with no active token (a new database, or every token revoked or expired),
/// creates an admin token named `initial-admin` and logs it once, with how to use it; only
/// its hash is stored.
func createInitialToken(store: RelationalStore, settings: ServerConfiguration, logger: Logger) async {
    if settings.apiAuthenticationDisabled {
        logger.warning(
            "API authentication is disabled (API_AUTH_DISABLED): the REST API answers anyone reaching it",
            metadata: ["host": "\(settings.host)"]
        )
        return
    }
    do {
        guard try await !store.hasActiveAPIToken() else { return }
        let (record, token) = try await store.createAPIToken(name: "initial-admin", role: APIRole.admin.rawValue)
        let host =
            ["0.0.0.0", "::"].contains(settings.host)
            ? "127.0.0.1" : settings.host.contains(":") ? "[\(settings.host)]" : settings.host
        logger.notice(
            """
            No API token existed: created the admin token initial-admin; it is shown only this once: keep it, \
            and create others with it (POST /db/api_tokens/ or ocpp-server token create)
            """,
            metadata: [
                "token_id": "\(record.id)", "token": "\(token)",
                "usage": "curl -H \"Authorization: Bearer \(token)\" http://\(host):\(settings.port)/db/chargers/",
            ]
        )
    } catch {
        // A schema not yet migrated (serve --skip-migrations): /ready says so; requests get 503 meanwhile.
        logger.error(
            "Cannot check for API tokens; the next start creates the initial admin token if none exists",
            metadata: ["error": "\(error)"]
        )
    }
}
