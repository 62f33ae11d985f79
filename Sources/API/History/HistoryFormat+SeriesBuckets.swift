import NIOCore
import TimeSeries

/// What a bucketed answer is written by: buckets come series by series, each series' in time
/// order, and the writer's buffer is the response's body.
protocol BucketsWriter {
    mutating func add(_ bucket: AggregateBucket)
    /// Ends the answer: its bytes.
    /// - Parameter incompleteNodes: In a cluster, the nodes that could not answer.
    mutating func finish(incompleteNodes: [String]?) -> ByteBuffer
}

extension HistoryFormat.BucketsJSON: BucketsWriter {}

extension HistoryFormat {
    /// How a bucketed JSON answer is laid out (`layout=`).
    enum BucketLayout: String, CaseIterable {
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
        init(aggregate: String, transactionID: Int?, width: Int64, capacity: Int) {
            precondition(width > 0, "bucket width must be positive")
            pick = Aggregate(aggregate)
            var transaction: [UInt8] = []
            if let transactionID {
                HistoryFormat.appendInteger(Int64(transactionID), to: &transaction)
            } else {
                HistoryFormat.append("null", to: &transaction)
            }
            self.transaction = transaction
            self.width = width
            output = ByteBufferAllocator().buffer(capacity: capacity)
            var head: [UInt8] = []
            HistoryFormat.append(#"{"bucket_ms":"#, to: &head)
            HistoryFormat.appendInteger(width, to: &head)
            HistoryFormat.append(#","series":["#, to: &head)
            output.writeBytes(head)
        }

        mutating func add(_ bucket: AggregateBucket) {
            if lastSeries != bucket.series || bucket.start < next {
                open(bucket)
            } else {
                // Buckets without samples between the last one and this.
                while next < bucket.start {
                    output.writeStaticString(",null")
                    counts.append(contentsOf: [UInt8(ascii: ","), UInt8(ascii: "0")])
                    next += width
                }
                output.writeInteger(UInt8(ascii: ","))
                counts.append(UInt8(ascii: ","))
            }
            let value = pick.value(of: bucket)
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: 32) { raw in
                var writer = ByteWriter(raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
                writer.number(value)
                return writer.count
            }
            HistoryFormat.appendInteger(Int64(bucket.count), to: &counts)
            next = bucket.start + width
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
            output.writeStaticString(#"],"next_cursor":null"#)
            var tail: [UInt8] = []
            appendIncompleteNodes(incompleteNodes, to: &tail)
            tail.append(UInt8(ascii: "}"))
            output.writeBytes(tail)
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
