/// One appended batch as the write-ahead log holds it: the series it defines first, then its rows.
struct WALBatch: Sendable, Hashable {
    var newSeries: [(id: UInt32, key: SeriesKey)]
    var rows: [StoredRow]

    static func == (lhs: WALBatch, rhs: WALBatch) -> Bool {
        lhs.rows == rhs.rows && lhs.newSeries.map(\.id) == rhs.newSeries.map(\.id)
            && lhs.newSeries.map(\.key) == rhs.newSeries.map(\.key)
    }

    func hash(into hasher: inout Hasher) { hasher.combine(rows) }
}

/// The framing of WAL records: `[length u32][crc32c u32][payload]`, and the batch payload.
enum WALFormat {
    /// Record layout 2: timestamps as deltas from the previous row's.
    static let recordType: UInt8 = 2
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

    /// What a WAL file holds: every intact record up to the first torn or corrupt one.
    struct Contents {
        var batches: [WALBatch]
        /// Bytes of intact records; anything after is a torn or corrupt tail to cut.
        var validLength: Int
        /// Why the tail was cut, if it was.
        var tailProblem: String?
    }

    /// Parses a WAL file's bytes (pure; the store cuts the tail and logs).
    static func parse(_ bytes: UnsafeRawBufferPointer) -> Contents {
        var batches: [WALBatch] = []
        var position = 0
        while position < bytes.count {
            guard bytes.count - position >= 8 else {
                return Contents(batches: batches, validLength: position, tailProblem: "torn record header")
            }
            let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self)))
            let checksum = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position + 4, as: UInt32.self))
            guard length <= maximumRecordLength, bytes.count - position - 8 >= length else {
                return Contents(batches: batches, validLength: position, tailProblem: "torn record of \(length) bytes")
            }
            let payload = UnsafeRawBufferPointer(rebasing: bytes[position + 8..<position + 8 + length])
            guard CRC32C.checksum(payload) == checksum else {
                return Contents(batches: batches, validLength: position, tailProblem: "checksum mismatch")
            }
            guard let batch = try? decode(payload) else {
                return Contents(batches: batches, validLength: position, tailProblem: "undecodable record")
            }
            batches.append(batch)
            position += 8 + length
        }
        return Contents(batches: batches, validLength: position, tailProblem: nil)
    }

    static func decode(_ payload: UnsafeRawBufferPointer) throws -> WALBatch? {
        var reader = ByteReader(payload)
        guard try reader.readByte() == recordType else { return nil }
        var newSeries: [(UInt32, SeriesKey)] = []
        for _ in 0..<(try reader.readVarint()) {
            let id = UInt32(truncatingIfNeeded: try reader.readVarint())
            guard let key = try SeriesKey.read(from: &reader) else { return nil }
            newSeries.append((id, key))
        }
        let rowCount = try reader.readVarint()
        guard rowCount <= UInt64(payload.count) else { return nil }
        var rows: [StoredRow] = []
        rows.reserveCapacity(Int(rowCount))
        var timestamp: Int64 = 0
        for _ in 0..<rowCount {
            let seriesID = UInt32(truncatingIfNeeded: try reader.readVarint())
            timestamp = timestamp &+ (try reader.readSignedVarint())
            let kind = try reader.readByte()
            let number = ValueCodec.isNumeric(kind) ? try reader.readDouble() : 0
            let text: UnsafeRawBufferPointer? = ValueCodec.hasText(kind) ? try reader.readBytes() : nil
            rows.append(
                StoredRow(
                    seriesID: seriesID,
                    timestamp: timestamp,
                    value: try ValueCodec.value(kind: kind, number: number, text: text)
                )
            )
        }
        guard reader.isAtEnd else { return nil }
        return WALBatch(newSeries: newSeries, rows: rows)
    }
}
