/// What a read takes: the series (a bitmap by id), the time range and the session, if any.
struct SeriesSelection: Sendable {
    var wanted: [Bool]
    var from: Int64
    var to: Int64
    var transaction: Int?

    init(_ wanted: [Bool], from: Int64, to: Int64, transaction: Int? = nil) {
        self.wanted = wanted
        self.from = from
        self.to = to
        self.transaction = transaction
    }

    init(_ query: EventQuery, _ wanted: [Bool]) {
        self.wanted = wanted
        self.from = query.from ?? Int64.min
        self.to = query.to ?? Int64.max
        self.transaction = query.transactionID
    }

    @inline(__always)
    func wants(_ series: UInt32) -> Bool { Int(series) < wanted.count && wanted[Int(series)] }
}

/// Folds one series' rows, in time order, into buckets (of a fixed width, or one for all).
struct BucketAccumulator {
    let series: SeriesKey
    let bucket: (Int64) -> (start: Int64, end: Int64)
    private var start = Int64.min
    private var end = Int64.min
    private var count = 0
    private var sum = 0.0
    private var minimum = 0.0
    private var maximum = 0.0
    private var first = 0.0
    private var last = 0.0
    private var firstTimestamp: Int64 = 0
    private var lastTimestamp: Int64 = 0

    init(series: SeriesKey, bucket: @escaping (Int64) -> (start: Int64, end: Int64)) {
        self.series = series
        self.bucket = bucket
    }

    @inline(__always)
    mutating func add(_ timestamp: Int64, _ number: Double, into buckets: inout [AggregateBucket]) {
        if timestamp >= end || timestamp < start {
            finish(into: &buckets)
            (start, end) = bucket(timestamp)
            minimum = number
            maximum = number
            first = number
            firstTimestamp = timestamp
        }
        count += 1
        sum += number
        minimum = Swift.min(minimum, number)
        maximum = Swift.max(maximum, number)
        last = number
        lastTimestamp = timestamp
    }

    /// Adds a slot's summary (lying whole in one bucket) as its rows would add.
    mutating func add(_ slot: SlotSummary, into buckets: inout [AggregateBucket]) {
        if slot.firstTimestamp >= end || slot.firstTimestamp < start {
            finish(into: &buckets)
            (start, end) = bucket(slot.firstTimestamp)
            minimum = slot.minimum
            maximum = slot.maximum
            first = slot.first
            firstTimestamp = slot.firstTimestamp
        }
        count += slot.count
        sum += slot.sum
        minimum = Swift.min(minimum, slot.minimum)
        maximum = Swift.max(maximum, slot.maximum)
        last = slot.last
        lastTimestamp = slot.lastTimestamp
    }

    mutating func finish(into buckets: inout [AggregateBucket]) {
        guard count > 0 else { return }
        buckets.append(
            AggregateBucket(
                series: series,
                start: start,
                count: count,
                sum: sum,
                minimum: minimum,
                maximum: maximum,
                first: first,
                last: last,
                firstTimestamp: firstTimestamp,
                lastTimestamp: lastTimestamp
            )
        )
        count = 0
        sum = 0
    }
}
