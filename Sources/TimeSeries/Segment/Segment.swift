import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where a block lies in its segment file and what it can hold, for pruning without reading it.
struct BlockInfo: Sendable {
    var offset: Int
    var length: Int
    var checksum: UInt32
    var rowCount: Int
    var minTimestamp: Int64
    var maxTimestamp: Int64
    /// The distinct series ids of the block, ascending.
    var seriesIDs: [UInt32]
    /// The distinct transactions of the block's rows, ascending (rows without one not
    /// counted): a query by transaction skips blocks without it from the footer alone.
    var transactionIDs: [Int]

    func holds(series: UInt32) -> Bool { Self.sorted(seriesIDs, contains: series) }

    func holds(transaction: Int) -> Bool { Self.sorted(transactionIDs, contains: transaction) }

    /// Whether ascending `values` hold `value` (binary search).
    static func sorted<Value: Comparable>(_ values: [Value], contains value: Value) -> Bool {
        var low = 0
        var high = values.count
        while low < high {
            let middle = (low + high) / 2
            if values[middle] < value { low = middle + 1 } else { high = middle }
        }
        return low < values.count && values[low] == value
    }
}

/// An immutable segment file: blocks of columnar rows and a footer index.
///
/// Layout: `OTSG` + format version (u32), the blocks, the footer (block index), then the
/// footer's length and CRC32C (u32 each) and `OTSE`. Each block's CRC32C is in the index.
///
/// Format version 2 adds a transaction column to each block and each block's distinct
/// transactions to its footer entry; version 1 (series keys with their transaction) is read
/// only to convert a directory (``LegacyConversion``). Version 3 adds each block's summaries
/// (``SlotSummary``); a version 2 segment is read as it is (its aggregates from its rows)
/// until compaction rewrites it. Version 4 adds the numbers' miniblocks
/// (`BlockCodec+Numbers.swift`); a version 3 segment is read as it is, and merged into
/// version 4 only when compaction merges it anyway.
///
/// Its file's descriptor is in the store's ``SegmentFiles``, which may close it between
/// reads and open it again.
final class Segment: Sendable {
    static let headerMagic: [UInt8] = Array("OTSG".utf8)
    static let trailerMagic: [UInt8] = Array("OTSE".utf8)
    static let formatVersion: UInt32 = 4
    /// The oldest format version with summaries: compaction rewrites older segments even
    /// alone, and merges newer ones only when their size calls for it (a version 3 segment,
    /// read as it is, is not worth rewriting for the numbers' miniblocks of version 4).
    static let summaryVersion: UInt32 = 3
    static let legacyFormatVersion: UInt32 = 1
    static let fileExtension = "seg"

    /// The sequence number a segment file's name carries: `<hex>.seg`, or `<hex>-<part>.seg`
    /// for the parts a settled day is written as (they share the newest settled segment's
    /// sequence, each holding other series); nil for any other name.
    static func sequence(fileName name: String) -> UInt64? {
        guard name.hasSuffix("." + fileExtension) else { return nil }
        let stem = name.dropLast(fileExtension.count + 1)
        let pieces = stem.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        if pieces.count == 2 {
            guard (1...6).contains(pieces[1].count), pieces[1].allSatisfy({ ("0"..."9").contains($0) }) else {
                return nil
            }
        }
        return UInt64(pieces[0], radix: 16)
    }

    /// The name of part `part` of a settled day whose newest segment had `sequence`.
    static func fileName(sequence: UInt64, part: Int? = nil) -> String {
        let hex = String(sequence, radix: 16)
        let padded = String(repeating: "0", count: max(0, 16 - hex.count)) + hex
        return padded + (part.map { "-\($0)" } ?? "") + "." + fileExtension
    }

