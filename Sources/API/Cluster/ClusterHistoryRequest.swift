import Hummingbird
import TimeSeries

/// A history query one node asks another to answer from its own store only: the internal
/// API's `GET /cluster/v1/history?...`, whose parameters are this query's fields.
///
/// Raw rows answer from ``after`` on (a ``ClusterCursor``, which every node can place among
/// its own rows); with ``bucket``, the answer is the node's buckets instead.
struct ClusterHistoryRequest: Sendable, Hashable {
    /// Which rows: meter samples, status changes or other events.
    enum Kind: String, Sendable {
        case sample
        case status
        case event

        var seriesKind: SeriesKey.Kind {
            switch self {
            case .sample: return .sample
            case .status: return .status
            case .event: return .event
            }
        }
    }

    var chargePointID: String
    var kind: Kind
    var connectorID: Int?
    var transactionID: Int?
    var measurands: [String]?
    var phases: [String]?
    /// For events: only these actions (`nil`: all).
    var eventTypes: [String]?
    var from: Int64?
    var to: Int64?
    var descending = false
    var limit = MeterHistory.defaultLimit
    var after: ClusterCursor?
    /// The bucket width in milliseconds, for aggregates.
    var bucket: Int64?

    /// The request for `query` (one charger's rows of one kind, as a public route built it).
    init(
        chargePointID: String,
        kind: Kind,
        query: EventQuery,
        eventTypes: Set<String>? = nil,
        bucket: Int64? = nil
    ) {
        self.chargePointID = chargePointID
        self.kind = kind
        connectorID = query.connectorID
        transactionID = query.transactionID
        measurands = query.measurands?.sorted()
        phases = query.phases?.sorted()
        self.eventTypes = eventTypes?.sorted()
        from = query.from
        to = query.to
        descending = query.descending
        limit = query.limit
        after = query.cursor.map(ClusterCursor.init)
        self.bucket = bucket
    }

    /// The store query this asks for (without a cursor: ``after`` is not a store's cursor).
    var eventQuery: EventQuery {
        EventQuery(
            chargePointIDs: [chargePointID],
            connectorID: connectorID,
            transactionID: transactionID,
            kinds: [kind.seriesKind],
            measurands: measurands.map(Set.init),
            phases: phases.map(Set.init),
            from: from,
            to: to,
            descending: descending,
            limit: limit
        )
    }

    /// The URL's query: each value percent-encoded.
    var queryString: String {
        var items: [(String, String)] = [("charge_point_id", chargePointID), ("kind", kind.rawValue)]
        if let connectorID { items.append(("connector_id", "\(connectorID)")) }
        if let transactionID { items.append(("transaction_id", "\(transactionID)")) }
        for measurand in measurands ?? [] { items.append(("measurand", measurand)) }
        for phase in phases ?? [] { items.append(("phase", phase)) }
        for eventType in eventTypes ?? [] { items.append(("event_type", eventType)) }
        if let from { items.append(("from", "\(from)")) }
        if let to { items.append(("to", "\(to)")) }
        if descending { items.append(("order", "desc")) }
        items.append(("limit", "\(limit)"))
        if let after { items.append(("after", after.description)) }
        if let bucket { items.append(("bucket", "\(bucket)")) }
        return items.map { "\($0)=\(ClusterForwarder.pathSegment($1))" }.joined(separator: "&")
    }

    /// Why a request from a peer cannot be answered.
    struct Invalid: Error {
        let message: String
    }

