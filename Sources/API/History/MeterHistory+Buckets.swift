import Hummingbird
import Logging
import NIOCore
import TimeSeries

/// Bucketed meter history as JSON, streamed: the buckets are read and written on NIO's
/// blocking thread pool in chunks, and each chunk is sent while the next is being made, so
/// the socket writes of a large answer (a charger's month by the hour: 3.3 MB) overlap the
/// reading and writing instead of following them.
extension MeterHistory {
    /// About this many bytes of JSON per chunk sent: a month of a charger by the hour is 4
    /// chunks. Each chunk costs hand-overs between threads (the reading one, the response's
    /// task, the event loop); in 128 KB chunks those cost more CPU than the overlap saved.
    static let bucketChunkBytes = 1024 * 1024

    /// The answer's chunks in order. The handler waits for the first of them: an answer of
    /// more than ``maximumBuckets`` buckets (422) and a read that fails before its first chunk
    /// are error responses like any other; a read that fails later cuts the connection, the
    /// answer unfinished (its JSON does not parse).
    static func streamedBucketsJSON(
        _ query: EventQuery,
        bucket: Int64,
        aggregate: String,
        timeSeries: TimeSeriesStore,
        logger: Logger
    ) async throws -> Response {
        let (chunks, continuation) = AsyncThrowingStream.makeStream(of: ByteBuffer.self)
        let read = Task {
            do {
                try await offloaded {
                    try checkBucketCount(query, bucket: bucket, timeSeries: timeSeries)
                    var json = HistoryFormat.BucketsJSON(
                        aggregate: aggregate,
                        transactionID: query.transactionID,
                        capacity: bucketChunkBytes + 64 * 1024
                    )
                    try timeSeries.aggregate(query, bucketMilliseconds: bucket) { finished in
                        json.add(finished)
                        guard json.pendingBytes >= bucketChunkBytes else { return }
                        // Nobody reads any more (the client went away): stop reading.
                        guard case .enqueued = continuation.yield(json.takeChunk()) else {
                            throw CancellationError()
                        }
                    }
                    continuation.yield(json.finish())
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        let remaining = ChunkIterator(chunks.makeAsyncIterator())
        let first: ByteBuffer?
        do {
            first = try await remaining.next()
        } catch let invalid as Invalid {
            throw APIError.invalid(
                location: ["query", invalid.parameter],
                message: invalid.message,
                type: "value_error"
            )
        } catch {
            await read.value
            throw error
        }
        return Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: ResponseBody { writer in
                do {
                    if let first { try await writer.write(first) }
                    while let chunk = try await remaining.next() { try await writer.write(chunk) }
                } catch {
                    continuation.finish()
                    logger.error("bucketed meter history cut short: \(error)")
                    throw error
                }
                try await writer.finish(nil)
            }
        )
    }

    /// Throws ``Invalid`` when the answer would hold more than ``maximumBuckets`` buckets.
    static func checkBucketCount(_ query: EventQuery, bucket: Int64, timeSeries: TimeSeriesStore) throws {
        let count = timeSeries.extent(query)?.buckets(width: bucket) ?? 0
        guard count <= maximumBuckets else {
            throw Invalid(
                "bucket",
                "the answer would hold \(count) buckets, more than \(maximumBuckets): "
                    + "narrow from/to, widen the bucket or select measurands or phases"
            )
        }
    }

    /// The chunks' iterator, handed from the handler (which takes the first chunk) to the
    /// response body (which takes the rest): one task at a time uses it, one after the other.
    private final class ChunkIterator: @unchecked Sendable {
        private var iterator: AsyncThrowingStream<ByteBuffer, any Error>.Iterator

        init(_ iterator: AsyncThrowingStream<ByteBuffer, any Error>.Iterator) { self.iterator = iterator }

        func next() async throws -> ByteBuffer? { try await iterator.next() }
    }
}
