/// Which rows to read.
public struct EventQuery: Sendable, Hashable {
    /// Charge points to read (`nil`: all).
    public var chargePointIDs: Set<String>?
    public var connectorID: Int?
    /// Rows of this charging session only: a row-level filter (a series spans sessions), and
    /// blocks whose footer does not list the session are not read.
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

/// Where a page of rows ended: resume after this (timestamp, series, transaction) in the
/// page's order (rows without a transaction first among equal timestamp and series).
public struct EventCursor: Sendable, Hashable, CustomStringConvertible {
    public var timestamp: Int64
    public var seriesID: UInt32
    public var transactionID: Int?

    /// The cursor as an opaque token for APIs: `timestamp.series` for a row without a
    /// transaction (as tokens were before rows had one), `timestamp.series.transaction` otherwise.
    public var description: String {
        transactionID.map { "\(timestamp).\(seriesID).\($0)" } ?? "\(timestamp).\(seriesID)"
    }

    public init(timestamp: Int64, seriesID: UInt32, transactionID: Int? = nil) {
        self.timestamp = timestamp
        self.seriesID = seriesID
        self.transactionID = transactionID
    }

    /// Parses a token made by ``description``.
    public init?(_ token: String) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3, let timestamp = Int64(parts[0]), let seriesID = UInt32(parts[1])
        else { return nil }
        var transactionID: Int?
        if parts.count == 3 {
            guard let transaction = Int(parts[2]) else { return nil }
            transactionID = transaction
        }
        self.init(timestamp: timestamp, seriesID: seriesID, transactionID: transactionID)
    }

    /// Whether a row at (`timestamp`, `seriesID`, `transactionID`) comes after the cursor in
    /// ascending order.
    public func precedes(_ timestamp: Int64, _ seriesID: UInt32, _ transactionID: Int?) -> Bool {
        if (self.timestamp, self.seriesID) != (timestamp, seriesID) {
            return (self.timestamp, self.seriesID) < (timestamp, seriesID)
        }
        return TransactionCode.precedes(self.transactionID, transactionID)
    }

    /// Whether a row comes before the cursor in ascending order (after it, newest first).
    func follows(_ timestamp: Int64, _ seriesID: UInt32, _ transactionID: Int?) -> Bool {
        if (self.timestamp, self.seriesID) != (timestamp, seriesID) {
            return (self.timestamp, self.seriesID) > (timestamp, seriesID)
        }
        return TransactionCode.precedes(transactionID, self.transactionID)
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

    public init(
        series: SeriesKey,
        start: Int64,
        count: Int,
        sum: Double,
        minimum: Double,
        maximum: Double,
        first: Double,
        last: Double,
        firstTimestamp: Int64,
        lastTimestamp: Int64
    ) {
        self.series = series
        self.start = start
        self.count = count
        self.sum = sum
        self.minimum = minimum
        self.maximum = maximum
        self.first = first
        self.last = last
        self.firstTimestamp = firstTimestamp
        self.lastTimestamp = lastTimestamp
    }
}
