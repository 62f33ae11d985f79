/// The numbers column: each series run encoded on its own.
///
/// A series has one resolution (energy in whole Wh, voltage in tenths), so a run takes the
/// smallest power of ten that makes its values exact integers (up to 10^9) and then the
/// smallest of:
/// - zigzag varint deltas (fluctuating values) or deltas of deltas (steadily rising registers);
/// - varint offsets from the run's minimum, or (format version 3 on) the same offsets
///   bit-packed in as many bits as the largest needs;
/// - (format version 4 on) **miniblocks** of ``miniblockSize`` values, each bit-packed on its
///   own, either as offsets from its minimum or as its deltas' offsets from their minimum,
///   whichever needs fewer bits. A charger's run mixes idle hours (power 0-3 W, currents a
///   few hundredths) with sessions (kilowatts, tens of amperes): one width for the run gives
///   every idle value the session's bits, a miniblock's width follows its own values; and a
///   register's deltas (zero while idle, steady while charging) take a few bits or none.
///
/// A run that no scale fits keeps the XOR of each value's bits with the previous one's.
extension BlockCodec {
    /// Values per miniblock (the last of a run may hold fewer).
    static let miniblockSize = 32

    /// 10^0 to 10^9: the numbers' scales, and the decimals a kind can say
    /// (``ValueCodec/maximumFixedDecimals``).
    static let powersOfTen: [Double] = (0...9).map { exponent in
        var value = 1.0
        for _ in 0..<exponent { value *= 10 }
        return value
    }

