import Hummingbird
import NIOCore
import TimeSeries

/// Bucketed meter history as JSON: the buckets are read and written on NIO's blocking thread
/// pool, each handed from the store to the layout's writer (``HistoryFormat/BucketsJSON`` or
/// ``HistoryFormat/SeriesBucketsJSON``) as the store finishes it, into a buffer sized for the
/// answer from the start. A large answer is read in parts by series, one task per core, all
/// from one snapshot of the store, and the parts' buffers are the body one after the other.
extension MeterHistory {
    /// Buckets a part of an answer holds at least: below this, a second task costs more than
    /// it saves (a charger's month by the hour is 14,400, read as two parts).
    static let bucketsPerPart = 2_048

    /// The parts an answer of `count` buckets is read in on a machine of `cores` cores.
    static func partCount(buckets count: Int, cores: Int = System.coreCount) -> Int {
        max(1, min(cores, 8, count / bucketsPerPart))
    }

    /// The answer, or a 422 when it would hold more than ``maximumBuckets`` buckets.
    static func bucketsJSON(
        _ query: EventQuery,
        bucket: Int64,
        aggregate: String,
        layout: HistoryFormat.BucketLayout = .rows,
        timeSeries: TimeSeriesStore
    ) async throws -> Response {
        let body = try await bucketsBody(
            query,
            bucket: bucket,
            aggregate: aggregate,
            layout: layout,
            timeSeries: timeSeries
        )
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(contentsOf: body))
    }

    /// The answer's bytes, in the buffers of its parts.
    /// - Parameter parts: The parts to read it in (default: ``partCount(buckets:cores:)``).
    static func bucketsBody(
        _ query: EventQuery,
        bucket: Int64,
        aggregate: String,
        layout: HistoryFormat.BucketLayout,
        timeSeries: TimeSeriesStore,
        parts wantedParts: Int? = nil
    ) async throws -> [ByteBuffer] {
        let writing = BucketsFragment(
            aggregate: aggregate,
            transactionID: query.transactionID,
            width: bucket,
            layout: layout
        )
        // The count check and the parts; an answer of one part is read in the same task.
        let planned = try await offloaded { () throws -> Result<BucketsPlan, Invalid> in
            do {
                let count = try checkBucketCount(query, bucket: bucket, timeSeries: timeSeries)
                let parts = timeSeries.aggregateParts(
                    query,
                    bucketMilliseconds: bucket,
                    parts: wantedParts ?? partCount(buckets: count)
                )
                var plan = BucketsPlan(count: count, parts: parts)
                if parts.count == 1 { plan.first = try writing.read(plan, 0, timeSeries) }
                return .success(plan)
            } catch let invalid as Invalid {
                return .failure(invalid)
            }
        }
        let plan: BucketsPlan
        switch planned {
        case .failure(let invalid): throw invalid.answer
        case .success(let success): plan = success
        }
        var fragments: [(buffer: ByteBuffer, isEmpty: Bool)]
        if let first = plan.first {
            fragments = [first]
        } else {
            fragments = try await withThrowingTaskGroup(of: (Int, ByteBuffer, Bool).self) { group in
                for index in plan.parts.indices.dropFirst() {
                    group.addTask {
                        let (buffer, isEmpty) = try await offloaded { try writing.read(plan, index, timeSeries) }
                        return (index, buffer, isEmpty)
                    }
                }
                let first = try await offloaded { try writing.read(plan, 0, timeSeries) }
                var fragments = [(buffer: ByteBuffer, isEmpty: Bool)](repeating: first, count: plan.parts.count)
                for try await (index, buffer, isEmpty) in group { fragments[index] = (buffer, isEmpty) }
                return fragments
            }
        }
        var body: [ByteBuffer] = [fragments[0].buffer]
        var written = !fragments[0].isEmpty
        for fragment in fragments.dropFirst() where !fragment.isEmpty {
            if written { body.append(ByteBuffer(string: ",")) }
            body.append(fragment.buffer)
            written = true
        }
        var end = ByteBuffer()
        HistoryFormat.endBuckets(&end, incompleteNodes: nil)
        body.append(end)
        return body
    }

    /// A bucketed answer's parts (by series, from one snapshot) and its bucket count.
    struct BucketsPlan: Sendable {
        var count: Int
        var parts: [TimeSeriesStore.AggregatePart]
        /// The only part's bytes, when there is one part.
        var first: (buffer: ByteBuffer, isEmpty: Bool)?
    }

    /// How a part of a bucketed answer is read and written.
    struct BucketsFragment: Sendable {
        var aggregate: String
        var transactionID: Int?
        var width: Int64
        var layout: HistoryFormat.BucketLayout

        /// Part `index` of `plan` as a fragment of the answer (the first with its opening),
        /// and whether it holds no bucket.
        func read(
            _ plan: BucketsPlan,
            _ index: Int,
            _ timeSeries: TimeSeriesStore
        ) throws -> (
            buffer: ByteBuffer, isEmpty: Bool
        ) {
            let part = plan.parts[index]
            let series = max(1, plan.parts.reduce(0) { $0 + $1.seriesCount })
            // The part's share of the answer's room.
            let share = plan.count * part.seriesCount / series
            func write<Writer: BucketsWriter>(_ json: inout Writer) throws -> (buffer: ByteBuffer, isEmpty: Bool) {
                try timeSeries.aggregate(part) { json.add($0) }
                return (json.fragment(), json.isEmpty)
            }
            switch layout {
            case .rows:
                var json = HistoryFormat.BucketsJSON(
                    aggregate: aggregate,
                    transactionID: transactionID,
                    capacity: 64 + share * 240,
                    head: index == 0
                )
                return try write(&json)
            case .series:
                var json = HistoryFormat.SeriesBucketsJSON(
                    aggregate: aggregate,
                    transactionID: transactionID,
                    width: width,
                    capacity: 64 + share * 24,
                    head: index == 0
                )
                return try write(&json)
            }
        }
    }

    /// The buckets the answer may hold at most (the range's times the series'); throws
    /// ``Invalid`` when they are more than ``maximumBuckets``.
    @discardableResult
    static func checkBucketCount(_ query: EventQuery, bucket: Int64, timeSeries: TimeSeriesStore) throws -> Int {
        let count = timeSeries.extent(query)?.buckets(width: bucket) ?? 0
        guard count <= maximumBuckets else {
            throw Invalid(
                "bucket",
                "the answer would hold \(count) buckets, more than \(maximumBuckets): "
                    + "narrow from/to, widen the bucket or select measurands or phases"
            )
        }
        return count
    }
}
