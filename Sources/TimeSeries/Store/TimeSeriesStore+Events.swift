extension TimeSeriesStore {
    /// One page of the event rows (``SeriesKey/Kind/event``: notifications stored under their
    /// action's name) that `query` selects, of the given event types only (`nil`: all), in
    /// (timestamp, series, transaction) order with a cursor for the next page, as ``query(_:)`` pages.
    /// `query.kinds` is ignored.
    /// - Throws: ``TimeSeriesError`` when a file cannot be read.
    public func events(_ query: EventQuery, eventTypes: Set<String>?) throws -> EventPage {
        var query = query
        query.kinds = [.event]
        let snapshot = snapshot()
        let collected = try collect(query, snapshot, selection: .all)
        let merged = Self.pageOrdered(collected, descending: query.descending) { series in
            guard let eventTypes else { return true }
            return snapshot.keys[Int(series)].eventType.map(eventTypes.contains) ?? false
        }
        var start = 0
        if let cursor = query.cursor {
            start =
                merged.firstIndex { row in
                    query.descending
                        ? cursor.follows(row.timestamp, row.series, row.transaction)
                        : cursor.precedes(row.timestamp, row.series, row.transaction)
                } ?? merged.count
        }
        let end = min(merged.count, start + max(1, query.limit))
        return Self.page(merged[start..<end], more: end < merged.count, keys: snapshot.keys)
    }
}
