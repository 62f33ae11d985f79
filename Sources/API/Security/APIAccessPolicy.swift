public import HTTPTypes
import Synchronization

/// Which roles may call which route: the one table the API's authorization follows.
///
/// A route is its registered path (`/db/chargers/{charger_id}`, as Hummingbird reports it)
/// and method. The first rule that matches decides; a route no rule matches is for admins
/// only (a test checks that every route has a rule). Public routes need no token at all.
public enum APIAccessPolicy {
    /// One line of the table.
    public struct Rule: Sendable {
        /// The methods it covers; empty: every method.
        public let methods: Set<HTTPRequest.Method>
        /// Path segments; `*` is any one segment, a final `**` any number of them (none too).
        public let pattern: String
        /// Who may call the routes it covers; `nil`: everyone, without a token.
        public let roles: Set<APIRole>?
        /// Whether a caller limited to a company may call them (within its company); the
        /// fleet's own matters (tokens, the audit log, metrics, making and removing
        /// companies) are for callers unlimited to a company.
        public let tenants: Bool

        let segments: [Substring]

        init(_ methods: Set<HTTPRequest.Method>, _ pattern: String, _ roles: Set<APIRole>?, tenants: Bool = true) {
            self.methods = methods
            self.pattern = pattern
            self.roles = roles
            self.tenants = tenants
            self.segments = pattern.split(separator: "/")
        }

        func matches(method: HTTPRequest.Method, path: some StringProtocol) -> Bool {
            matches(method: method, segments: path.split(separator: "/").map { Substring($0) })
        }

        func matches(method: HTTPRequest.Method, segments path: [Substring]) -> Bool {
            guard methods.isEmpty || methods.contains(method) else { return false }
            var remaining = path[...]
            for (index, segment) in segments.enumerated() {
                if segment == "**", index == segments.count - 1 { return true }
                guard let first = remaining.first, segment == "*" || segment == first else { return false }
                remaining = remaining.dropFirst()
            }
            return remaining.isEmpty
        }
    }

    private static let readers: Set<APIRole> = [.admin, .operator, .analyst]
    private static let writers: Set<APIRole> = [.admin, .operator]

    /// The table, first match first.
    public static let rules: [Rule] = [
        // Public: the probes, the document and its page (with its scripts and styles), and the OCPP endpoint, whose
        // chargers authenticate at the WebSocket upgrade by their security profile.
        Rule([.get], "/health", nil),
        Rule([.get], "/ready", nil),
        Rule([.get], "/openapi.json", nil),
        Rule([.get], "/docs/**", nil),
        // The console's page and files; what it shows comes from the API, with the caller's token.
        Rule([.get], "/", nil),
        Rule([.get], "/console/*", nil),
        // Who the caller is: every role may ask.
        Rule([.get], "/whoami", Set(APIRole.allCases)),
        Rule([], "/ocpp/**", nil),
        // The cluster's internal API takes no token: its routes check the cluster secret
        // (X-Cluster-Secret) themselves, and a token does not stand in for it.
        Rule([.get, .post], "/cluster/v1/**", nil),
        // Public too with METRICS_PUBLIC=true.
        Rule([.get], "/metrics", readers, tenants: false),
        // Connected chargers are read by readers; everything sent to a charger is a command.
        Rule([.get], "/charge_points", readers),
        Rule([.get], "/charge_points/*/configuration", writers),
        Rule([.post], "/charge_points/*/*", writers),
        // Tokens and the audit log: admins only.
        Rule([], "/db/api_tokens/**", [.admin], tenants: false),
        Rule([], "/db/audit_log/**", [.admin], tenants: false),
        // A company is made and removed by the fleet's operator, not by a tenant.
        Rule([.post], "/db/companies", writers, tenants: false),
        Rule([.delete], "/db/companies/*", writers, tenants: false),
        // The OCPP-DB relay: integrations (and admins).
        Rule([.post], "/db/ocpp/**", [.admin, .integration]),
        // The database: operators write, analysts read (lists, history, summaries, events).
        Rule([.get], "/db/**", readers),
        Rule([.post, .put, .patch, .delete], "/db/**", writers),
    ]

    /// The rule for `method` on the route `path`, if any.
    ///
    /// Every request asks (authentication, then authorization) for one of the router's few
    /// routes: the answers are remembered, up to ``memoCapacity`` routes.
    public static func rule(method: HTTPRequest.Method, path: some StringProtocol) -> Rule? {
        let key = MemoKey(method: method, path: String(path))
        if let index = memo.withLock({ $0[key] }) { return index.map { rules[$0] } }
        let segments = path.split(separator: "/").map { Substring($0) }
        let index = rules.firstIndex { $0.matches(method: method, segments: segments) }
        memo.withLock { memo in
            if memo.count >= memoCapacity { memo.removeAll(keepingCapacity: true) }
            memo[key] = .some(index)
        }
        return index.map { rules[$0] }
    }

    private struct MemoKey: Hashable {
        var method: HTTPRequest.Method
        var path: String
    }

    /// More routes than the router has (about a hundred); only tests ask for others.
    static let memoCapacity = 1024
    private static let memo = Mutex<[MemoKey: Int?]>([:])

    /// Whether the route needs no token.
    public static func isPublic(method: HTTPRequest.Method, path: some StringProtocol, metricsPublic: Bool) -> Bool {
        if metricsPublic, method == .get, path == "/metrics" { return true }
        guard let rule = rule(method: method, path: path) else { return false }
        return rule.roles == nil
    }

    /// Whether `role` may call `method` on `path`: what its rule says, admins only without one;
    /// `scoped`: the caller is limited to a company.
    public static func allows(
        _ role: APIRole,
        scoped: Bool = false,
        method: HTTPRequest.Method,
        path: some StringProtocol
    ) -> Bool {
        guard let rule = rule(method: method, path: path) else { return role == .admin && !scoped }
        guard !scoped || rule.tenants else { return false }
        return rule.roles?.contains(role) ?? true
    }
}
