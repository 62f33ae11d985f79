/// Which rows to read.
public struct EventQuery: Sendable, Hashable {
    /// Charge points to read (`nil`: all).
    public var chargePointIDs: Set<String>?
    public var connectorID: Int?
    public var transactionID: Int?
    /// Kinds of series (`nil`: all).
    public var kinds: Set<SeriesKey.Kind>?
    /// Measurands (`nil`: all). Samples without a measurand match `Energy.Active.Import.Register`, OCPP's default.
    public var measurands: Set<String>?
    /// Phases (`nil`: all).
    public var phases: Set<String>?
    /// From this time on (milliseconds since 1970, inclusive).
    public var from: Int64?
    /// Before this time (exclusive).
    public var to: Int64?
    /// Newest first.
    public var descending: Bool
    /// At most this many rows per page.
    public var limit: Int
    /// Where the previous page ended.
    public var cursor: EventCursor?

    public init(
        chargePointIDs: Set<String>? = nil,
        connectorID: Int? = nil,
        transactionID: Int? = nil,
        kinds: Set<SeriesKey.Kind>? = nil,
        measurands: Set<String>? = nil,
        phases: Set<String>? = nil,
        from: Int64? = nil,
        to: Int64? = nil,
        descending: Bool = false,
        limit: Int = 1000,
        cursor: EventCursor? = nil
    ) {
        self.chargePointIDs = chargePointIDs
        self.connectorID = connectorID
        self.transactionID = transactionID
        self.kinds = kinds
        self.measurands = measurands
        self.phases = phases
        self.from = from
        self.to = to
        self.descending = descending
        self.limit = limit
        self.cursor = cursor
    }

    func matches(_ key: SeriesKey) -> Bool {
        if let chargePointIDs, !chargePointIDs.contains(key.chargePointID) { return false }
        if let connectorID, key.connectorID != connectorID { return false }
        if let transactionID, key.transactionID != transactionID { return false }
        if let kinds, !kinds.contains(key.kind) { return false }
        if let measurands {
            guard key.kind == .sample, measurands.contains(key.measurand ?? "Energy.Active.Import.Register") else {
                return false
            }
        }
        if let phases {
            guard let phase = key.phase, phases.contains(phase) else { return false }
        }
        return true
    }

    func includes(timestamp: Int64) -> Bool {
        (from.map { timestamp >= $0 } ?? true) && (to.map { timestamp < $0 } ?? true)
    }
}

/// Where a page of rows ended: resume after this (timestamp, series) in the page's order.
public struct EventCursor: Sendable, Hashable, CustomStringConvertible {
    public var timestamp: Int64
    public var seriesID: UInt32

    /// The cursor as an opaque token for APIs (`timestamp.series`).
    public var description: String { "\(timestamp).\(seriesID)" }

    public init(timestamp: Int64, seriesID: UInt32) {
        self.timestamp = timestamp
        self.seriesID = seriesID
    }

    /// Parses a token made by ``description``.
    public init?(_ token: String) {
        let parts = token.split(separator: ".")
        guard parts.count == 2, let timestamp = Int64(parts[0]), let seriesID = UInt32(parts[1]) else { return nil }
        self.init(timestamp: timestamp, seriesID: seriesID)
    }
}

/// One page of rows.
public struct EventPage: Sendable {
    public var rows: [EventRow]
    /// Where to resume, or `nil` when there is no more.
    public var nextCursor: EventCursor?
}

/// Aggregates of one series over one time bucket.
public struct AggregateBucket: Sendable, Hashable {
    public var series: SeriesKey
    /// The bucket's start (milliseconds since 1970), a multiple of the bucket width.
    public var start: Int64
    public var count: Int
    public var sum: Double
    public var minimum: Double
    public var maximum: Double
    public var first: Double
    public var last: Double
    /// When the bucket's first and last values were taken.
    public var firstTimestamp: Int64
    public var lastTimestamp: Int64
    public var average: Double { sum / Double(count) }
}
