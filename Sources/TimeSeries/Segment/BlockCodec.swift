/// One block of a segment: a few thousand rows sorted by (series, timestamp, transaction), stored as
/// separately compressed columns so that a reader decodes only what it needs.
///
/// Columns, each encoded then LZ4-compressed:
/// - series ids: runs of (id, count), since rows are grouped by series;
/// - timestamps: delta-of-delta, zigzag varints (regular sampling makes them ~1 byte);
/// - kinds: runs of (kind, count);
/// - numbers, per series run: scaled integers (the smallest power of ten that makes every
///   value of the run an exact integer, up to 10^9) as the smallest of zigzag varint deltas,
///   deltas of deltas, varint offsets from the minimum or (format version 3 on) offsets
///   bit-packed in as many bits as the largest needs; otherwise the XOR of each value's bits
///   with the previous one's;
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

        var kinds = ByteWriter(capacity: 8)
        var texts = ByteWriter()
        var numbers: [Double] = []
        numbers.reserveCapacity(rows.count)
        var kindRun: (kind: UInt8, count: UInt64)? = nil
        for row in rows {
            let (kind, number, text) = ValueCodec.parts(of: row.value)
            if let run = kindRun, run.kind == kind {
                kindRun = (kind, run.count + 1)
            } else {
                if let run = kindRun {
                    kinds.write(run.kind)
                    kinds.writeVarint(run.count)
                }
                kindRun = (kind, 1)
            }
            numbers.append(number)
            if let text { texts.writeBytes(text) }
        }
        if let run = kindRun {
            kinds.write(run.kind)
            kinds.writeVarint(run.count)
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
            series.bytes, times.bytes, kinds.bytes, encodeNumbers(numbers, runs: runs, packed: version >= 3),
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

    private static let powersOfTen: [Double] = (0...9).map { exponent in
        var value = 1.0
        for _ in 0..<exponent { value *= 10 }
        return value
    }

    /// Encodes each series run of the numbers column on its own: a series has one
    /// resolution (energy in whole Wh, voltage in tenths), so each run takes the smallest
    /// power of ten that makes its values exact integers (up to 10^9) and then the smaller
    /// of deltas (fluctuating values) and deltas of deltas (steadily rising registers); a run
    /// that no scale fits keeps the XOR of each value's bits with the previous one's.
    /// - Parameter packed: Whether bit-packed offsets may be chosen (format version 3 on).
    static func encodeNumbers(_ numbers: [Double], runs: [Range<Int>], packed: Bool = true) -> [UInt8] {
        var writer = ByteWriter(capacity: numbers.count * 2 + runs.count * 2)
        for run in runs {
            encodeRun(numbers[run], packed: packed, into: &writer)
        }
        return writer.bytes
    }

    /// The ranges of consecutive equal series ids.
    static func seriesRuns(_ seriesIDs: [UInt32]) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        var begin = 0
        for index in seriesIDs.indices.dropFirst() where seriesIDs[index] != seriesIDs[begin] {
            runs.append(begin..<index)
            begin = index
        }
        if !seriesIDs.isEmpty { runs.append(begin..<seriesIDs.count) }
        return runs
    }

    private static let modeXOR: UInt8 = 0
    private static let modeDelta: UInt8 = 1
    private static let modeDeltaOfDelta: UInt8 = 2
    private static let modeFrameOfReference: UInt8 = 3
    /// Format version 3 on: offsets from the minimum in as many bits as the largest needs.
    private static let modeFrameOfReferenceBits: UInt8 = 4

    /// The smallest power of ten (as its exponent, up to 9) that makes every number an exact
    /// integer, with those integers; `nil` when none does (or for a negative zero, which an
    /// integer cannot keep).
    static func scaledIntegers(_ numbers: some Collection<Double>) -> (scale: Int, integers: [Int64])? {
        scales: for scale in 0..<powersOfTen.count {
            let factor = powersOfTen[scale]
            var integers: [Int64] = []
            integers.reserveCapacity(numbers.count)
            for number in numbers {
                let scaled = (number * factor).rounded()
                guard abs(scaled) < 9.0e15, scaled / factor == number, number.sign == .plus || number != 0 else {
                    continue scales
                }
                integers.append(Int64(scaled))
            }
            return (scale, integers)
        }
        return nil
    }

    /// An integer of scale `scale` as the number it stands for (as the numbers column decodes it).
    @inline(__always)
    static func unscaled(_ integer: Int64, scale: Int) -> Double {
        scale == 0 ? Double(integer) : Double(integer) / powersOfTen[scale]
    }

    private static func encodeRun(_ numbers: ArraySlice<Double>, packed: Bool, into writer: inout ByteWriter) {
        if let (scale, integers) = scaledIntegers(numbers) {
            var deltaSize = 0
            var deltaOfDeltaSize = 0
            var previous: Int64 = 0
            var previousDelta: Int64 = 0
            var minimum = Int64.max
            var maximum = Int64.min
            for integer in integers {
                let delta = integer &- previous
                deltaSize += varintSize(delta)
                deltaOfDeltaSize += varintSize(delta &- previousDelta)
                previous = integer
                previousDelta = delta
                minimum = Swift.min(minimum, integer)
                maximum = Swift.max(maximum, integer)
            }
            // Frame of reference: offsets from the run's minimum, for values that hover around
            // a level (voltage, power) where deltas would double the spread.
            let (range, overflow) = maximum.subtractingReportingOverflow(minimum)
            let offsetSize =
                overflow ? Int.max : varintSize(minimum) + integers.count * unsignedVarintSize(UInt64(range))
            // The same offsets bit-packed: noise around a level (voltage, temperature) takes a
            // few bits a value, where a varint takes a byte or two.
            let bits = overflow ? 64 : 64 - UInt64(range).leadingZeroBitCount
            let packedSize =
                overflow || !packed ? Int.max : varintSize(minimum) + 1 + (integers.count * bits + 7) / 8
            if packedSize < offsetSize && packedSize < deltaSize && packedSize < deltaOfDeltaSize {
                writer.write(modeFrameOfReferenceBits)
                writer.write(UInt8(scale))
                writer.writeSignedVarint(minimum)
                writer.write(UInt8(bits))
                var buffer: UInt64 = 0
                var buffered = 0
                for integer in integers {
                    // At most 55 bits an offset (values below 9e15): the buffer never overflows.
                    buffer |= UInt64(integer &- minimum) << buffered
                    buffered += bits
                    while buffered >= 8 {
                        writer.write(UInt8(truncatingIfNeeded: buffer))
                        buffer >>= 8
                        buffered -= 8
                    }
                }
                if buffered > 0 { writer.write(UInt8(truncatingIfNeeded: buffer)) }
                return
            }
            if offsetSize < deltaSize && offsetSize < deltaOfDeltaSize {
                writer.write(modeFrameOfReference)
                writer.write(UInt8(scale))
                writer.writeSignedVarint(minimum)
                for integer in integers { writer.writeVarint(UInt64(integer &- minimum)) }
                return
            }
            let useDeltaOfDelta = deltaOfDeltaSize < deltaSize
            writer.write(useDeltaOfDelta ? modeDeltaOfDelta : modeDelta)
            writer.write(UInt8(scale))
            previous = 0
            previousDelta = 0
            for integer in integers {
                let delta = integer &- previous
                writer.writeSignedVarint(useDeltaOfDelta ? delta &- previousDelta : delta)
                previous = integer
                previousDelta = delta
            }
            return
        }
        writer.write(modeXOR)
        var previous: UInt64 = 0
        for number in numbers {
            writer.write(number.bitPattern ^ previous)
            previous = number.bitPattern
        }
    }

    /// Bytes of the unsigned varint of `value` (an upper bound for every offset up to it).
    @inline(__always)
    private static func unsignedVarintSize(_ value: UInt64) -> Int {
        value == 0 ? 1 : (64 - value.leadingZeroBitCount + 6) / 7
    }

    @inline(__always)
    private static func varintSize(_ value: Int64) -> Int {
        let zigzag = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        return zigzag == 0 ? 1 : (64 - zigzag.leadingZeroBitCount + 6) / 7
    }

    static func decodeNumbers(_ bytes: UnsafeRawBufferPointer, runs: [Range<Int>]) throws -> [Double] {
        var reader = ByteReader(bytes)
        var numbers: [Double] = []
        numbers.reserveCapacity(runs.last?.upperBound ?? 0)
        for run in runs { try decodeRun(&reader, count: run.count, into: &numbers) }
        return numbers
    }

    /// Decodes the next run of the numbers column, of `count` values, appending them to `numbers`.
    static func decodeRun(_ reader: inout ByteReader, count: Int, into numbers: inout [Double]) throws {
        let mode = try reader.readByte()
        if mode == modeXOR {
            var previous: UInt64 = 0
            for _ in 0..<count {
                previous ^= try reader.readUInt64()
                numbers.append(Double(bitPattern: previous))
            }
            return
        }
        let factor = try readScale(mode, &reader)
        let scaled = factor != 1
        if mode == modeFrameOfReferenceBits {
            let minimum = try reader.readSignedVarint()
            let bits = Int(try reader.readByte())
            guard bits <= 56, (count * bits + 7) / 8 <= reader.remaining else { throw ByteReader.Truncated() }
            let mask: UInt64 = bits == 0 ? 0 : UInt64.max >> (64 - bits)
            var buffer: UInt64 = 0
            var buffered = 0
            for _ in 0..<count {
                while buffered < bits {
                    buffer |= UInt64(try reader.readByte()) << buffered
                    buffered += 8
                }
                let integer = minimum &+ Int64(bitPattern: buffer & mask)
                buffer = bits == 64 ? 0 : buffer >> bits
                buffered -= bits
                numbers.append(scaled ? Double(integer) / factor : Double(integer))
            }
            return
        }
        if mode == modeFrameOfReference {
            let minimum = try reader.readSignedVarint()
            for _ in 0..<count {
                let integer = minimum &+ Int64(bitPattern: try reader.readVarint())
                numbers.append(scaled ? Double(integer) / factor : Double(integer))
            }
            return
        }
        var previous: Int64 = 0
        var delta: Int64 = 0
        for _ in 0..<count {
            let encoded = try reader.readSignedVarint()
            delta = mode == modeDelta ? encoded : delta &+ encoded
            previous = previous &+ delta
            numbers.append(scaled ? Double(previous) / factor : Double(previous))
        }
    }

    /// Steps over the next run of the numbers column, of `count` values, without decoding them.
    static func skipRun(_ reader: inout ByteReader, count: Int) throws {
        let mode = try reader.readByte()
        if mode == modeXOR {
            guard count <= reader.remaining / 8 else { throw ByteReader.Truncated() }
            reader.position += count * 8
            return
        }
        _ = try readScale(mode, &reader)
        if mode == modeFrameOfReferenceBits {
            _ = try reader.readSignedVarint()
            let bits = Int(try reader.readByte())
            guard bits <= 56, (count * bits + 7) / 8 <= reader.remaining else { throw ByteReader.Truncated() }
            reader.position += (count * bits + 7) / 8
            return
        }
        if mode == modeFrameOfReference { _ = try reader.readSignedVarint() }
        try reader.skipVarints(count)
    }

    /// The factor of a run's scale byte, after checking its mode byte.
    @inline(__always)
    private static func readScale(_ mode: UInt8, _ reader: inout ByteReader) throws -> Double {
        guard
            mode == modeDelta || mode == modeDeltaOfDelta || mode == modeFrameOfReference
                || mode == modeFrameOfReferenceBits
        else {
            throw ByteReader.Truncated()
        }
        let scale = Int(try reader.readByte())
        guard scale < powersOfTen.count else { throw ByteReader.Truncated() }
        return powersOfTen[scale]
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
        if selection.contains(.numbers) {
            let numbers = try column(3)
            let runs = seriesRuns(columns.seriesIDs)
            columns.numbers = try numbers.withUnsafeBytes { bytes in try decodeNumbers(bytes, runs: runs) }
        }
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
