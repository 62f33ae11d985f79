/// The pre-aggregates of one series' numeric rows of one block in one aligned slot of time:
/// what an aggregate needs of them when the slot lies whole inside one of its buckets.
struct SlotSummary: Equatable, Sendable {
    /// The slot's index: it covers `slot * width ..< (slot + 1) * width`.
    var slot: Int64
    var count: Int
    var sum: Double
    var minimum: Double
    var maximum: Double
    var first: Double
    var last: Double
    var firstTimestamp: Int64
    var lastTimestamp: Int64
}

/// One series' run of rows in a block: the times of all its rows (numeric or not: what another
/// source's rows must not overlap for the summaries to be the answer) and its slots, ascending.
struct SeriesSummary: Sendable {
    var seriesID: UInt32
    var firstTimestamp: Int64
    var lastTimestamp: Int64
    var slots: [SlotSummary]
}

/// A series' run in a block, as ``BlockCodec/decodeSummaries(_:version:wants:slots:runs:)``
/// appends it: its slots are a range of the caller's flat array.
struct SummaryRun: Sendable {
    var seriesID: UInt32
    var firstTimestamp: Int64
    var lastTimestamp: Int64
    var slots: Range<Int>
    /// The block's index in its segment (set by ``Segment/readSummaries(_:wants:slots:runs:)``).
    var block = 0
}

/// The summaries column (format version 3 on).
///
/// Layout: the slot width (varint, milliseconds) and the number of series runs, then
/// sections, each a length-prefixed byte string, field by field over every slot of the block,
/// so that LZ4 folds the regular ones (counts, times) to almost nothing:
/// 1. runs: per series run, its id, its first row's time (signed, after the previous run's),
///    its last's after its first, its slot count, and with slots a mode: 1 and the run's scale
///    (as the numbers column finds it) when its numeric values are exact integers at that
///    scale, 0 otherwise;
/// 2. per slot, the slot index after the previous one of its run (the first after its run's
///    first row's slot);
/// 3. to 5. per slot, its count, its first row's time after the slot's start and its last's
///    after its first, each as the (signed) change from the previous slot's;
/// 6. the values of the scaled runs' slots: the first after the previous slot's last, the last
///    after the first (signed), the first above the minimum, the maximum above the first, the
///    sum above count times the minimum;
/// 7. those of the other runs' slots: the sum, minimum, maximum, first and last as doubles.
extension BlockCodec {
    /// One hour: buckets of whole hours (and days) read summaries only.
    static let summarySlotMilliseconds: Int64 = 3_600_000

    private static let summaryRaw: UInt8 = 0
    private static let summaryScaled: UInt8 = 1

    /// The changes of a field from slot to slot.
    private struct DeltaWriter {
        var writer = ByteWriter()
        var previous: Int64 = 0

        mutating func write(_ value: Int64) {
            writer.writeSignedVarint(value &- previous)
            previous = value
        }
    }

