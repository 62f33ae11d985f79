/// A batch the store refused because its rows would give a charge point more series than ``TimeSeriesOptions/maximumSeriesPerChargePoint`` allows. Nothing of the
/// batch is stored; the other batches of the same append are.
public struct SeriesLimitExceeded: Error, Sendable, Hashable, CustomStringConvertible {
    /// The charge point whose limit the batch would pass.
    public let chargePointID: String
    /// The limit.
    public let limit: Int
    /// The first series of the batch that would have been one too many.
    public let series: SeriesKey

    public var description: String {
        var attributes = "connector \(series.connectorID), \(series.kind)"
        for (name, value) in [
            ("measurand", series.measurand), ("phase", series.phase), ("unit", series.unit),
            ("location", series.location), ("context", series.context), ("format", series.format),
            ("event", series.eventType),
        ] {
            if let value { attributes += ", \(name) \(value)" }
        }
        return "charge point '\(chargePointID)' already has the most series this central system keeps for "
            + "one charger (\(limit)); a new one (\(attributes)) is refused and nothing of the message is stored"
    }
}

/// Which UTC days rows are filed under: a row dated within the window (measured from the
/// store's clock when its memtable is flushed) goes to its own day; one dated before or
/// after it goes to the window's first or last day, keeping its true timestamp. A charger
/// whose clock says 1970 or 2099 therefore creates no partition there: all partitions lie
/// within the windows the server's clock has passed through.
public struct TimestampWindow: Sendable, Hashable {
    /// Rows more than this many days before the clock are filed under the window's first day.
    public var pastDays: Int
    /// Rows more than this many hours after the clock are filed under the window's last day.
    public var futureHours: Int

    public init(pastDays: Int, futureHours: Int) {
        self.pastDays = pastDays
        self.futureHours = futureHours
    }

    /// The days (since 1970) a row may be filed under at `now` (milliseconds since 1970).
    public func days(now: Int64) -> ClosedRange<Int64> {
        let first = floorDivide(
            now - Int64(pastDays) * TimeSeriesStore.millisecondsPerDay,
            TimeSeriesStore.millisecondsPerDay
        )
        let last = floorDivide(now + Int64(futureHours) * 3_600_000, TimeSeriesStore.millisecondsPerDay)
        return first...max(first, last)
    }
}