    /// Reads a peer's request.
    /// - Throws: ``Invalid`` naming a missing or unusable parameter.
    init(_ parameters: Hummingbird.Parameters) throws(Invalid) {
        func integer(_ name: String) throws(Invalid) -> Int64? {
            guard let text = parameters[Substring(name)] else { return nil }
            guard let value = Int64(text) else { throw Invalid(message: "\(name) is not a whole number: \(text)") }
            return value
        }
        guard let chargePointID = parameters["charge_point_id"].map(String.init), !chargePointID.isEmpty else {
            throw Invalid(message: "charge_point_id is missing")
        }
        guard let kind = parameters["kind"].flatMap({ Kind(rawValue: String($0)) }) else {
            throw Invalid(message: "kind must be sample, status or event")
        }
        self.chargePointID = chargePointID
        self.kind = kind
        connectorID = try integer("connector_id").flatMap { Int(exactly: $0) }
        transactionID = try integer("transaction_id").flatMap { Int(exactly: $0) }
        let measurands = parameters[values: "measurand"].map(String.init)
        self.measurands = measurands.isEmpty ? nil : measurands
        let phases = parameters[values: "phase"].map(String.init)
        self.phases = phases.isEmpty ? nil : phases
        let eventTypes = parameters[values: "event_type"].map(String.init)
        self.eventTypes = eventTypes.isEmpty ? nil : eventTypes
        from = try integer("from")
        to = try integer("to")
        descending = parameters["order"] == "desc"
        guard let limit = try integer("limit"), (1...Int64(MeterHistory.maximumLimit)).contains(limit) else {
            throw Invalid(message: "limit must be a whole number in 1...\(MeterHistory.maximumLimit)")
        }
        self.limit = Int(limit)
        if let text = parameters["after"] {
            guard let cursor = MeterHistory.cursor(String(text)) else {
                throw Invalid(message: "after is not a cursor: \(text)")
            }
            after = ClusterCursor(cursor)
        }
        if let bucket = try integer("bucket") {
            guard bucket > 0 else { throw Invalid(message: "bucket must be positive") }
            self.bucket = bucket
        }
    }
}

extension ClusterHistoryRequest {
    /// This node's rows after ``after`` (of ``eventTypes``, when given), at least ``limit`` of
    /// them unless none are left,
    /// and then every row at the timestamp of the last (so that the merged order, which is not
    /// the store's within a timestamp, can be cut anywhere). Reads files: call it off the
    /// event loops and the cooperative pool.
    func rows(from store: TimeSeriesStore) throws -> HistoryShard {
        var query = eventQuery
        if let after {
            if descending {
                query.to = min(query.to ?? .max, after.timestamp == .max ? .max : after.timestamp + 1)
            } else {
                query.from = max(query.from ?? .min, after.timestamp)
            }
        }
        var identities: [SeriesKey: UInt32] = [:]
        let eventTypes = self.eventTypes.map(Set.init)
        func isWanted(_ row: EventRow) -> Bool {
            if let eventTypes, !(row.series.eventType.map(eventTypes.contains) ?? false) { return false }
            guard let after else { return true }
            let digest: UInt32
            if let known = identities[row.series] {
                digest = known
            } else {
                digest = SeriesIdentity(row.series).digest
                identities[row.series] = digest
            }
            let position = ClusterCursor(timestamp: row.timestamp, digest: digest, transactionID: row.transactionID)
            return after.isBefore(position, descending: descending)
        }
        var rows: [EventRow] = []
        var exhausted = true
        let pager = store.pages(query)
        while let page = try pager.next() {
            rows += page.rows.filter(isWanted)
            guard page.nextCursor != nil else { break }
            if rows.count >= limit {
                exhausted = false
                break
            }
        }
        guard !exhausted, let edge = rows.last?.timestamp, edge < .max, edge > .min else {
            return HistoryShard(rows: rows, through: nil)
        }
        var atEdge = query
        atEdge.from = edge
        atEdge.to = edge + 1
        atEdge.descending = false
        atEdge.limit = MeterHistory.maximumLimit
        rows.removeAll { $0.timestamp == edge }
        let edgePager = store.pages(atEdge)
        while let page = try edgePager.next() { rows += page.rows.filter(isWanted) }
        var beyond = query
        if descending { beyond.to = edge } else { beyond.from = edge + 1 }
        // Without an event type filter, any row answers; with one, a row of those types.
        beyond.limit = eventTypes == nil ? 1 : MeterHistory.maximumLimit
        let probe = store.pages(beyond)
        var more = false
        while !more, let page = try probe.next() { more = page.rows.contains(where: isWanted) }
        return HistoryShard(rows: rows, through: more ? edge : nil)
    }

    /// This node's buckets, or how many there would be when that is more than
    /// ``MeterHistory/maximumBuckets``. Reads files, as ``rows(from:)`` does.
    func buckets(from store: TimeSeriesStore) throws -> Result<[AggregateBucket], TooManyBuckets> {
        let query = eventQuery
        let width = bucket ?? 1
        let count = store.extent(query)?.buckets(width: width) ?? 0
        guard count <= MeterHistory.maximumBuckets else { return .failure(TooManyBuckets(count: count)) }
        return .success(try store.aggregate(query, bucketMilliseconds: width))
    }

    /// A bucketed answer that would be too large.
    struct TooManyBuckets: Error, Sendable {
        var count: Int
    }
}
