/// A bucketed aggregate split by series, so that one large answer (a charger's month by the
/// hour: 20 series of 720 buckets) is read on several threads at once.
extension TimeSeriesStore {
    /// One share of the series a bucketed aggregate selects, all shares of one query read
    /// from the same snapshot: the buckets of its parts, in the order of the parts, are the
    /// buckets of the whole (series by series in ascending id, each in time order).
    public struct AggregatePart: Sendable {
        fileprivate let snapshot: Snapshot
        fileprivate let selected: SeriesSelection
        fileprivate let width: Int64
        /// The series of the part.
        public let seriesCount: Int
    }

    /// `query`'s series cut into at most `parts` runs of ascending ids of about equal length
    /// (fewer when it selects fewer series; one, possibly empty, when it selects none).
    /// - Parameter bucketMilliseconds: The bucket width, e.g. 3,600,000 for an hour.
    public func aggregateParts(_ query: EventQuery, bucketMilliseconds: Int64, parts: Int) -> [AggregatePart] {
        precondition(bucketMilliseconds > 0, "bucket width must be positive")
        precondition(parts > 0, "at least one part")
        let snapshot = snapshot()
        let (wanted, wantedIDs) = wantedSeries(query, snapshot)
        let whole = SeriesSelection(query, wanted)
        // Ascending already; a charger named twice names its series twice.
        var ordered: [UInt32] = []
        for id in wantedIDs where ordered.last != id { ordered.append(id) }
        let count = min(parts, ordered.count)
        guard count > 1 else {
            return [
                AggregatePart(
                    snapshot: snapshot,
                    selected: whole,
                    width: bucketMilliseconds,
                    seriesCount: ordered.count
                )
            ]
        }
        var result: [AggregatePart] = []
        var lower = 0
        for index in 0..<count {
            let upper = ordered.count * (index + 1) / count
            var selected = whole
            selected.wanted = [Bool](repeating: false, count: wanted.count)
            for id in ordered[lower..<upper] { selected.wanted[Int(id)] = true }
            result.append(
                AggregatePart(
                    snapshot: snapshot,
                    selected: selected,
                    width: bucketMilliseconds,
                    seriesCount: upper - lower
                )
            )
            lower = upper
        }
        return result
    }

    /// The buckets of `part`, handed to `body` one by one as each series is done.
    public func aggregate(_ part: AggregatePart, _ body: (AggregateBucket) throws -> Void) throws {
        let width = part.width
        try aggregate(
            part.selected,
            part.snapshot,
            // Narrower buckets cut every slot: its rows are read anyway.
            summaries: width >= BlockCodec.summarySlotMilliseconds,
            bucket: { timestamp in
                let start = floorDivide(timestamp, width) * width
                return (start, start + width)
            },
            body
        )
    }
}
