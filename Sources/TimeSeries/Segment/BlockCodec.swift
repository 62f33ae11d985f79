/// One block of a segment: a few thousand rows sorted by (series, timestamp, transaction), stored as
/// separately compressed columns so that a reader decodes only what it needs.
///
/// Columns, each encoded then LZ4-compressed:
/// - series ids: runs of (id, count), since rows are grouped by series;
/// - timestamps: delta-of-delta, zigzag varints (regular sampling makes them ~1 byte);
/// - kinds: runs of (kind, count), and (format version 4 on) runs whose kinds the numbers
///   tell (`BlockCodec+Kinds.swift`);
/// - numbers, per series run: scaled integers (the smallest power of ten that makes every
///   value of the run an exact integer, up to 10^9) as the smallest of zigzag varint deltas,
///   deltas of deltas, varint offsets from the minimum, (format version 3 on) offsets
///   bit-packed in as many bits as the largest needs or (format version 4 on) miniblocks of
///   32 values bit-packed each in its own width; otherwise the XOR of each value's bits with
///   the previous one's (`BlockCodec+Numbers.swift`);
/// - texts: the text bytes of the rows that have text, in row order;
/// - transactions (format version 2 on): runs of (transaction as ``TransactionCode`` writes
///   it, count), since a
///   session's rows follow each other;
/// - summaries (format version 3 on): per series, the pre-aggregates of its numeric rows in
///   each aligned slot of ``summarySlotMilliseconds`` (``SlotSummary``), so that an aggregate
///   in buckets of whole slots reads these instead of the samples.
enum BlockCodec {
    /// The columns of a block, by the segment's format version (1: no transactions, 2: no
    /// summaries).
    static func columnCount(version: UInt32) -> Int {
        switch version {
        case ...1: 5
        case 2: 6
        default: 7
        }
    }

    /// The columns' names, in their order in a block.
    static let columnNames = ["series ids", "timestamps", "kinds", "numbers", "texts", "transactions", "summaries"]

    struct Columns {
        var seriesIDs: [UInt32] = []
        var timestamps: [Int64] = []
        var kinds: [UInt8] = []
        var numbers: [Double] = []
        var texts: [[UInt8]?] = []
        /// Empty when not selected (or a legacy block).
        var transactions: [Int?] = []

        /// The transaction of row `row` (`nil` when the column was not decoded).
        @inline(__always)
        func transaction(_ row: Int) -> Int? { transactions.isEmpty ? nil : transactions[row] }
    }

    /// Which columns a read needs.
    struct Selection: OptionSet {
        let rawValue: UInt8
        static let kinds = Selection(rawValue: 1)
        static let numbers = Selection(rawValue: 2)
        static let texts = Selection(rawValue: 4)
        static let transactions = Selection(rawValue: 8)
        static let all: Selection = [.kinds, .numbers, .texts, .transactions]
    }

    /// - Parameter version: The segment's format version: 2 leaves the summaries out.
    static func encode(_ rows: ArraySlice<StoredRow>, version: UInt32 = Segment.formatVersion) -> [UInt8] {
        var series = ByteWriter(capacity: 64)
        var runID = rows.first?.seriesID ?? 0
        var runLength: UInt64 = 0
        for row in rows {
            if row.seriesID != runID {
                series.writeVarint(UInt64(runID))
                series.writeVarint(runLength)
                runID = row.seriesID
                runLength = 0
            }
            runLength += 1
        }
        if runLength > 0 {
            series.writeVarint(UInt64(runID))
            series.writeVarint(runLength)
        }

        var times = ByteWriter(capacity: rows.count * 2)
        var previous: Int64 = 0
        var previousDelta: Int64 = 0
        for row in rows {
            let delta = row.timestamp &- previous
            times.writeSignedVarint(delta &- previousDelta)
            previousDelta = delta
            previous = row.timestamp
        }

        var kinds: [UInt8] = []
        kinds.reserveCapacity(rows.count)
        var texts = ByteWriter()
        var numbers: [Double] = []
        numbers.reserveCapacity(rows.count)
        for row in rows {
            let (kind, number, text) = ValueCodec.parts(of: row.value)
            kinds.append(kind)
            numbers.append(number)
            if let text { texts.writeBytes(text) }
        }

        var transactions = ByteWriter(capacity: 16)
        var transactionRun: (transaction: Int?, count: UInt64)? = nil
        for row in rows {
            if let run = transactionRun, run.transaction == row.transactionID {
                transactionRun = (run.transaction, run.count + 1)
            } else {
                if let run = transactionRun {
                    TransactionCode.write(run.transaction, to: &transactions)
                    transactions.writeVarint(run.count)
                }
                transactionRun = (row.transactionID, 1)
            }
        }
        if let run = transactionRun {
            TransactionCode.write(run.transaction, to: &transactions)
            transactions.writeVarint(run.count)
        }

        var block = ByteWriter(capacity: rows.count * 4)
        block.writeVarint(UInt64(rows.count))
        let runs = seriesRuns(rows.map(\.seriesID))
        let columns = [
            series.bytes, times.bytes, encodeKinds(kinds, numbers: numbers, runs: runs, version: version),
            encodeNumbers(numbers, runs: runs, version: version),
            texts.bytes, transactions.bytes,
            version >= 3 ? encodeSummaries(rows, runs: runs) : [],
        ]
        for column in columns.prefix(columnCount(version: version)) {
            let compressed = LZ4.compress(column)
            block.writeVarint(UInt64(column.count))
            block.writeVarint(UInt64(compressed.count))
            block.bytes.append(contentsOf: compressed)
        }
        return block.bytes
    }

