/// Whether an HTTP request may become an OCPP WebSocket: the path names a valid charge point
/// id, the client offers the `ocpp1.6` subprotocol (or none, when that is allowed), and it
/// carries no browser `Origin` other than the allowed ones.
///
/// Pure, so the upgrader and the HTTP fallback (which explains a refusal) agree.
public enum UpgradeDecision: Sendable, Hashable {
    /// Upgrade; answer with `subprotocol` when there is one.
    case accept(ChargePointID, subprotocol: String?, offeredNone: Bool)
    /// Refuse with an HTTP status and a reason.
    case refuse(status: Int, reason: String)

    /// The subprotocol this server speaks.
    public static let subprotocol = "ocpp1.6"
    /// The path prefix of the OCPP endpoint.
    public static let pathPrefix = "/ocpp/"

    /// Decides about one request.
    /// - Parameters:
    ///   - uri: The request target (path and maybe a query).
    ///   - offeredSubprotocols: The values of every `Sec-WebSocket-Protocol` header.
    ///   - requireSubprotocol: Whether a client offering none is refused.
    ///   - origins: The values of every `Origin` header. Chargers send none; a browser always
    ///     does, so a page on another site cannot open a charger's connection in its name.
    ///   - allowedOrigins: The origins accepted anyway (exact match, e.g. `https://ops.example.com`).
    public init(
        uri: String,
        offeredSubprotocols: [String],
        requireSubprotocol: Bool,
        origins: [String] = [],
        allowedOrigins: Set<String> = []
    ) {
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard path.hasPrefix(Self.pathPrefix) else {
            self = .refuse(status: 404, reason: "the OCPP endpoint is \(Self.pathPrefix){charge_point_id}")
            return
        }
        if let origin = origins.first(where: { !allowedOrigins.contains($0) }) {
            self = .refuse(
                status: 403,
                reason: "WebSocket upgrades from browser origin '\(LogText.escaped(origin))' are refused; "
                    + "list the origin in OCPP_ALLOWED_ORIGINS to allow it"
            )
            return
        }
        let segment = path.dropFirst(Self.pathPrefix.count)
        guard !segment.isEmpty else {
            self = .refuse(
                status: 400,
                reason: "the path lacks the charge point id: \(Self.pathPrefix){charge_point_id}"
            )
            return
        }
        let identity: ChargePointID
        do {
            identity = try ChargePointID(pathSegment: segment)
        } catch {
            self = .refuse(status: 400, reason: error.reason)
            return
        }
        let offered = offeredSubprotocols.flatMap { $0.split(separator: ",") }
            .map { $0.trimmingSpaces() }
            .filter { !$0.isEmpty }
        if offered.isEmpty {
            self =
                requireSubprotocol
                ? .refuse(
                    status: 400,
                    reason: "no Sec-WebSocket-Protocol offered; this server requires \(Self.subprotocol)"
                )
                : .accept(identity, subprotocol: nil, offeredNone: true)
        } else if offered.contains(Self.subprotocol) {
            self = .accept(identity, subprotocol: Self.subprotocol, offeredNone: false)
        } else {
            self = .refuse(
                status: 400,
                reason: "subprotocols offered (\(offered.joined(separator: ", "))) do not include \(Self.subprotocol)"
            )
        }
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        var text = self[...]
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return String(text)
    }
}