    let path: String
    /// ``formatVersion``, or ``legacyFormatVersion`` for a segment opened to be converted.
    let version: UInt32
    /// Larger is newer: on duplicate (series, timestamp, transaction) rows, the newer segment wins.
    let sequence: UInt64
    let blocks: [BlockInfo]
    let minTimestamp: Int64
    let maxTimestamp: Int64
    let rowCount: Int
    let byteCount: Int
    /// The least and the greatest transaction of its rows (`nil`: none has one): a query by
    /// session skips a segment outside it without looking at its blocks (the server numbers
    /// sessions in order, so a day's segments hold a narrow range).
    let transactionRange: ClosedRange<Int>?
    /// Whether each block's series come after the previous block's, as every writer sorts
    /// them: then a series' blocks can be found by binary search.
    let seriesAscending: Bool
    /// Each block's least series id (`UInt32.max` for a block without rows), beside
    /// ``blocks``: a binary search over a segment's blocks reads one flat array.
    let firstSeries: [UInt32]
    /// Each block's greatest series id (0 for a block without rows).
    let lastSeries: [UInt32]
    /// The least and greatest series id of its rows (`nil` without rows): a settled day's
    /// parts each hold a range, and a query skips the others from this alone.
    let seriesRange: ClosedRange<UInt32>?
    /// Unique among the segments a process opens (a compacted file keeps its name and path).
    let identity: UInt64
    private let files: SegmentFiles
    private static let identities = Atomic<UInt64>(0)

    struct Corrupt: Error, CustomStringConvertible {
        let path: String
        let reason: String
        var description: String { "segment \(path) is corrupt: \(reason)" }
    }

    /// Builds the bytes of a segment from blocks of rows sorted by (series, timestamp, transaction):
    /// `nextBlock` fills the buffer it is given with at most `limit` rows, and returns false
    /// when no rows are left.
    /// - Parameter version: ``formatVersion``; 2 writes what an earlier build wrote (for tests
    ///   of reading it).
    static func build(
        estimatedRows: Int,
        blockRows: Int,
        version: UInt32 = formatVersion,
        nextBlock: (_ block: inout [StoredRow], _ limit: Int) -> Bool
    ) -> [UInt8] {
        precondition(version > legacyFormatVersion && version <= formatVersion, "no writer for version \(version)")
        var file = ByteWriter(capacity: estimatedRows * 2 + 64)
        file.bytes.append(contentsOf: headerMagic)
        file.write(version)
        var infos: [BlockInfo] = []
        var rows: [StoredRow] = []
        rows.reserveCapacity(blockRows)
        while nextBlock(&rows, blockRows) {
            let slice = rows[...]
            let block = BlockCodec.encode(slice, version: version)
            var minimum = Int64.max
            var maximum = Int64.min
            var series: [UInt32] = []
            var transactions = Set<Int>()
            var lastTransaction: Int?
            for row in slice {
                minimum = min(minimum, row.timestamp)
                maximum = max(maximum, row.timestamp)
                if series.last != row.seriesID { series.append(row.seriesID) }
                if let transaction = row.transactionID, transaction != lastTransaction {
                    transactions.insert(transaction)
                    lastTransaction = transaction
                }
            }
            infos.append(
                BlockInfo(
                    offset: file.bytes.count,
                    length: block.count,
                    checksum: CRC32C.checksum(block),
                    rowCount: slice.count,
                    minTimestamp: minimum,
                    maxTimestamp: maximum,
                    seriesIDs: Array(Set(series)).sorted(),
                    transactionIDs: transactions.sorted()
                )
            )
            file.bytes.append(contentsOf: block)
        }
        var footer = ByteWriter()
        footer.writeVarint(UInt64(infos.count))
        for info in infos {
            footer.writeVarint(UInt64(info.offset))
            footer.writeVarint(UInt64(info.length))
            footer.write(info.checksum)
            footer.writeVarint(UInt64(info.rowCount))
            footer.writeSignedVarint(info.minTimestamp)
            footer.writeSignedVarint(info.maxTimestamp)
            footer.writeVarint(UInt64(info.seriesIDs.count))
            var previous: UInt32 = 0
            for id in info.seriesIDs {
                footer.writeVarint(UInt64(id - previous))
                previous = id
            }
            footer.writeVarint(UInt64(info.transactionIDs.count))
            var previousTransaction: Int64 = 0
            for (index, transaction) in info.transactionIDs.enumerated() {
                // The first as a signed number, then ascending gaps.
                if index == 0 {
                    footer.writeSignedVarint(Int64(transaction))
                } else {
                    footer.writeVarint(UInt64(bitPattern: Int64(transaction) &- previousTransaction))
                }
                previousTransaction = Int64(transaction)
            }
        }
        file.bytes.append(contentsOf: footer.bytes)
        file.write(UInt32(footer.bytes.count))
        file.write(CRC32C.checksum(footer.bytes))
        file.bytes.append(contentsOf: trailerMagic)
        return file.bytes
    }

