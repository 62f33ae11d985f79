/// One appended batch as the write-ahead log holds it: the series it defines first, then its rows.
struct WALBatch: Sendable, Hashable {
    var newSeries: [(id: UInt32, key: SeriesKey)]
    var rows: [StoredRow]
    /// For a record of ``WALFormat/legacyRecordType`` (written before the transaction left the
    /// series key): the transaction of each new series' key, and the rows name those legacy
    /// series (their `transactionID` is `nil`). `nil` for records of the current type.
    var legacyTransactions: [Int?]?

    init(newSeries: [(id: UInt32, key: SeriesKey)], rows: [StoredRow], legacyTransactions: [Int?]? = nil) {
        self.newSeries = newSeries
        self.rows = rows
        self.legacyTransactions = legacyTransactions
    }

    static func == (lhs: WALBatch, rhs: WALBatch) -> Bool {
        lhs.rows == rhs.rows && lhs.newSeries.map(\.id) == rhs.newSeries.map(\.id)
            && lhs.newSeries.map(\.key) == rhs.newSeries.map(\.key) && lhs.legacyTransactions == rhs.legacyTransactions
    }

    func hash(into hasher: inout Hasher) { hasher.combine(rows) }
}

/// The framing of WAL records: `[length u32][crc32c u32][payload]`, and the batch payload.
enum WALFormat {
    /// Record layout 3: series keys without a transaction; each row its timestamp as a delta
    /// from the previous row's and its transaction (``TransactionCode``).
    static let recordType: UInt8 = 3
    /// Record layout 2 (format version 1 of the store): series keys with their transaction,
    /// rows without one. Read only to convert a directory (``LegacyConversion``).
    static let legacyRecordType: UInt8 = 2
    static let maximumRecordLength = 1 << 26

    /// A whole framed record for `batch`.
    static func frame(_ batch: WALBatch) -> [UInt8] {
        var payload = ByteWriter(capacity: 64 + batch.rows.count * 24)
        payload.write(recordType)
        payload.writeVarint(UInt64(batch.newSeries.count))
        for (id, key) in batch.newSeries {
            payload.writeVarint(UInt64(id))
            key.write(to: &payload)
        }
        payload.writeVarint(UInt64(batch.rows.count))
        var previousTimestamp: Int64 = 0
        for row in batch.rows {
            payload.writeVarint(UInt64(row.seriesID))
            payload.writeSignedVarint(row.timestamp &- previousTimestamp)
            previousTimestamp = row.timestamp
            TransactionCode.write(row.transactionID, to: &payload)
            let (kind, number, text) = ValueCodec.parts(of: row.value)
            payload.write(kind)
            if ValueCodec.isNumeric(kind) { payload.write(number) }
            if let text { payload.writeBytes(text) }
        }
        var framed = ByteWriter(capacity: payload.bytes.count + 8)
        framed.write(UInt32(payload.bytes.count))
        framed.write(CRC32C.checksum(payload.bytes))
        framed.bytes.append(contentsOf: payload.bytes)
        return framed.bytes
    }

    /// The batch a record's payload holds; `nil` when it is not one whole batch.
    static func decode(_ payload: UnsafeRawBufferPointer) throws -> WALBatch? {
        guard let (batch, length) = try decodePrefix(payload), length == payload.count else { return nil }
        return batch
    }

    /// The batch at the start of `payload` and the bytes it takes; `nil` when the bytes do
    /// not begin with a well-formed batch (throws when they end inside one).
    static func decodePrefix(_ payload: UnsafeRawBufferPointer) throws -> (WALBatch, Int)? {
        var reader = ByteReader(payload)
        let type = try reader.readByte()
        guard type == recordType || type == legacyRecordType else { return nil }
        let legacy = type == legacyRecordType
        var newSeries: [(UInt32, SeriesKey)] = []
        var legacyTransactions: [Int?] = []
        for _ in 0..<(try reader.readVarint()) {
            let id = UInt32(truncatingIfNeeded: try reader.readVarint())
            if legacy {
                guard let (key, transactionID) = try SeriesKey.readLegacy(from: &reader) else { return nil }
                newSeries.append((id, key))
                legacyTransactions.append(transactionID)
            } else {
                guard let key = try SeriesKey.read(from: &reader) else { return nil }
                newSeries.append((id, key))
            }
        }
        let rowCount = try reader.readVarint()
        guard rowCount <= UInt64(payload.count) else { return nil }
        var rows: [StoredRow] = []
        rows.reserveCapacity(Int(rowCount))
        var timestamp: Int64 = 0
        for _ in 0..<rowCount {
            let seriesID = UInt32(truncatingIfNeeded: try reader.readVarint())
            timestamp = timestamp &+ (try reader.readSignedVarint())
            let transactionID = legacy ? nil : try TransactionCode.read(from: &reader)
            let kind = try reader.readByte()
            let number = ValueCodec.isNumeric(kind) ? try reader.readDouble() : 0
            let text: UnsafeRawBufferPointer? = ValueCodec.hasText(kind) ? try reader.readBytes() : nil
            rows.append(
                StoredRow(
                    seriesID: seriesID,
                    timestamp: timestamp,
                    value: try ValueCodec.value(kind: kind, number: number, text: text),
                    transactionID: transactionID
                )
            )
        }
        let batch = WALBatch(newSeries: newSeries, rows: rows, legacyTransactions: legacy ? legacyTransactions : nil)
        return (batch, reader.position)
    }
}