    /// Encodes the numbers column of a block whose rows form the series runs `runs`.
    /// - Parameter version: The segment's format version: bit-packed offsets from 3 on,
    ///   miniblocks from 4 on.
    static func encodeNumbers(
        _ numbers: [Double],
        runs: [Range<Int>],
        version: UInt32 = Segment.formatVersion
    ) -> [UInt8] {
        var writer = ByteWriter(capacity: numbers.count * 2 + runs.count * 2)
        for run in runs {
            encodeRun(numbers[run], version: version, into: &writer)
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
    /// Format version 4 on: miniblocks (``MiniblockPlan``).
    private static let modeMiniblocks: UInt8 = 5

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

    /// A run's miniblocks: for each, whether it stores deltas, its width in bits and its
    /// reference (the header `(deltas ? 0x80 : 0) | bits`, then the reference as a signed
    /// varint, then the offsets packed from the lowest bit up, whole bytes a miniblock).
    ///
    /// The reference of a miniblock of values is its minimum less the value before it (the
    /// previous miniblock's last, 0 for the first): values hovering around a level give a
    /// small one. That of a miniblock of deltas is its smallest delta, the first delta taken
    /// from the value before the miniblock.
    struct MiniblockPlan {
        var heads: [(deltas: Bool, bits: Int, reference: Int64)] = []
        var size = 2  // the mode and scale bytes

        /// Values below 9e15 in magnitude (``scaledIntegers(_:)``): every difference fits in
        /// 55 bits and a range of differences in 56.
        init(_ integers: [Int64]) {
            heads.reserveCapacity((integers.count + miniblockSize - 1) / miniblockSize)
            var previous: Int64 = 0
            var start = 0
            while start < integers.count {
                let end = Swift.min(start + miniblockSize, integers.count)
                var lowest = Int64.max
                var highest = Int64.min
                var lowestDelta = Int64.max
                var highestDelta = Int64.min
                var before = previous
                for index in start..<end {
                    let value = integers[index]
                    lowest = Swift.min(lowest, value)
                    highest = Swift.max(highest, value)
                    let delta = value &- before
                    lowestDelta = Swift.min(lowestDelta, delta)
                    highestDelta = Swift.max(highestDelta, delta)
                    before = value
                }
                let valueBits = bitWidth(highest &- lowest)
                let deltaBits = bitWidth(highestDelta &- lowestDelta)
                let deltas = deltaBits < valueBits
                let head = (
                    deltas: deltas, bits: deltas ? deltaBits : valueBits,
                    reference: deltas ? lowestDelta : lowest &- previous
                )
                heads.append(head)
                size += 1 + varintSize(head.reference) + ((end - start) * head.bits + 7) / 8
                previous = integers[end - 1]
                start = end
            }
        }

        /// Bits for offsets up to `range` (a non-negative difference).
        @inline(__always)
        private func bitWidth(_ range: Int64) -> Int { 64 - UInt64(bitPattern: range).leadingZeroBitCount }

        func write(_ integers: [Int64], into writer: inout ByteWriter) {
            var previous: Int64 = 0
            for (number, head) in heads.enumerated() {
                let start = number * miniblockSize
                let end = Swift.min(start + miniblockSize, integers.count)
                writer.write(UInt8(head.bits) | (head.deltas ? 0x80 : 0))
                writer.writeSignedVarint(head.reference)
                if head.deltas {
                    var before = previous
                    writePacked(end - start, bits: head.bits, into: &writer) { index in
                        let value = integers[start + index]
                        defer { before = value }
                        return UInt64(bitPattern: value &- before &- head.reference)
                    }
                } else {
                    let minimum = previous &+ head.reference
                    writePacked(end - start, bits: head.bits, into: &writer) { index in
                        UInt64(bitPattern: integers[start + index] &- minimum)
                    }
                }
                previous = integers[end - 1]
            }
        }
    }

    /// Writes `count` offsets of `bits` bits each (at most 56), packed from the lowest bit up,
    /// in whole bytes.
    @inline(__always)
    static func writePacked(_ count: Int, bits: Int, into writer: inout ByteWriter, offset: (Int) -> UInt64) {
        guard bits > 0 else { return }
        var buffer: UInt64 = 0
        var buffered = 0
        for index in 0..<count {
            // At most 56 bits an offset and 7 left over: the buffer never overflows.
            buffer |= offset(index) << buffered
            buffered += bits
            while buffered >= 8 {
                writer.write(UInt8(truncatingIfNeeded: buffer))
                buffer >>= 8
                buffered -= 8
            }
        }
        if buffered > 0 { writer.write(UInt8(truncatingIfNeeded: buffer)) }
    }

    /// Reads `count` offsets that ``writePacked(_:bits:into:offset:)`` wrote, handing each over.
    @inline(__always)
    static func readPacked(
        _ reader: inout ByteReader,
        count: Int,
        bits: Int,
        offset: (UInt64) -> Void
    ) throws(ByteReader.Truncated) {
        guard bits <= 56, (count * bits + 7) / 8 <= reader.remaining else { throw ByteReader.Truncated() }
        guard bits > 0 else {
            for _ in 0..<count { offset(0) }
            return
        }
        let mask = UInt64.max >> (64 - bits)
        var buffer: UInt64 = 0
        var buffered = 0
        for _ in 0..<count {
            while buffered < bits {
                buffer |= UInt64(reader.bytes[reader.position]) << buffered
                reader.position += 1
                buffered += 8
            }
            offset(buffer & mask)
            buffer >>= bits
            buffered -= bits
        }
    }

    private static func encodeRun(_ numbers: ArraySlice<Double>, version: UInt32, into writer: inout ByteWriter) {
        guard let (scale, integers) = scaledIntegers(numbers) else {
            writer.write(modeXOR)
            var previous: UInt64 = 0
            for number in numbers {
                writer.write(number.bitPattern ^ previous)
                previous = number.bitPattern
            }
            return
        }
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
        let range = maximum &- minimum  // below 2^54: no overflow (values below 9e15)
        let offsetSize = varintSize(minimum) + integers.count * unsignedVarintSize(UInt64(range))
        // The same offsets bit-packed: noise around a level (voltage, temperature) takes a
        // few bits a value, where a varint takes a byte or two.
        let bits = 64 - UInt64(range).leadingZeroBitCount
        let packedSize = version < 3 ? Int.max : varintSize(minimum) + 1 + (integers.count * bits + 7) / 8
        if version >= 4 {
            let plan = MiniblockPlan(integers)
            if plan.size < Swift.min(deltaSize, deltaOfDeltaSize, offsetSize, packedSize) {
                writer.write(modeMiniblocks)
                writer.write(UInt8(scale))
                plan.write(integers, into: &writer)
                return
            }
        }
        if packedSize < offsetSize && packedSize < deltaSize && packedSize < deltaOfDeltaSize {
            writer.write(modeFrameOfReferenceBits)
            writer.write(UInt8(scale))
            writer.writeSignedVarint(minimum)
            writer.write(UInt8(bits))
            writePacked(integers.count, bits: bits, into: &writer) { UInt64(integers[$0] &- minimum) }
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
        @inline(__always) func append(_ integer: Int64) {
            numbers.append(scaled ? Double(integer) / factor : Double(integer))
        }
        switch mode {
        case modeMiniblocks:
            var previous: Int64 = 0
            var start = 0
            while start < count {
                let size = Swift.min(miniblockSize, count - start)
                let head = try reader.readByte()
                let reference = try reader.readSignedVarint()
                if head & 0x80 != 0 {
                    try readPacked(&reader, count: size, bits: Int(head & 0x7F)) { offset in
                        previous = previous &+ reference &+ Int64(bitPattern: offset)
                        append(previous)
                    }
                } else {
                    let minimum = previous &+ reference
                    try readPacked(&reader, count: size, bits: Int(head & 0x7F)) { offset in
                        previous = minimum &+ Int64(bitPattern: offset)
                        append(previous)
                    }
                }
                start += size
            }
        case modeFrameOfReferenceBits:
            let minimum = try reader.readSignedVarint()
            let bits = Int(try reader.readByte())
            try readPacked(&reader, count: count, bits: bits) { offset in append(minimum &+ Int64(bitPattern: offset)) }
        case modeFrameOfReference:
            let minimum = try reader.readSignedVarint()
            for _ in 0..<count { append(minimum &+ Int64(bitPattern: try reader.readVarint())) }
        default:
            var previous: Int64 = 0
            var delta: Int64 = 0
            for _ in 0..<count {
                let encoded = try reader.readSignedVarint()
                delta = mode == modeDelta ? encoded : delta &+ encoded
                previous = previous &+ delta
                append(previous)
            }
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
        @inline(__always) func skipPacked(_ count: Int, bits: Int) throws {
            guard bits <= 56, (count * bits + 7) / 8 <= reader.remaining else { throw ByteReader.Truncated() }
            reader.position += (count * bits + 7) / 8
        }
        switch mode {
        case modeMiniblocks:
            var start = 0
            while start < count {
                let size = Swift.min(miniblockSize, count - start)
                let head = try reader.readByte()
                _ = try reader.readSignedVarint()
                try skipPacked(size, bits: Int(head & 0x7F))
                start += size
            }
        case modeFrameOfReferenceBits:
            _ = try reader.readSignedVarint()
            try skipPacked(count, bits: Int(try reader.readByte()))
        case modeFrameOfReference:
            _ = try reader.readSignedVarint()
            try reader.skipVarints(count)
        default:
            try reader.skipVarints(count)
        }
    }

    /// The factor of a run's scale byte, after checking its mode byte.
    @inline(__always)
    private static func readScale(_ mode: UInt8, _ reader: inout ByteReader) throws -> Double {
        guard
            mode == modeDelta || mode == modeDeltaOfDelta || mode == modeFrameOfReference
                || mode == modeFrameOfReferenceBits || mode == modeMiniblocks
        else {
            throw ByteReader.Truncated()
        }
        let scale = Int(try reader.readByte())
        guard scale < powersOfTen.count else { throw ByteReader.Truncated() }
        return powersOfTen[scale]
    }
}