    /// Opens a segment file and reads its footer.
    /// - Parameter legacy: Whether a segment of ``legacyFormatVersion`` is accepted (to be
    ///   converted).
    /// - Throws: ``Corrupt`` when the header, footer or trailer do not check out,
    ///   ``TimeSeriesError`` when the file cannot be read or is of a newer format version.
    init(path: String, sequence: UInt64, files: SegmentFiles, legacy: Bool = false) throws {
        self.path = path
        self.sequence = sequence
        self.files = files
        self.identity = Self.identities.add(1, ordering: .relaxed).newValue
        let descriptor = try FileIO.openForReading(path)
        do {
            let size = try FileIO.size(descriptor, path: path)
            guard size >= 24 else { throw Corrupt(path: path, reason: "file of \(size) bytes is too short") }
            let header = try FileIO.read(descriptor, offset: 0, count: 8, path: path)
            guard Array(header[0..<4]) == Self.headerMagic else { throw Corrupt(path: path, reason: "bad header") }
            let version = header[4..<8].withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
            guard version <= Self.formatVersion else {
                throw TimeSeriesError(
                    message: "segment \(path) has format version \(version), written by a newer version of the "
                        + "server: this build reads versions up to \(Self.formatVersion)"
                )
            }
            guard version > Self.legacyFormatVersion || (legacy && version == Self.legacyFormatVersion) else {
                throw Corrupt(
                    path: path,
                    reason: "format version \(version), this build reads versions 2 to \(Self.formatVersion)"
                )
            }
            self.version = version
            let trailer = try FileIO.read(descriptor, offset: size - 12, count: 12, path: path)
            guard Array(trailer[8..<12]) == Self.trailerMagic else { throw Corrupt(path: path, reason: "bad trailer") }
            let (footerLength, footerChecksum) = trailer.withUnsafeBytes {
                (
                    Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt32.self))),
                    UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
                )
            }
            guard footerLength <= size - 20 else { throw Corrupt(path: path, reason: "bad footer length") }
            let footer = try FileIO.read(descriptor, offset: size - 12 - footerLength, count: footerLength, path: path)
            guard CRC32C.checksum(footer) == footerChecksum else {
                throw Corrupt(path: path, reason: "footer checksum mismatch")
            }
            let blocks: [BlockInfo]
            do {
                blocks = try footer.withUnsafeBytes { bytes throws in
                    try Self.parseFooter(bytes, dataEnd: size - 12 - footerLength, version: version)
                }
            } catch {
                throw Corrupt(path: path, reason: "undecodable footer")
            }
            self.blocks = blocks
            self.minTimestamp = blocks.map(\.minTimestamp).min() ?? 0
            self.maxTimestamp = blocks.map(\.maxTimestamp).max() ?? 0
            self.rowCount = blocks.reduce(0) { $0 + $1.rowCount }
            let lowest = blocks.compactMap(\.transactionIDs.first).min()
            let highest = blocks.compactMap(\.transactionIDs.last).max()
            self.transactionRange = lowest.flatMap { lowest in highest.map { lowest...$0 } }
            self.seriesAscending = zip(blocks, blocks.dropFirst()).allSatisfy { pair in
                (pair.0.seriesIDs.last ?? 0) <= (pair.1.seriesIDs.first ?? 0)
            }
            self.firstSeries = blocks.map { $0.seriesIDs.first ?? .max }
            self.lastSeries = blocks.map { $0.seriesIDs.last ?? 0 }
            let (low, high) = (firstSeries.min() ?? .max, lastSeries.max() ?? 0)
            self.seriesRange = low <= high ? low...high : nil
            self.byteCount = size
        } catch {
            Glibc.close(descriptor)
            throw error
        }
        files.adopt(descriptor, segment: identity)
    }

    private static func parseFooter(
        _ bytes: UnsafeRawBufferPointer,
        dataEnd: Int,
        version: UInt32
    ) throws
        -> [BlockInfo]
    {
        var reader = ByteReader(bytes)
        var blocks: [BlockInfo] = []
        for _ in 0..<(try reader.readVarint()) {
            let offset = Int(try reader.readVarint())
            let length = Int(try reader.readVarint())
            let checksum = try reader.readUInt32()
            let rowCount = Int(try reader.readVarint())
            let minimum = try reader.readSignedVarint()
            let maximum = try reader.readSignedVarint()
            let seriesCount = try reader.readVarint()
            guard seriesCount <= UInt64(rowCount), offset >= 8, offset + length <= dataEnd else {
                throw ByteReader.Truncated()
            }
            var series: [UInt32] = []
            var previous: UInt32 = 0
            for _ in 0..<seriesCount {
                previous &+= UInt32(truncatingIfNeeded: try reader.readVarint())
                series.append(previous)
            }
            var transactions: [Int] = []
            if version >= 2 {
                let transactionCount = try reader.readVarint()
                guard transactionCount <= UInt64(rowCount) else { throw ByteReader.Truncated() }
                var transaction: Int64 = 0
                for index in 0..<transactionCount {
                    if index == 0 {
                        transaction = try reader.readSignedVarint()
                    } else {
                        transaction &+= Int64(bitPattern: try reader.readVarint())
                    }
                    transactions.append(Int(transaction))
                }
            }
            blocks.append(
                BlockInfo(
                    offset: offset,
                    length: length,
                    checksum: checksum,
                    rowCount: rowCount,
                    minTimestamp: minimum,
                    maxTimestamp: maximum,
                    seriesIDs: series,
                    transactionIDs: transactions
                )
            )
        }
        return blocks
    }

    /// Reads and checks block `index`, then decodes the columns `selection` asks for, of the
    /// rows of the series `wanted` selects (a bitmap by id; `nil`: every row).
    /// - Throws: ``Corrupt`` on a checksum mismatch or an undecodable block.
    func readBlock(_ index: Int, selection: BlockCodec.Selection, wanted: [Bool]? = nil) throws -> BlockCodec.Columns {
        let bytes = try readChecked(index)
        do {
            return try bytes.withUnsafeBytes { buffer throws in
                guard let wanted else { return try BlockCodec.decode(buffer, selection: selection, version: version) }
                return try BlockCodec.decode(buffer, selection: selection, version: version) { id in
                    Int(id) < wanted.count && wanted[Int(id)]
                }
            }
        } catch {
            throw Corrupt(path: path, reason: "block \(index) does not decode")
        }
    }

    /// Reads blocks `indices` (adjacent in the file) in one read, checks each against its
    /// checksum and appends their summaries of the series `wants` selects to `slots` and `runs`
    /// (each run's ``SummaryRun/block`` set); false for a segment of a format version without
    /// them. On a throw the arrays are as they were.
    /// - Throws: ``Corrupt`` on a checksum mismatch or undecodable summaries.
    func readSummaries(
        _ indices: Range<Int>,
        wants: (UInt32) -> Bool,
        slots: inout [SlotSummary],
        runs: inout [SummaryRun]
    ) throws -> Bool {
        guard version >= 3, !indices.isEmpty else { return version >= 3 }
        let start = blocks[indices.lowerBound].offset
        let end = blocks[indices.upperBound - 1].offset + blocks[indices.upperBound - 1].length
        let bytes = try files.withDescriptor(segment: identity, path: path) { descriptor in
            try FileIO.read(descriptor, offset: start, count: end - start, path: path)
        }
        let (slotsBefore, runsBefore) = (slots.count, runs.count)
        do {
            try bytes.withUnsafeBytes { file in
                for index in indices {
                    let offset = blocks[index].offset - start
                    let length = blocks[index].length
                    guard offset >= 0, offset + length <= file.count,
                        CRC32C.checksum(UnsafeRawBufferPointer(rebasing: file[offset..<(offset + length)]))
                            == blocks[index].checksum
                    else { throw Corrupt(path: path, reason: "block \(index) checksum mismatch") }
                    let first = runs.count
                    do {
                        _ = try BlockCodec.decodeSummaries(
                            UnsafeRawBufferPointer(rebasing: file[offset..<(offset + length)]),
                            version: version,
                            wants: wants,
                            slots: &slots,
                            runs: &runs
                        )
                    } catch {
                        throw Corrupt(path: path, reason: "block \(index)'s summaries do not decode")
                    }
                    for run in first..<runs.count { runs[run].block = index }
                }
            }
        } catch {
            slots.removeSubrange(slotsBefore...)
            runs.removeSubrange(runsBefore...)
            throw error
        }
        return true
    }

    /// Whether block `index + 1` starts where block `index` ends (one read can take both).
    func adjacent(_ index: Int) -> Bool {
        index + 1 < blocks.count && blocks[index].offset + blocks[index].length == blocks[index + 1].offset
    }

    /// The stored (compressed) bytes of each column, summed over the blocks, in the order of
    /// ``BlockCodec/columnNames``; the rest of the file is block headers, footer and index.
    func columnBytes() throws -> [Int] {
        var sums = [Int](repeating: 0, count: BlockCodec.columnCount(version: version))
        for index in blocks.indices {
            let bytes = try readChecked(index)
            try bytes.withUnsafeBytes { buffer in
                for (column, slice) in try BlockCodec.columnSlices(buffer, version: version).columns.enumerated() {
                    sums[column] += slice.compressed.count
                }
            }
        }
        return sums
    }

    /// Block `index`'s bytes, checked against its checksum.
    private func readChecked(_ index: Int) throws -> [UInt8] {
        let info = blocks[index]
        let bytes = try files.withDescriptor(segment: identity, path: path) { descriptor in
            try FileIO.read(descriptor, offset: info.offset, count: info.length, path: path)
        }
        guard bytes.count == info.length, CRC32C.checksum(bytes) == info.checksum else {
            throw Corrupt(path: path, reason: "block \(index) checksum mismatch")
        }
        return bytes
    }

    /// Every row of the segment (for compaction), in (series, timestamp, transaction) order.
    func allRows() throws -> [StoredRow] {
        var rows: [StoredRow] = []
        rows.reserveCapacity(rowCount)
        for index in blocks.indices {
            let columns = try readBlock(index, selection: .all)
            for row in 0..<columns.timestamps.count {
                rows.append(
                    StoredRow(
                        seriesID: columns.seriesIDs[row],
                        timestamp: columns.timestamps[row],
                        value: try Self.value(columns, row),
                        transactionID: columns.transaction(row)
                    )
                )
            }
        }
        return rows
    }

    static func value(_ columns: BlockCodec.Columns, _ row: Int) throws -> EventValue {
        let text = columns.texts.isEmpty ? nil : columns.texts[row]
        return try text.withUnsafeBytesIfPresent { buffer in
            try ValueCodec.value(
                kind: columns.kinds[row],
                number: columns.numbers.isEmpty ? 0 : columns.numbers[row],
                text: buffer
            )
        }
    }

    /// Gives the segment a descriptor of its own before its file is renamed over or unlinked.
    func retire() throws {
        try files.retire(segment: identity, path: path)
    }

    deinit {
        files.forget(segment: identity)
    }
}

extension Optional where Wrapped == [UInt8] {
    func withUnsafeBytesIfPresent<Result>(_ body: (UnsafeRawBufferPointer?) throws -> Result) rethrows -> Result {
        switch self {
        case .none: return try body(nil)
        case .some(let bytes): return try bytes.withUnsafeBytes { try body($0) }
        }
    }
}
