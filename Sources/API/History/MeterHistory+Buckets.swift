import Hummingbird
import NIOCore
import TimeSeries

/// Bucketed meter history as JSON: the buckets are read and written in one task on NIO's
/// blocking thread pool, each handed from the store to the layout's writer
/// (``HistoryFormat/BucketsJSON`` or ``HistoryFormat/SeriesBucketsJSON``) as the store
/// finishes it, into one buffer sized for the answer from the start.
extension MeterHistory {
    /// The answer, or a 422 when it would hold more than ``maximumBuckets`` buckets.
    static func bucketsJSON(
        _ query: EventQuery,
        bucket: Int64,
        aggregate: String,
        layout: HistoryFormat.BucketLayout = .rows,
        timeSeries: TimeSeriesStore
    ) async throws -> Response {
        let read = try await offloaded { () throws -> Result<ByteBuffer, Invalid> in
            let count: Int
            do {
                count = try checkBucketCount(query, bucket: bucket, timeSeries: timeSeries)
            } catch let invalid as Invalid {
                return .failure(invalid)
            }
            func write<Writer: BucketsWriter>(_ json: inout Writer) throws -> ByteBuffer {
                try timeSeries.aggregate(query, bucketMilliseconds: bucket) { json.add($0) }
                return json.finish(incompleteNodes: nil)
            }
            switch layout {
            case .rows:
                var json = HistoryFormat.BucketsJSON(
                    aggregate: aggregate,
                    transactionID: query.transactionID,
                    capacity: 64 + count * 240
                )
                return .success(try write(&json))
            case .series:
                var json = HistoryFormat.SeriesBucketsJSON(
                    aggregate: aggregate,
                    transactionID: query.transactionID,
                    width: bucket,
                    capacity: 64 + count * 24
                )
                return .success(try write(&json))
            }
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
