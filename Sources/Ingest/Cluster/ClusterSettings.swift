public import Relational

/// A node's place in a cluster: its id, the URL its peers reach its API at, the secret they
/// share, and its lease (`NODE_ID`, `NODE_URL`, `CLUSTER_SECRET`, `CLUSTER_LEASE_SECONDS`).
public struct ClusterSettings: Sendable, Equatable {
    /// The node's id: 1 to 64 letters, digits, `-`, `_` or `.`.
    public var nodeID: String
    /// The base URL of this node's API, as its peers reach it.
    public var nodeURL: ClusterNodeURL
    /// What peers send to this node's internal API, and it to theirs.
    public var secret: ClusterSecret
    /// How long a registration holds unless renewed; renewed every third of it.
    public var leaseSeconds: Int
    /// How long a forwarded command may take, beyond the charger's own call timeout.
    public var forwardingMarginSeconds: Int

    /// The lease unless `CLUSTER_LEASE_SECONDS` says otherwise.
    public static let defaultLeaseSeconds = 15
    /// The leases `CLUSTER_LEASE_SECONDS` accepts.
    public static let leaseSecondsRange: ClosedRange<Int> = 1...3600
    /// The header the cluster secret travels in.
    public static let secretHeader = "X-Cluster-Secret"

    /// - Throws: ``ClusterSettingsError`` for an id that is not 1 to 64 letters, digits, `-`,
    ///   `_` or `.`, or a lease outside ``leaseSecondsRange``.
    public init(
        nodeID: String,
        nodeURL: ClusterNodeURL,
        secret: ClusterSecret,
        leaseSeconds: Int = Self.defaultLeaseSeconds,
        forwardingMarginSeconds: Int = 5
    ) throws(ClusterSettingsError) {
        guard Self.isValidNodeID(nodeID) else {
            throw ClusterSettingsError(
                reason: "NODE_ID '\(nodeID.prefix(80))' is not 1 to 64 letters, digits, '-', '_' or '.'"
            )
        }
        guard Self.leaseSecondsRange.contains(leaseSeconds) else {
            throw ClusterSettingsError(
                reason: "CLUSTER_LEASE_SECONDS \(leaseSeconds) is not in "
                    + "\(Self.leaseSecondsRange.lowerBound)...\(Self.leaseSecondsRange.upperBound)"
            )
        }
        self.nodeID = nodeID
        self.nodeURL = nodeURL
        self.secret = secret
        self.leaseSeconds = leaseSeconds
        self.forwardingMarginSeconds = forwardingMarginSeconds
    }

    /// Whether `id` is 1 to 64 ASCII letters, digits, `-`, `_` or `.`.
    public static func isValidNodeID(_ id: String) -> Bool {
        (1...64).contains(id.utf8.count)
            && id.utf8.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
            }
    }
}

/// Why cluster settings are refused.
public struct ClusterSettingsError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong and what is expected.
    public let reason: String

    public var description: String { reason }
}

/// The base URL of a node's API: `http://host[:port][/path]`.
///
/// Plain HTTP only: node-to-node calls carry the cluster secret, so they belong on a private
/// network between the nodes.
public struct ClusterNodeURL: Sendable, Hashable, CustomStringConvertible {
    /// The host name or address (an IPv6 address without brackets).
    public let host: String
    /// The port (80 when the URL names none).
    public let port: Int
    /// The path prefix, without a trailing `/` (empty for none).
    public let basePath: String

    /// - Throws: ``ClusterSettingsError`` when `text` is not an `http://` URL with a host, an
    ///   optional port in 1...65535 and an optional path, without query, fragment or user.
    public init(_ text: String) throws(ClusterSettingsError) {
        func refuse(_ why: String) -> ClusterSettingsError {
            ClusterSettingsError(
                reason: "NODE_URL '\(text.prefix(200))' is not usable: \(why) (expected http://host:port, "
                    + "the address peers reach this node's API at)"
            )
        }
        guard text.lowercased().hasPrefix("http://") else { throw refuse("only http:// is supported") }
        let rest = text.dropFirst("http://".count)
        guard !rest.contains("?"), !rest.contains("#"), !rest.contains("@") else {
            throw refuse("it has a query, fragment or user part")
        }
        let authority = rest.prefix { $0 != "/" }
        var path = String(rest.dropFirst(authority.count))
        while path.hasSuffix("/") { path.removeLast() }
        var hostPart = Substring(authority)
        var portPart: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw refuse("an unclosed '['") }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw refuse("text after the address") }
                portPart = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        }
        guard !hostPart.isEmpty, !hostPart.contains(" ") else { throw refuse("no host") }
        var port = 80
        if let portPart {
            guard let number = Int(portPart), (1...65535).contains(number) else {
                throw refuse("the port is not in 1...65535")
            }
            port = number
        }
        host = String(hostPart)
        self.port = port
        basePath = path
    }

    /// The URL as text.
    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "http://\(shownHost):\(port)\(basePath)"
    }

    /// The `Host` header of a request to it.
    public var hostHeader: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return port == 80 ? shownHost : "\(shownHost):\(port)"
    }
}
