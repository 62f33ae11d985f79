import Foundation

/// Where the relational store lives, parsed from `DATABASE_URL`.
///
/// Supported forms:
/// - `sqlite:///relative/path.db` (relative to the working directory), `sqlite:////absolute/path.db`,
///   `sqlite://:memory:` (or `sqlite:///:memory:`).
/// - `postgres://user:password@host:port/database?sslmode=...&sslrootcert=...` (also
///   `postgresql://`); user and password are percent-decoded; the port defaults to 5432;
///   `sslmode` is one of `disable`, `allow`, `prefer` (the default), `require`, `verify-ca`
///   (the server's certificate must chain to a trusted CA), `verify-full` (that, and name the
///   host); `sslrootcert` is the PEM file of the CAs to trust (`system`, or none: the system's
///   trust store). As with libpq, `require` with an `sslrootcert` verifies like `verify-ca`.
public enum DatabaseURL: Sendable, Hashable, CustomStringConvertible {
    /// An embedded SQLite database.
    case sqlite(SQLiteLocation)
    /// A PostgreSQL server.
    case postgres(PostgresSettings)

    /// Where an SQLite database is kept.
    public enum SQLiteLocation: Sendable, Hashable {
        /// A file, at a path relative to the working directory or absolute.
        case file(path: String)
        /// In memory, gone when the process ends.
        case memory
    }

    /// TLS use towards PostgreSQL, as libpq's `sslmode` names it.
    public enum SSLMode: String, Sendable, Hashable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    /// The connection settings of a PostgreSQL server.
    public struct PostgresSettings: Sendable, Hashable {
        public var host: String
        public var port: Int
        public var user: String
        public var password: String?
        public var database: String
        public var sslMode: SSLMode
        /// The PEM file of the certificate authorities trusted to sign the server's certificate
        /// (`sslrootcert`); nil or `system`: the system's trust store.
        public var sslRootCertificate: String?

        /// Whether the server's certificate is verified, and against which host name.
        public var verification: Verification {
            switch sslMode {
            case .disable, .allow, .prefer: return .none
            case .require: return sslRootCertificate == nil ? .none : .certificateAuthority
            case .verifyCA: return .certificateAuthority
            case .verifyFull: return .full
            }
        }

        /// How the server's certificate is checked.
        public enum Verification: Sendable, Hashable {
            /// Not at all (the connection is still encrypted when TLS is used).
            case none
            /// It must chain to a trusted certificate authority.
            case certificateAuthority
            /// That, and it must name the host connected to.
            case full
        }

        /// - Parameters:
        ///   - host: Host name, address, or a Unix socket directory.
        ///   - port: TCP port.
        ///   - user: Role to connect as.
        ///   - password: Password, if any.
        ///   - database: Database name.
        ///   - sslMode: TLS use.
        ///   - sslRootCertificate: The PEM file of the trusted certificate authorities, if not the system's.
        public init(
            host: String,
            port: Int,
            user: String,
            password: String?,
            database: String,
            sslMode: SSLMode,
            sslRootCertificate: String? = nil
        ) {
            self.host = host
            self.port = port
            self.user = user
            self.password = password
            self.database = database
            self.sslMode = sslMode
            self.sslRootCertificate = sslRootCertificate
        }
    }

    /// The embedded default: `sqlite:///./ocpp_server.db`.
    public static let defaultURL = "sqlite:///./ocpp_server.db"

    /// The schemes `DATABASE_URL` accepts.
    public static let supportedSchemes = ["sqlite", "postgres", "postgresql"]

    /// Parses a database URL.
    /// - Parameter text: The URL, e.g. `sqlite:///./ocpp_server.db` or `postgres://u:p@host:5432/db`.
    /// - Throws: ``DatabaseURLError`` saying what is wrong and which forms are supported.
    public init(_ text: String) throws(DatabaseURLError) {
        guard let schemeEnd = text.range(of: "://") else {
            throw .malformed(text, "expected scheme://..., e.g. \(Self.defaultURL)")
        }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        let rest = String(text[schemeEnd.upperBound...])
        switch scheme {
        case "sqlite":
            self = .sqlite(try Self.sqliteLocation(rest, url: text))
        case "postgres", "postgresql":
            self = .postgres(try Self.postgresSettings(text))
        default:
            throw .unsupportedScheme(scheme)
        }
    }

