import Foundation
import TimeSeries

/// What a node's internal history route answers: its rows (with how far they go) or its
/// buckets, each naming its series by an index into ``series``, which lists each key once.
///
/// Numbers travel as text (`Double.description`, which reads back to the same `Double`, and
/// spells infinities and NaN, which JSON numbers cannot): the merged answer is then exactly
/// what one store would have given.
struct ClusterHistoryAnswer: Codable, Sendable {
    struct Series: Codable, Sendable {
        var chargePointID: String
        var connectorID: Int
        var kind: UInt8
        var measurand: String?
        var phase: String?
        var unit: String?
        var location: String?
        var context: String?
        var format: String?
        var eventType: String?

        enum CodingKeys: String, CodingKey {
            case chargePointID = "cp"
            case connectorID = "c"
            case kind = "k"
            case measurand = "m"
            case phase = "p"
            case unit = "u"
            case location = "l"
            case context = "x"
            case format = "f"
            case eventType = "e"
        }
    }

    /// A value: `n`, a number's text; `w`, the text a number was sent as when it differs;
    /// `t`, text that is not a number; `j`, a payload; `s`, a status change.
    struct Value: Codable, Sendable {
        var n: String?
        var w: String?
        var t: String?
        var j: String?
        var s: [String?]?
    }

    struct Row: Codable, Sendable {
        var series: Int
        var timestamp: Int64
        var transactionID: Int?
        var value: Value

        enum CodingKeys: String, CodingKey {
            case series = "s"
            case timestamp = "t"
            case transactionID = "x"
            case value = "v"
        }
    }

    /// A bucket: start, count, then sum, minimum, maximum, first, last as text, then the
    /// first's and the last's times.
    struct Bucket: Codable, Sendable {
        var series: Int
        var start: Int64
        var count: Int
        var values: [String]
        var firstTimestamp: Int64
        var lastTimestamp: Int64

        enum CodingKeys: String, CodingKey {
            case series = "s"
            case start = "b"
            case count = "n"
            case values = "v"
            case firstTimestamp = "f"
            case lastTimestamp = "l"
        }
    }

    var series: [Series] = []
    var rows: [Row]?
    /// ``HistoryShard/through``.
    var through: Int64?
    var buckets: [Bucket]?
    /// Set instead of ``buckets`` when the node's buckets would be more than allowed.
    var tooManyBuckets: Int?

    /// Why an answer cannot be read.
    struct Unreadable: Error, CustomStringConvertible {
        var description: String
    }

    private var indexes: [SeriesKey: Int] = [:]

    enum CodingKeys: String, CodingKey {
        case series
        case rows
        case through
        case buckets
        case tooManyBuckets = "too_many_buckets"
    }

    init(_ shard: HistoryShard) {
        var rows: [Row] = []
        rows.reserveCapacity(shard.rows.count)
        for row in shard.rows {
            rows.append(
                Row(
                    series: index(row.series),
                    timestamp: row.timestamp,
                    transactionID: row.transactionID,
                    value: Self.value(row.value)
                )
            )
        }
        self.rows = rows
        through = shard.through
    }

    init(_ buckets: Result<[AggregateBucket], ClusterHistoryRequest.TooManyBuckets>) {
        switch buckets {
        case .failure(let tooMany):
            tooManyBuckets = tooMany.count
        case .success(let buckets):
            var wire: [Bucket] = []
            wire.reserveCapacity(buckets.count)
            for bucket in buckets {
                wire.append(
                    Bucket(
                        series: index(bucket.series),
                        start: bucket.start,
                        count: bucket.count,
                        values: [bucket.sum, bucket.minimum, bucket.maximum, bucket.first, bucket.last].map(
                            \.description
                        ),
                        firstTimestamp: bucket.firstTimestamp,
                        lastTimestamp: bucket.lastTimestamp
                    )
                )
            }
            self.buckets = wire
        }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        series = try container.decode([Series].self, forKey: .series)
        rows = try container.decodeIfPresent([Row].self, forKey: .rows)
        through = try container.decodeIfPresent(Int64.self, forKey: .through)
        buckets = try container.decodeIfPresent([Bucket].self, forKey: .buckets)
        tooManyBuckets = try container.decodeIfPresent(Int.self, forKey: .tooManyBuckets)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(series, forKey: .series)
        try container.encodeIfPresent(rows, forKey: .rows)
        try container.encodeIfPresent(through, forKey: .through)
        try container.encodeIfPresent(buckets, forKey: .buckets)
        try container.encodeIfPresent(tooManyBuckets, forKey: .tooManyBuckets)
    }