    /// A block's row count and its columns, still compressed, with their sizes.
    static func columnSlices(
        _ block: UnsafeRawBufferPointer,
        version: UInt32
    ) throws -> (count: Int, columns: [(size: Int, compressed: UnsafeRawBufferPointer)]) {
        var reader = ByteReader(block)
        let count = Int(try reader.readVarint())
        guard count <= block.count * 64 else { throw ByteReader.Truncated() }
        var raw: [(size: Int, compressed: UnsafeRawBufferPointer)] = []
        for _ in 0..<columnCount(version: version) {
            let size = Int(try reader.readVarint())
            let compressedSize = Int(try reader.readVarint())
            guard compressedSize <= reader.remaining else { throw ByteReader.Truncated() }
            raw.append(
                (size, UnsafeRawBufferPointer(rebasing: block[reader.position..<reader.position + compressedSize]))
            )
            reader.position += compressedSize
        }
        return (count, raw)
    }

    static func decompress(_ column: (size: Int, compressed: UnsafeRawBufferPointer)) throws -> [UInt8] {
        do {
            return try LZ4.decompress(column.compressed, originalSize: column.size)
        } catch {
            throw ByteReader.Truncated()
        }
    }

    /// Decodes the series and timestamp columns always, the others as `selection` asks.
    /// - Parameter version: The segment's format version.
    static func decode(
        _ block: UnsafeRawBufferPointer,
        selection: Selection,
        version: UInt32 = Segment.formatVersion
    ) throws -> Columns {
        let (count, raw) = try columnSlices(block, version: version)
        var columns = Columns()
        func column(_ index: Int) throws -> [UInt8] { try decompress(raw[index]) }

        let series = try column(0)
        try series.withUnsafeBytes { bytes throws in
            var reader = ByteReader(bytes)
            columns.seriesIDs.reserveCapacity(count)
            while !reader.isAtEnd {
                let id = UInt32(truncatingIfNeeded: try reader.readVarint())
                let run = Int(try reader.readVarint())
                guard columns.seriesIDs.count + run <= count else { throw ByteReader.Truncated() }
                columns.seriesIDs.append(contentsOf: repeatElement(id, count: run))
            }
        }
        let times = try column(1)
        try times.withUnsafeBytes { bytes throws in
            var reader = ByteReader(bytes)
            columns.timestamps.reserveCapacity(count)
            var previous: Int64 = 0
            var delta: Int64 = 0
            for _ in 0..<count {
                delta = delta &+ (try reader.readSignedVarint())
                previous = previous &+ delta
                columns.timestamps.append(previous)
            }
        }
        guard columns.seriesIDs.count == count else { throw ByteReader.Truncated() }
        if !selection.subtracting(.transactions).isEmpty {
            let kinds = try column(2)
            try kinds.withUnsafeBytes { bytes throws in
                var reader = ByteReader(bytes)
                columns.kinds.reserveCapacity(count)
                while !reader.isAtEnd {
                    let kind = try reader.readByte()
                    let run = Int(try reader.readVarint())
                    guard columns.kinds.count + run <= count else { throw ByteReader.Truncated() }
                    columns.kinds.append(contentsOf: repeatElement(kind, count: run))
                }
            }
            guard columns.kinds.count == count else { throw ByteReader.Truncated() }
        }
        // Predicted kinds (format version 4 on) are told by the numbers.
        let predicted = version >= 4 && hasPredictedKinds(columns.kinds)
        if selection.contains(.numbers) || predicted {
            let numbers = try column(3)
            let runs = seriesRuns(columns.seriesIDs)
            columns.numbers = try numbers.withUnsafeBytes { bytes in try decodeNumbers(bytes, runs: runs) }
        }
        if predicted { try resolvePredictedKinds(&columns.kinds, numbers: columns.numbers) }
        if selection.contains(.texts) {
            let texts = try column(4)
            try texts.withUnsafeBytes { bytes throws in
                var reader = ByteReader(bytes)
                columns.texts.reserveCapacity(count)
                for kind in columns.kinds {
                    if ValueCodec.hasText(kind) {
                        columns.texts.append(Array(try reader.readBytes()))
                    } else {
                        columns.texts.append(nil)
                    }
                }
            }
        }
        if selection.contains(.transactions), version >= 2 {
            let transactions = try column(5)
            try transactions.withUnsafeBytes { bytes throws in
                var reader = ByteReader(bytes)
                columns.transactions.reserveCapacity(count)
                while !reader.isAtEnd {
                    let transaction = try TransactionCode.read(from: &reader)
                    let run = Int(try reader.readVarint())
                    guard columns.transactions.count + run <= count else { throw ByteReader.Truncated() }
                    columns.transactions.append(contentsOf: repeatElement(transaction, count: run))
                }
            }
            guard columns.transactions.count == count else { throw ByteReader.Truncated() }
        }
        return columns
    }
}