    private static func sqliteLocation(_ rest: String, url: String) throws(DatabaseURLError) -> SQLiteLocation {
        if rest == ":memory:" || rest == "/:memory:" {
            return .memory
        }
        // sqlite:///relative.db -> "/relative.db" after the authority (empty host); one more
        // slash makes the path absolute: sqlite:////absolute.db.
        guard rest.hasPrefix("/") else {
            throw .malformed(url, "SQLite URLs have an empty host: sqlite:///relative.db or sqlite:////absolute.db")
        }
        let path = String(rest.dropFirst())
        guard !path.isEmpty else {
            throw .malformed(url, "the SQLite database path is empty")
        }
        let withoutQuery = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return .file(path: String(withoutQuery).removingPercentEncoding ?? String(withoutQuery))
    }

    private static func postgresSettings(_ text: String) throws(DatabaseURLError) -> PostgresSettings {
        guard let components = URLComponents(string: text) else {
            throw .malformed(text, "not a valid URL")
        }
        let host = components.host.flatMap { $0.isEmpty ? nil : $0.removingPercentEncoding } ?? ""
        let queryHost = components.queryItems?.first { $0.name == "host" }?.value
        guard !host.isEmpty || queryHost != nil else {
            throw .malformed(text, "the PostgreSQL host is missing: postgres://user:password@host:5432/database")
        }
        if let port = components.port, !(1...65535).contains(port) {
            throw .malformed(text, "port \(port) is out of range")
        }
        let database = String(components.path.dropFirst())
        guard !database.isEmpty, !database.contains("/") else {
            throw .malformed(text, "the database name is missing: postgres://user:password@host:5432/database")
        }
        var sslMode = SSLMode.prefer
        var sslRootCertificate: String?
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, let mode = SSLMode(rawValue: value) else {
                    throw .malformed(
                        text,
                        "sslmode must be one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                sslMode = mode
            case "sslrootcert":
                guard let value = item.value, !value.isEmpty else {
                    throw .malformed(text, "sslrootcert must name a PEM file of CA certificates, or 'system'")
                }
                sslRootCertificate = value == "system" ? nil : value
            case "host":
                break
            default:
                throw .malformed(text, "unknown parameter '\(item.name)' (supported: sslmode, sslrootcert, host)")
            }
        }
        let user = components.percentEncodedUser?.removingPercentEncoding ?? "postgres"
        return PostgresSettings(
            host: queryHost ?? host,
            port: components.port ?? 5432,
            user: user.isEmpty ? "postgres" : user,
            password: components.percentEncodedPassword?.removingPercentEncoding,
            database: database.removingPercentEncoding ?? database,
            sslMode: sslMode,
            sslRootCertificate: sslRootCertificate
        )
    }

    /// The URL with any password masked, for logs.
    public var description: String {
        switch self {
        case .sqlite(.memory):
            return "sqlite://:memory:"
        case .sqlite(.file(let path)):
            return "sqlite:///\(path)"
        case .postgres(let settings):
            let password = settings.password == nil ? "" : ":***"
            return "postgres://\(settings.user)\(password)@\(settings.host):\(settings.port)/\(settings.database)"
                + "?sslmode=\(settings.sslMode.rawValue)"
                + (settings.sslRootCertificate.map { "&sslrootcert=\($0)" } ?? "")
        }
    }
}

/// A `DATABASE_URL` that cannot be used.
public struct DatabaseURLError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Base: Sendable, Hashable {
        case unsupportedScheme(String)
        case malformed(url: String, reason: String)
    }

    private let base: Base

    static func unsupportedScheme(_ scheme: String) -> DatabaseURLError {
        DatabaseURLError(base: .unsupportedScheme(scheme))
    }

    static func malformed(_ url: String, _ reason: String) -> DatabaseURLError {
        DatabaseURLError(base: .malformed(url: url, reason: reason))
    }

    public var description: String {
        switch base {
        case .unsupportedScheme(let scheme):
            return "DATABASE_URL scheme '\(scheme)' is not supported; use one of "
                + DatabaseURL.supportedSchemes.map { "\($0)://" }.joined(separator: ", ")
                + " (for example \(DatabaseURL.defaultURL) or postgres://user:password@localhost:5432/ocpp)"
        case .malformed(let url, let reason):
            return "DATABASE_URL '\(Self.masked(url))' is not usable: \(reason)"
        }
    }

    /// The URL with the password part hidden.
    private static func masked(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@"), let schemeEnd = url.range(of: "://"),
            let colon = url[schemeEnd.upperBound..<at].firstIndex(of: ":")
        else { return url }
        return String(url[..<url.index(after: colon)]) + "***" + String(url[at...])
    }
}