    static func encodeSummaries(_ rows: ArraySlice<StoredRow>, runs: [Range<Int>]) -> [UInt8] {
        let width = summarySlotMilliseconds
        var headers = ByteWriter(capacity: runs.count * 8)
        var slotIndexes = ByteWriter()
        var counts = DeltaWriter()
        var offsets = DeltaWriter()
        var spans = DeltaWriter()
        var scaledValues = ByteWriter()
        var rawValues = ByteWriter()
        var previousRunStart: Int64 = 0
        for run in runs {
            let runRows = rows[(rows.startIndex + run.lowerBound)..<(rows.startIndex + run.upperBound)]
            let firstTimestamp = runRows.first!.timestamp
            headers.writeVarint(UInt64(runRows.first!.seriesID))
            headers.writeSignedVarint(firstTimestamp &- previousRunStart)
            headers.writeVarint(UInt64(bitPattern: runRows.last!.timestamp &- firstTimestamp))
            previousRunStart = firstTimestamp
            var timestamps: [Int64] = []
            var numbers: [Double] = []
            for row in runRows {
                let (kind, number, _) = ValueCodec.parts(of: row.value)
                guard ValueCodec.isNumeric(kind) else { continue }
                timestamps.append(row.timestamp)
                numbers.append(number)
            }
            let slots = slotRanges(timestamps, width: width)
            headers.writeVarint(UInt64(slots.count))
            guard !slots.isEmpty else { continue }
            var previousSlot = floorDivide(firstTimestamp, width)
            for (slot, range) in slots {
                slotIndexes.writeVarint(UInt64(slot - previousSlot))
                previousSlot = slot
                counts.write(Int64(range.count))
                // Wrapping, as the reader undoes it: a slot near the ends of time may not fit.
                offsets.write(timestamps[range.lowerBound] &- slot &* width)
                spans.write(timestamps[range.upperBound - 1] - timestamps[range.lowerBound])
            }
            if let (scale, integers) = scaledIntegers(numbers), let sums = scaledSums(integers, slots) {
                headers.write(summaryScaled)
                headers.write(UInt8(scale))
                var previousLast: Int64 = 0
                for ((_, range), sumAboveMinimum) in zip(slots, sums) {
                    let values = integers[range]
                    let first = values.first!
                    let last = values.last!
                    scaledValues.writeSignedVarint(first &- previousLast)
                    scaledValues.writeSignedVarint(last &- first)
                    scaledValues.writeVarint(UInt64(first &- values.min()!))
                    scaledValues.writeVarint(UInt64(values.max()! &- first))
                    scaledValues.writeVarint(sumAboveMinimum)
                    previousLast = last
                }
            } else {
                headers.write(summaryRaw)
                for (_, range) in slots {
                    let values = numbers[range]
                    var sum = 0.0
                    var minimum = values.first!
                    var maximum = values.first!
                    // As an aggregate over the rows adds them: the same sum.
                    for value in values {
                        sum += value
                        minimum = Swift.min(minimum, value)
                        maximum = Swift.max(maximum, value)
                    }
                    for value in [sum, minimum, maximum, values.first!, values.last!] {
                        rawValues.write(value.bitPattern)
                    }
                }
            }
        }
        var column = ByteWriter(capacity: 32 + headers.bytes.count + slotIndexes.bytes.count * 8)
        column.writeVarint(UInt64(width))
        column.writeVarint(UInt64(runs.count))
        for section in [
            headers, slotIndexes, counts.writer, offsets.writer, spans.writer, scaledValues, rawValues,
        ] {
            column.writeBytes(section.bytes)
        }
        return column.bytes
    }

    /// The rows of each slot: consecutive ranges of `timestamps` (ascending) by slot index.
    private static func slotRanges(_ timestamps: [Int64], width: Int64) -> [(slot: Int64, range: Range<Int>)] {
        var slots: [(slot: Int64, range: Range<Int>)] = []
        var begin = 0
        while begin < timestamps.count {
            let slot = floorDivide(timestamps[begin], width)
            let end = slot < Int64.max / width ? (slot + 1) * width : Int64.max
            var next = begin + 1
            while next < timestamps.count && timestamps[next] < end { next += 1 }
            slots.append((slot, begin..<next))
            begin = next
        }
        return slots
    }

    /// Each slot's sum of integers above count times its minimum, or `nil` if a sum does not
    /// fit in an integer a double holds exactly.
    private static func scaledSums(_ integers: [Int64], _ slots: [(slot: Int64, range: Range<Int>)]) -> [UInt64]? {
        var sums: [UInt64] = []
        sums.reserveCapacity(slots.count)
        for (_, range) in slots {
            let minimum = integers[range].min()!
            var sum: UInt64 = 0
            for integer in integers[range] {
                let (above, negative) = integer.subtractingReportingOverflow(minimum)
                guard !negative else { return nil }
                let (total, overflow) = sum.addingReportingOverflow(UInt64(above))
                guard !overflow, total < 1 << 53 else { return nil }
                sum = total
            }
            let (base, overflow) = Int64(range.count).multipliedReportingOverflow(by: minimum)
            let (total, sumOverflow) = base.addingReportingOverflow(Int64(sum))
            guard !overflow, !sumOverflow, total.magnitude < 1 << 53 else { return nil }
            sums.append(sum)
        }
        return sums
    }

    /// The block's summaries of the series `wants` selects, or `nil` for a block of a format
    /// version without them. The other series' slots are read past, not built.
    static func decodeSummaries(
        _ block: UnsafeRawBufferPointer,
        version: UInt32,
        wants: (UInt32) -> Bool = { _ in true }
    ) throws -> [SeriesSummary]? {
        var slots: [SlotSummary] = []
        var runs: [SummaryRun] = []
        guard try decodeSummaries(block, version: version, wants: wants, slots: &slots, runs: &runs) else { return nil }
        return runs.map {
            SeriesSummary(
                seriesID: $0.seriesID,
                firstTimestamp: $0.firstTimestamp,
                lastTimestamp: $0.lastTimestamp,
                slots: Array(slots[$0.slots])
            )
        }
    }

