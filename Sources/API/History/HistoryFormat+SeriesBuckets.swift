import NIOCore
import TimeSeries

/// What a bucketed answer is written by: buckets come series by series, each series' in time
/// order, and the writer's buffer is the response's body.
protocol BucketsWriter {
    mutating func add(_ bucket: AggregateBucket)
    /// Ends the answer: its bytes.
    /// - Parameter incompleteNodes: In a cluster, the nodes that could not answer.
    mutating func finish(incompleteNodes: [String]?) -> ByteBuffer
    /// Whether no bucket was added.
    var isEmpty: Bool { get }
    /// The items written so far as a part of the answer's array, without its end (and, for a
    /// writer made without its head, without its opening): parts are joined with a comma
    /// between non-empty ones, then ``HistoryFormat/endBuckets(_:incompleteNodes:)``.
    mutating func fragment() -> ByteBuffer
}

extension HistoryFormat.BucketsJSON: BucketsWriter {}

extension HistoryFormat {
    /// How a bucketed JSON answer is laid out (`layout=`).
    enum BucketLayout: String, CaseIterable, Sendable {
        /// One item per bucket, each naming its series (the default).
        case rows
        /// One item per series, its buckets as arrays of values and counts.
        case series
    }

    /// Writes a bucketed answer laid out by series:
    /// `{"bucket_ms":W,"series":[{series fields,"start":"...","values":[...],"counts":[...]}],
    /// "next_cursor":null}`. A series' arrays run from its first bucket (`start`) to its last,
    /// one entry per bucket width: a bucket without samples is `null` in `values` and 0 in
    /// `counts`. A month of a charger's series by the hour is about 15,000 buckets: about
    /// 0.2 MB this way against 3 MB as rows, each naming its series and start.
    struct SeriesBucketsJSON: BucketsWriter {
        private let pick: Aggregate
        private let transaction: [UInt8]
        private let width: Int64
        private var series = SeriesText(json: true)
        private var lastSeries: SeriesKey?
        /// The start of the bucket after the last one written.
        private var next: Int64 = 0
        /// The series' counts so far, written after its values.
        private var counts: [UInt8] = []
        private var output: ByteBuffer
        private var seriesWritten = 0

        /// - Parameters:
        ///   - width: The bucket width in milliseconds: every bucket's start is a multiple of it.
        ///   - transactionID: The session the buckets are of, when the query named one.
        ///   - capacity: The buffer's room (it grows if the answer needs more).
        ///   - head: Whether to start with the answer's opening (`{"bucket_ms":W,"series":[`),
        ///     as ``BucketsJSON/init(aggregate:transactionID:capacity:head:)``.
        init(aggregate: String, transactionID: Int?, width: Int64, capacity: Int, head: Bool = true) {
            precondition(width > 0, "bucket width must be positive")
            pick = Aggregate(aggregate)
            transaction = HistoryFormat.transactionText(transactionID)
            self.width = width
            output = ByteBufferAllocator().buffer(capacity: capacity)
            guard head else { return }
            var opening: [UInt8] = []
            HistoryFormat.append(#"{"bucket_ms":"#, to: &opening)
            HistoryFormat.appendInteger(width, to: &opening)
            HistoryFormat.append(#","series":["#, to: &opening)
            output.writeBytes(opening)
        }

        var isEmpty: Bool { seriesWritten == 0 }

        mutating func fragment() -> ByteBuffer {
            close()
            return output
        }

        mutating func add(_ bucket: AggregateBucket) {
            var gaps = 0
            let first: Bool
            if lastSeries != bucket.series || bucket.start < next {
                open(bucket)
                first = true
            } else {
                // Buckets without samples between the last one and this.
                gaps = Int((bucket.start - next) / width)
                first = false
            }
            while gaps > 64 {
                writeGaps(64)
                gaps -= 64
            }
            let value = pick.value(of: bucket)
            // The gaps (5 bytes each), a comma and the value (at most 24 bytes).
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: gaps * 5 + 32) { raw in
                var writer = ByteWriter(raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
                for _ in 0..<gaps { writer.literal(",null") }
                if !first { writer.byte(UInt8(ascii: ",")) }
                writer.number(value)
                return writer.count
            }
            let count = Int64(bucket.count)
            HistoryFormat.write(to: &counts, capacity: gaps * 2 + 24) { writer in
                for _ in 0..<gaps { writer.literal(",0") }
                if !first { writer.byte(UInt8(ascii: ",")) }
                writer.integer(count)
                return true
            }
            next = bucket.start + width
        }

        /// `count` buckets without samples, after at least one with.
        private mutating func writeGaps(_ count: Int) {
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: count * 5) { raw in
                var writer = ByteWriter(raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
                for _ in 0..<count { writer.literal(",null") }
                return writer.count
            }
            HistoryFormat.write(to: &counts, capacity: count * 2) { writer in
                for _ in 0..<count { writer.literal(",0") }
                return true
            }
            next += Int64(count) * width
        }

        /// Ends the last series and starts `bucket`'s.
        private mutating func open(_ bucket: AggregateBucket) {
            close()
            let parts = series.parts(bucket.series)
            var text: [UInt8] = seriesWritten == 0 ? [] : [UInt8(ascii: ",")]
            text.append(UInt8(ascii: "{"))
            // The series' text starts with the comma that follows a row's timestamp.
            text.append(contentsOf: parts.head.dropFirst())
            text.append(contentsOf: transaction)
            text.append(contentsOf: parts.tail)
            HistoryFormat.append(#","start":""#, to: &text)
            var start = TimestampText()
            start.append(bucket.start, to: &text)
            HistoryFormat.append(#"","values":["#, to: &text)
            output.writeBytes(text)
            lastSeries = bucket.series
            seriesWritten += 1
        }

        /// Ends the series being written, if any.
        private mutating func close() {
            guard lastSeries != nil else { return }
            output.writeStaticString(#"],"counts":["#)
            output.writeBytes(counts)
            output.writeStaticString("]}")
            counts.removeAll(keepingCapacity: true)
            lastSeries = nil
        }

        mutating func finish(incompleteNodes: [String]? = nil) -> ByteBuffer {
            close()
            HistoryFormat.endBuckets(&output, incompleteNodes: incompleteNodes)
            return output
        }
    }

    /// All of `buckets` written by a writer of `layout`, in one buffer.
    static func aggregateJSON(
        _ buckets: [AggregateBucket],
        layout: BucketLayout,
        aggregate: String,
        width: Int64,
        transactionID: Int? = nil,
        incompleteNodes: [String]? = nil
    ) -> ByteBuffer {
        switch layout {
        case .rows:
            return aggregateJSON(
                buckets,
                aggregate: aggregate,
                transactionID: transactionID,
                incompleteNodes: incompleteNodes
            )
        case .series:
            var json = SeriesBucketsJSON(
                aggregate: aggregate,
                transactionID: transactionID,
                width: width,
                capacity: 64 + buckets.count * 24
            )
            for bucket in buckets { json.add(bucket) }
            return json.finish(incompleteNodes: incompleteNodes)
        }
    }
}
