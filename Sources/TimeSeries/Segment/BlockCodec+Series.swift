/// Decoding the rows of some series of a block only: a block holds a few thousand rows of a
/// few dozen series, and a query over a site's chargers wants one or two of them.
extension BlockCodec {
    /// Decodes the rows of the series `wants` selects, in the block's order; the other rows
    /// are left out of every column, so that row indices count the kept rows only. The series
    /// and timestamp columns always, the others as `selection` asks.
    ///
    /// The columns are decompressed whole, but only the kept rows are decoded into them: the
    /// timestamps are stepped through up to the last kept row (each is a delta of the one
    /// before), the numbers of the other series are stepped over run by run, and of the
    /// run-length columns (kinds, transactions) only the kept rows' stretches are expanded. A
    /// selection with texts (whose bytes follow the kinds of every row) decodes the whole
    /// block and keeps the wanted rows.
    /// - Parameter version: The segment's format version.
    static func decode(
        _ block: UnsafeRawBufferPointer,
        selection: Selection,
        version: UInt32 = Segment.formatVersion,
        wants: (UInt32) -> Bool
    ) throws -> Columns {
        let (count, raw) = try columnSlices(block, version: version)
        var runs: [(id: UInt32, rows: Range<Int>, kept: Bool)] = []
        try decompress(raw[0]).withUnsafeBytes { bytes throws in
            var reader = ByteReader(bytes)
            var row = 0
            while !reader.isAtEnd {
                let id = UInt32(truncatingIfNeeded: try reader.readVarint())
                let length = try reader.readVarint()
                guard length <= UInt64(count - row) else { throw ByteReader.Truncated() }
                runs.append((id, row..<row + Int(length), wants(id)))
                row += Int(length)
            }
            guard row == count else { throw ByteReader.Truncated() }
        }
        let ranges = runs.filter(\.kept).map(\.rows)
        if ranges.count == runs.count { return try decode(block, selection: selection, version: version) }
        if selection.contains(.texts) {
            return keeping(ranges, of: try decode(block, selection: selection, version: version))
        }

        var columns = Columns()
        let keptCount = ranges.reduce(0) { $0 + $1.count }
        columns.seriesIDs.reserveCapacity(keptCount)
        for run in runs where run.kept {
            columns.seriesIDs.append(contentsOf: repeatElement(run.id, count: run.rows.count))
        }
        guard let end = ranges.last?.upperBound else { return columns }
        try decompress(raw[1]).withUnsafeBytes { bytes throws in
            var reader = ByteReader(bytes)
            columns.timestamps.reserveCapacity(keptCount)
            var previous: Int64 = 0
            var delta: Int64 = 0
            for run in runs where run.rows.lowerBound < end {
                if run.kept {
                    for _ in run.rows {
                        delta = delta &+ (try reader.readSignedVarint())
                        previous = previous &+ delta
                        columns.timestamps.append(previous)
                    }
                } else {
                    for _ in run.rows {
                        delta = delta &+ (try reader.readSignedVarint())
                        previous = previous &+ delta
                    }
                }
            }
        }
        if !selection.subtracting(.transactions).isEmpty {
            columns.kinds.reserveCapacity(keptCount)
            try gather(try decompress(raw[2]), count: count, ranges, into: &columns.kinds) { try $0.readByte() }
        }
        let predicted = version >= 4 && hasPredictedKinds(columns.kinds)
        if selection.contains(.numbers) || predicted {
            try decompress(raw[3]).withUnsafeBytes { bytes throws in
                var reader = ByteReader(bytes)
                columns.numbers.reserveCapacity(keptCount)
                for run in runs where run.rows.lowerBound < end {
                    if run.kept {
                        try decodeRun(&reader, count: run.rows.count, into: &columns.numbers)
                    } else {
                        try skipRun(&reader, count: run.rows.count)
                    }
                }
            }
        }
        if predicted { try resolvePredictedKinds(&columns.kinds, numbers: columns.numbers) }
        if selection.contains(.transactions), version >= 2 {
            columns.transactions.reserveCapacity(keptCount)
            try gather(try decompress(raw[5]), count: count, ranges, into: &columns.transactions) { reader in
                try TransactionCode.read(from: &reader)
            }
        }
        return columns
    }

    /// Appends, of a column of (value, run length) pairs over `count` rows, the values of the
    /// rows in `ranges` (ascending, disjoint).
    private static func gather<Value>(
        _ column: [UInt8],
        count: Int,
        _ ranges: [Range<Int>],
        into values: inout [Value],
        value: (inout ByteReader) throws -> Value
    ) throws {
        try column.withUnsafeBytes { bytes throws in
            var reader = ByteReader(bytes)
            var row = 0
            var index = 0
            while !reader.isAtEnd {
                let item = try value(&reader)
                let length = try reader.readVarint()
                guard length <= UInt64(count - row) else { throw ByteReader.Truncated() }
                let runEnd = row + Int(length)
                // Every range before `index` ends at or before `row`.
                while index < ranges.count, ranges[index].lowerBound < runEnd {
                    let lower = max(ranges[index].lowerBound, row)
                    let upper = min(ranges[index].upperBound, runEnd)
                    values.append(contentsOf: repeatElement(item, count: upper - lower))
                    if ranges[index].upperBound > runEnd { break }
                    index += 1
                }
                row = runEnd
            }
            guard row == count else { throw ByteReader.Truncated() }
        }
    }

    /// The rows of `columns` in `ranges` (ascending, disjoint), in every decoded column.
    static func keeping(_ ranges: [Range<Int>], of columns: Columns) -> Columns {
        var kept = Columns()
        for range in ranges {
            kept.seriesIDs.append(contentsOf: columns.seriesIDs[range])
            kept.timestamps.append(contentsOf: columns.timestamps[range])
            if !columns.kinds.isEmpty { kept.kinds.append(contentsOf: columns.kinds[range]) }
            if !columns.numbers.isEmpty { kept.numbers.append(contentsOf: columns.numbers[range]) }
            if !columns.texts.isEmpty { kept.texts.append(contentsOf: columns.texts[range]) }
            if !columns.transactions.isEmpty { kept.transactions.append(contentsOf: columns.transactions[range]) }
        }
        return kept
    }
}