    private mutating func index(_ key: SeriesKey) -> Int {
        if let known = indexes[key] { return known }
        let index = series.count
        series.append(
            Series(
                chargePointID: key.chargePointID,
                connectorID: key.connectorID,
                kind: key.kind.rawValue,
                measurand: key.measurand,
                phase: key.phase,
                unit: key.unit,
                location: key.location,
                context: key.context,
                format: key.format,
                eventType: key.eventType
            )
        )
        indexes[key] = index
        return index
    }

    private static func value(_ value: EventValue) -> Value {
        switch value {
        case .number(let number): return Value(n: number.description)
        case .numberWithText(let number, let text): return Value(n: number.description, w: text)
        case .text(let text): return Value(t: text)
        case .payload(let text): return Value(j: text)
        case .status(let status):
            return Value(s: [status.status, status.errorCode, status.info, status.vendorID, status.vendorErrorCode])
        }
    }

    /// The series keys, checked.
    private func keys() throws(Unreadable) -> [SeriesKey] {
        var keys: [SeriesKey] = []
        for item in series {
            guard let kind = SeriesKey.Kind(rawValue: item.kind) else {
                throw Unreadable(description: "series kind \(item.kind) is unknown")
            }
            keys.append(
                SeriesKey(
                    chargePointID: item.chargePointID,
                    connectorID: item.connectorID,
                    kind: kind,
                    measurand: item.measurand,
                    phase: item.phase,
                    unit: item.unit,
                    location: item.location,
                    context: item.context,
                    format: item.format,
                    eventType: item.eventType
                )
            )
        }
        return keys
    }

    /// The rows answered, as a shard.
    /// - Throws: ``Unreadable`` when the answer has no rows or refers to what it does not hold.
    func shard() throws(Unreadable) -> HistoryShard {
        guard let rows else { throw Unreadable(description: "the answer holds no rows") }
        let keys = try keys()
        var shard = HistoryShard(rows: [], through: through)
        shard.rows.reserveCapacity(rows.count)
        for row in rows {
            guard keys.indices.contains(row.series) else {
                throw Unreadable(description: "a row names series \(row.series) of \(keys.count)")
            }
            shard.rows.append(
                EventRow(
                    series: keys[row.series],
                    timestamp: row.timestamp,
                    value: try Self.value(row.value),
                    transactionID: row.transactionID
                )
            )
        }
        return shard
    }

    /// The buckets answered, or how many there would have been.
    /// - Throws: ``Unreadable`` when the answer has no buckets or refers to what it does not hold.
    func bucketAnswer() throws(Unreadable) -> Result<[AggregateBucket], ClusterHistoryRequest.TooManyBuckets> {
        if let tooManyBuckets { return .failure(.init(count: tooManyBuckets)) }
        guard let buckets else { throw Unreadable(description: "the answer holds no buckets") }
        let keys = try keys()
        var answer: [AggregateBucket] = []
        answer.reserveCapacity(buckets.count)
        for bucket in buckets {
            let numbers = bucket.values.compactMap { Double($0) }
            guard keys.indices.contains(bucket.series), numbers.count == 5, bucket.count > 0 else {
                throw Unreadable(description: "a bucket is malformed")
            }
            answer.append(
                AggregateBucket(
                    series: keys[bucket.series],
                    start: bucket.start,
                    count: bucket.count,
                    sum: numbers[0],
                    minimum: numbers[1],
                    maximum: numbers[2],
                    first: numbers[3],
                    last: numbers[4],
                    firstTimestamp: bucket.firstTimestamp,
                    lastTimestamp: bucket.lastTimestamp
                )
            )
        }
        return .success(answer)
    }

    private static func value(_ value: Value) throws(Unreadable) -> EventValue {
        if let text = value.n {
            guard let number = Double(text) else { throw Unreadable(description: "\(text) is not a number") }
            return value.w.map { .numberWithText(number, $0) } ?? .number(number)
        }
        if let text = value.t { return .text(text) }
        if let text = value.j { return .payload(text) }
        if let fields = value.s, fields.count == 5, let status = fields[0], let errorCode = fields[1] {
            return .status(
                StatusEvent(
                    status: status,
                    errorCode: errorCode,
                    info: fields[2],
                    vendorID: fields[3],
                    vendorErrorCode: fields[4]
                )
            )
        }
        throw Unreadable(description: "a value is malformed")
    }
}
