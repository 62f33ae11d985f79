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
        var merged: [(timestamp: Int64, series: UInt32, transaction: Int?, value: EventValue)] = []
        for (series, rows) in collected {
            if let eventTypes {
                guard let type = snapshot.keys[Int(series)].eventType, eventTypes.contains(type) else { continue }
            }
            var rows = rows
            rows.normalize()
            for index in rows.timestamps.indices {
                merged.append((rows.timestamps[index], series, rows.transactions[index], rows.values[index]))
            }
        }
        if query.descending {
            merged.sort { pageOrderPrecedes(($1.0, $1.1, $1.2), ($0.0, $0.1, $0.2)) }
        } else {
            merged.sort { pageOrderPrecedes(($0.0, $0.1, $0.2), ($1.0, $1.1, $1.2)) }
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
        let page = merged[start..<end].map { row in
            EventRow(
                series: snapshot.keys[Int(row.series)],
                timestamp: row.timestamp,
                value: row.value,
                transactionID: row.transaction
            )
        }
        let next = end < merged.count ? merged[end - 1] : nil
        return EventPage(
            rows: page,
            nextCursor: next.map {
                EventCursor(timestamp: $0.timestamp, seriesID: $0.series, transactionID: $0.transaction)
            }
        )
    }
}
