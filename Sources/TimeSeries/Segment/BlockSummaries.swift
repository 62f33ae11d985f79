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

/// The summaries column (format version 3 on).
///
/// Layout: the slot width (varint, milliseconds), then per series run: its id (varint), its
/// first row's time (signed varint) and its last's after it (varint), its slot count (varint)
/// and, with slots, a mode: 1 and the run's scale (as the numbers column finds it) when its
/// numeric values are exact integers at that scale, 0 otherwise. Per slot: the slot index
/// after the previous one (the first after the run's first row's slot), the count, the first
/// row's time after the slot's start and the last's after the first (varints); then the
/// values: scaled, the first after the previous slot's last and the last after the first
/// (signed varints), the first above the minimum and the maximum above the first, the sum
/// above count times the minimum (varints); otherwise the sum, minimum, maximum, first and
/// last as 8-byte doubles.
extension BlockCodec {
    /// One hour: buckets of whole hours (and days) read summaries only.
    static let summarySlotMilliseconds: Int64 = 3_600_000

    private static let summaryRaw: UInt8 = 0
    private static let summaryScaled: UInt8 = 1

    static func encodeSummaries(_ rows: ArraySlice<StoredRow>, runs: [Range<Int>]) -> [UInt8] {
        let width = summarySlotMilliseconds
        var writer = ByteWriter(capacity: 16 + runs.count * 64)
        writer.writeVarint(UInt64(width))
        for run in runs {
            let runRows = rows[(rows.startIndex + run.lowerBound)..<(rows.startIndex + run.upperBound)]
            let firstTimestamp = runRows.first!.timestamp
            writer.writeVarint(UInt64(runRows.first!.seriesID))
            writer.writeSignedVarint(firstTimestamp)
            writer.writeVarint(UInt64(bitPattern: runRows.last!.timestamp &- firstTimestamp))
            var timestamps: [Int64] = []
            var numbers: [Double] = []
            for row in runRows {
                let (kind, number, _) = ValueCodec.parts(of: row.value)
                guard ValueCodec.isNumeric(kind) else { continue }
                timestamps.append(row.timestamp)
                numbers.append(number)
            }
            let slots = slotRanges(timestamps, width: width)
            writer.writeVarint(UInt64(slots.count))
            guard !slots.isEmpty else { continue }
            var previousSlot = floorDivide(firstTimestamp, width)
            func writeTimes(_ slot: Int64, _ range: Range<Int>) {
                writer.writeVarint(UInt64(slot - previousSlot))
                writer.writeVarint(UInt64(range.count))
                // Wrapping, as the reader undoes it: a slot near the ends of time may not fit.
                writer.writeVarint(UInt64(bitPattern: timestamps[range.lowerBound] &- slot &* width))
                writer.writeVarint(UInt64(timestamps[range.upperBound - 1] - timestamps[range.lowerBound]))
                previousSlot = slot
            }
            if let (scale, integers) = scaledIntegers(numbers), let sums = scaledSums(integers, slots) {
                writer.write(summaryScaled)
                writer.write(UInt8(scale))
                var previousLast: Int64 = 0
                for ((slot, range), sumAboveMinimum) in zip(slots, sums) {
                    writeTimes(slot, range)
                    let values = integers[range]
                    let first = values.first!
                    let last = values.last!
                    writer.writeSignedVarint(first &- previousLast)
                    writer.writeSignedVarint(last &- first)
                    writer.writeVarint(UInt64(first &- values.min()!))
                    writer.writeVarint(UInt64(values.max()! &- first))
                    writer.writeVarint(sumAboveMinimum)
                    previousLast = last
                }
            } else {
                writer.write(summaryRaw)
                for (slot, range) in slots {
                    writeTimes(slot, range)
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
                    for value in [sum, minimum, maximum, values.first!, values.last!] { writer.write(value.bitPattern) }
                }
            }
        }
        return writer.bytes
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

    /// The block's summaries, or `nil` for a block of a format version without them.
    static func decodeSummaries(_ block: UnsafeRawBufferPointer, version: UInt32) throws -> [SeriesSummary]? {
        guard version >= 3 else { return nil }
        let (_, columns) = try columnSlices(block, version: version)
        let bytes = try decompress(columns[6])
        return try bytes.withUnsafeBytes { buffer throws in
            var reader = ByteReader(buffer)
            let width = Int64(bitPattern: try reader.readVarint())
            guard width > 0 else { throw ByteReader.Truncated() }
            var summaries: [SeriesSummary] = []
            while !reader.isAtEnd {
                let seriesID = UInt32(truncatingIfNeeded: try reader.readVarint())
                let firstTimestamp = try reader.readSignedVarint()
                let lastTimestamp = firstTimestamp &+ Int64(bitPattern: try reader.readVarint())
                let slotCount = Int(try reader.readVarint())
                guard slotCount <= reader.remaining else { throw ByteReader.Truncated() }
                var summary = SeriesSummary(
                    seriesID: seriesID,
                    firstTimestamp: firstTimestamp,
                    lastTimestamp: lastTimestamp,
                    slots: []
                )
                if slotCount > 0 {
                    summary.slots.reserveCapacity(slotCount)
                    let mode = try reader.readByte()
                    guard mode == summaryRaw || mode == summaryScaled else { throw ByteReader.Truncated() }
                    let scale = mode == summaryScaled ? Int(try reader.readByte()) : 0
                    guard scale <= 9 else { throw ByteReader.Truncated() }
                    var slot = floorDivide(firstTimestamp, width)
                    var previousLast: Int64 = 0
                    for _ in 0..<slotCount {
                        slot &+= Int64(bitPattern: try reader.readVarint())
                        let count = Int(try reader.readVarint())
                        let first = slot &* width &+ Int64(bitPattern: try reader.readVarint())
                        let last = first &+ Int64(bitPattern: try reader.readVarint())
                        var entry = SlotSummary(
                            slot: slot,
                            count: count,
                            sum: 0,
                            minimum: 0,
                            maximum: 0,
                            first: 0,
                            last: 0,
                            firstTimestamp: first,
                            lastTimestamp: last
                        )
                        if mode == summaryScaled {
                            let firstValue = previousLast &+ (try reader.readSignedVarint())
                            let lastValue = firstValue &+ (try reader.readSignedVarint())
                            let minimum = firstValue &- Int64(bitPattern: try reader.readVarint())
                            let maximum = firstValue &+ Int64(bitPattern: try reader.readVarint())
                            let sum = Int64(count) &* minimum &+ Int64(bitPattern: try reader.readVarint())
                            entry.first = unscaled(firstValue, scale: scale)
                            entry.last = unscaled(lastValue, scale: scale)
                            entry.minimum = unscaled(minimum, scale: scale)
                            entry.maximum = unscaled(maximum, scale: scale)
                            entry.sum = unscaled(sum, scale: scale)
                            previousLast = lastValue
                        } else {
                            entry.sum = try reader.readDouble()
                            entry.minimum = try reader.readDouble()
                            entry.maximum = try reader.readDouble()
                            entry.first = try reader.readDouble()
                            entry.last = try reader.readDouble()
                        }
                        summary.slots.append(entry)
                    }
                }
                summaries.append(summary)
            }
            return summaries
        }
    }
}
