import NIOCore
import TimeSeries

/// Bucketed history as JSON, written bucket by bucket straight into a `ByteBuffer`, from an
/// array of buckets (``HistoryFormat/aggregateJSON(_:aggregate:transactionID:incompleteNodes:)``)
/// or as the store hands them over (``MeterHistory/bucketsBody(_:bucket:aggregate:layout:timeSeries:parts:)``).
extension HistoryFormat {
    /// A bucket's `transaction_id`: the query's session, or null.
    static func transactionText(_ transactionID: Int?) -> [UInt8] {
        var text: [UInt8] = []
        if let transactionID {
            appendInteger(Int64(transactionID), to: &text)
        } else {
            append("null", to: &text)
        }
        return text
    }

    /// Writes `{"items":[...],"next_cursor":null}` one bucket at a time.
    ///
    /// A month of a charger's series by the hour is about 15,000 buckets and 3 MB: each is
    /// written through a pointer into the buffer, with room for it reserved once, and a buffer
    /// is a response's body as it is, without a copy.
    struct BucketsJSON {
        private let pick: Aggregate
        private let transaction: [UInt8]
        private var series = SeriesText(json: true)
        /// The last bucket's series and its text from `,"connector_id"` to `"format":...`
        /// with the transaction between: buckets come series by series.
        private var lastSeries: SeriesKey?
        private var seriesText: [UInt8] = []
        private var timestamps = TimestampText()
        private var output: ByteBuffer
        private var written = 0

        /// - Parameters:
        ///   - transactionID: The session the buckets are of, when the query named one (a
        ///     series spans sessions: otherwise a bucket's `transaction_id` is null).
        ///   - capacity: The buffer's room (it grows if the answer needs more).
        ///   - head: Whether to start with the answer's opening (`{"items":[`): without it,
        ///     the writer writes a fragment of the items (``fragment()``) for a part of the
        ///     series read on its own thread.
        init(aggregate: String, transactionID: Int?, capacity: Int, head: Bool = true) {
            pick = Aggregate(aggregate)
            transaction = HistoryFormat.transactionText(transactionID)
            output = ByteBufferAllocator().buffer(capacity: capacity)
            if head { output.writeStaticString(#"{"items":["#) }
        }

        var isEmpty: Bool { written == 0 }

        mutating func fragment() -> ByteBuffer { output }

        mutating func add(_ bucket: AggregateBucket) {
            if lastSeries != bucket.series {
                let parts = series.parts(bucket.series)
                seriesText = parts.head + transaction + parts.tail
                lastSeries = bucket.series
            }
            let value = pick.value(of: bucket)
            let first = written == 0
            written += 1
            // Locals, so that the closure below touches nothing of `self`, whose buffer it writes.
            let text = seriesText
            var timestamps = self.timestamps
            // Beside the series' text: the punctuation and keys (38 bytes), the timestamp (24,
            // a few more past the year 9999), the value (at most 24 as text) and the count (at
            // most 20): 128 leaves room.
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: text.count + 128) { raw in
                var writer = ByteWriter(raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
                if !first { writer.byte(UInt8(ascii: ",")) }
                writer.literal(#"{"bucket_start":""#)
                timestamps.write(bucket.start, to: &writer)
                writer.byte(UInt8(ascii: "\""))
                writer.bytes(text)
                writer.literal(#","value":"#)
                writer.number(value)
                writer.literal(#","count":"#)
                writer.integer(Int64(bucket.count))
                writer.byte(UInt8(ascii: "}"))
                return writer.count
            }
            self.timestamps = timestamps
        }

        /// Ends the answer: its bytes.
        /// - Parameter incompleteNodes: In a cluster, the nodes that could not answer.
        mutating func finish(incompleteNodes: [String]? = nil) -> ByteBuffer {
            HistoryFormat.endBuckets(&output, incompleteNodes: incompleteNodes)
            return output
        }
    }

    /// Closes a bucketed answer's array: `],"next_cursor":null`, `incomplete_nodes` in a
    /// cluster, and `}`.
    static func endBuckets(_ output: inout ByteBuffer, incompleteNodes: [String]?) {
        output.writeStaticString(#"],"next_cursor":null"#)
        var tail: [UInt8] = []
        appendIncompleteNodes(incompleteNodes, to: &tail)
        tail.append(UInt8(ascii: "}"))
        output.writeBytes(tail)
    }
}
