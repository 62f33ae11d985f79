import Hummingbird
import NIOCore
import TimeSeries

/// Bucketed meter history as JSON: the buckets are read and written in one task on NIO's
/// blocking thread pool, each handed from the store to ``HistoryFormat/BucketsJSON`` as the
/// store finishes it, into one buffer sized for the answer from the start.
extension MeterHistory {
    /// The answer, or a 422 when it would hold more than ``maximumBuckets`` buckets.
    static func bucketsJSON(
        _ query: EventQuery,
        bucket: Int64,
        aggregate: String,
        timeSeries: TimeSeriesStore
    ) async throws -> Response {
        let read = try await offloaded { () throws -> Result<ByteBuffer, Invalid> in
            let count: Int
            do {
                count = try checkBucketCount(query, bucket: bucket, timeSeries: timeSeries)
            } catch let invalid as Invalid {
                return .failure(invalid)
            }
            var json = HistoryFormat.BucketsJSON(
                aggregate: aggregate,
                transactionID: query.transactionID,
                capacity: 64 + count * 240
            )
            try timeSeries.aggregate(query, bucketMilliseconds: bucket) { json.add($0) }
            return .success(json.finish())
        }
        switch read {
        case .failure(let invalid):
            throw invalid.answer
        case .success(let body):
            return APIJSONEncoder.response(body)
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