    /// Appends the block's summaries of the series `wants` selects to flat arrays: each wanted
    /// run to `runs`, its slots to `slots` (a query over many blocks builds no array per run);
    /// false for a block of a format version without them.
    static func decodeSummaries(
        _ block: UnsafeRawBufferPointer,
        version: UInt32,
        wants: (UInt32) -> Bool,
        slots: inout [SlotSummary],
        runs: inout [SummaryRun]
    ) throws -> Bool {
        guard version >= 3 else { return false }
        let (_, columns) = try columnSlices(block, version: version)
        let bytes = try decompress(columns[6])
        return try bytes.withUnsafeBytes { buffer throws in
            var column = ByteReader(buffer)
            let width = Int64(bitPattern: try column.readVarint())
            let runCount = Int(try column.readVarint())
            guard width > 0, runCount <= column.remaining else { throw ByteReader.Truncated() }
            // The sections, each its own reader (not an array of them: every read would check
            // the array's uniqueness and bounds).
            var runSection = ByteReader(try column.readBytes())
            var slotIndexes = ByteReader(try column.readBytes())
            var countChanges = ByteReader(try column.readBytes())
            var offsetChanges = ByteReader(try column.readBytes())
            var spanChanges = ByteReader(try column.readBytes())
            var scaledValues = ByteReader(try column.readBytes())
            var rawValues = ByteReader(try column.readBytes())
            var counts: Int64 = 0
            var offsets: Int64 = 0
            var spans: Int64 = 0
            var runStart: Int64 = 0
            for _ in 0..<runCount {
                let seriesID = UInt32(truncatingIfNeeded: try runSection.readVarint())
                runStart &+= try runSection.readSignedVarint()
                let lastTimestamp = runStart &+ Int64(bitPattern: try runSection.readVarint())
                let slotCount = Int(try runSection.readVarint())
                guard slotCount <= slotIndexes.remaining else { throw ByteReader.Truncated() }
                let wanted = wants(seriesID)
                if wanted {
                    runs.append(
                        SummaryRun(
                            seriesID: seriesID,
                            firstTimestamp: runStart,
                            lastTimestamp: lastTimestamp,
                            slots: slots.count..<(slots.count + slotCount)
                        )
                    )
                }
                guard slotCount > 0 else { continue }
                let mode = try runSection.readByte()
                guard mode == summaryRaw || mode == summaryScaled else { throw ByteReader.Truncated() }
                let scale = mode == summaryScaled ? Int(try runSection.readByte()) : 0
                guard scale <= 9 else { throw ByteReader.Truncated() }
                guard wanted else {
                    // Read past its slots: the next run's follow them, and the changes of
                    // counts and times go on from its last.
                    try slotIndexes.skipVarints(slotCount)
                    for _ in 0..<slotCount {
                        counts &+= try countChanges.readSignedVarint()
                        offsets &+= try offsetChanges.readSignedVarint()
                        spans &+= try spanChanges.readSignedVarint()
                    }
                    if mode == summaryScaled {
                        try scaledValues.skipVarints(5 * slotCount)
                    } else {
                        try rawValues.skip(40 * slotCount)
                    }
                    continue
                }
                var slot = floorDivide(runStart, width)
                var previousLast: Int64 = 0
                for _ in 0..<slotCount {
                    slot &+= Int64(bitPattern: try slotIndexes.readVarint())
                    counts &+= try countChanges.readSignedVarint()
                    offsets &+= try offsetChanges.readSignedVarint()
                    spans &+= try spanChanges.readSignedVarint()
                    let first = slot &* width &+ offsets
                    var entry = SlotSummary(
                        slot: slot,
                        count: Int(counts),
                        sum: 0,
                        minimum: 0,
                        maximum: 0,
                        first: 0,
                        last: 0,
                        firstTimestamp: first,
                        lastTimestamp: first &+ spans
                    )
                    if mode == summaryScaled {
                        let firstValue = previousLast &+ (try scaledValues.readSignedVarint())
                        let lastValue = firstValue &+ (try scaledValues.readSignedVarint())
                        let minimum = firstValue &- Int64(bitPattern: try scaledValues.readVarint())
                        let maximum = firstValue &+ Int64(bitPattern: try scaledValues.readVarint())
                        let sum = Int64(counts) &* minimum &+ Int64(bitPattern: try scaledValues.readVarint())
                        entry.first = unscaled(firstValue, scale: scale)
                        entry.last = unscaled(lastValue, scale: scale)
                        entry.minimum = unscaled(minimum, scale: scale)
                        entry.maximum = unscaled(maximum, scale: scale)
                        entry.sum = unscaled(sum, scale: scale)
                        previousLast = lastValue
                    } else {
                        entry.sum = try rawValues.readDouble()
                        entry.minimum = try rawValues.readDouble()
                        entry.maximum = try rawValues.readDouble()
                        entry.first = try rawValues.readDouble()
                        entry.last = try rawValues.readDouble()
                    }
                    slots.append(entry)
                }
            }
            return true
        }
    }
}
