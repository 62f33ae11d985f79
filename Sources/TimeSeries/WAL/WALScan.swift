/// Reading a file of WAL records (a log file or the series dictionary): its intact records,
/// and where and how the first bad one is bad.
struct WALScan {
    /// The batches of the intact records before the first bad one.
    var batches: [WALBatch] = []
    /// Where each of them starts.
    var offsets: [Int] = []
    /// The bytes of those records: where the first bad one starts, or the file's length.
    var validLength = 0
    /// The first bad record, if any.
    var damage: Damage?

    struct Damage: Sendable {
        /// Where the bad record starts in the file.
        var offset: Int
        /// What is wrong with it.
        var reason: String
        /// True when the file could end this way after a crash and nothing readable follows:
        /// a record cut short by the end of the file (its header, or a body that does not
        /// hold a whole batch), a last record that fails its checks and reaches exactly the
        /// end of the file, or only zero bytes (space the file system allotted but whose data
        /// never reached the disk) from the record to the end.
        var isTornTail: Bool
    }

    /// Reads `bytes` up to the first bad record.
    /// - Parameter maximumRecordLength: A header declaring more is damage, not a record.
    init(_ bytes: UnsafeRawBufferPointer, maximumRecordLength: Int) {
        var position = 0
        while position < bytes.count {
            switch Self.record(in: bytes, at: position, maximumRecordLength: maximumRecordLength) {
            case .intact(let batch, let length):
                batches.append(batch)
                offsets.append(position)
                position += length
            case .bad(let reason, let tornShaped):
                validLength = position
                damage = Damage(
                    offset: position,
                    reason: reason,
                    isTornTail: tornShaped || Self.onlyZeros(bytes, from: position)
                )
                return
            }
        }
        validLength = position
    }

    enum Record {
        case intact(WALBatch, length: Int)
        /// `tornShaped`: the record ends the file as a crash mid-write leaves it.
        case bad(reason: String, tornShaped: Bool)
    }

    /// The record that starts at `position`.
    static func record(
        in bytes: UnsafeRawBufferPointer,
        at position: Int,
        maximumRecordLength: Int
    ) -> Record {
        let remaining = bytes.count - position
        guard remaining >= 8 else {
            return .bad(reason: "torn record header (\(remaining) of 8 bytes)", tornShaped: true)
        }
        let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self)))
        let checksum = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position + 4, as: UInt32.self))
        guard length <= maximumRecordLength else {
            return .bad(reason: "impossible record length \(length)", tornShaped: false)
        }
        guard remaining - 8 >= length else {
            // A crash mid-write leaves the beginning of one record. If the bytes present hold
            // a whole batch, the length in the header is damaged instead (and what follows
            // may be records).
            let present = UnsafeRawBufferPointer(rebasing: bytes[(position + 8)...])
            let holdsWholeBatch = (try? WALFormat.decodePrefix(present)) != nil
            return .bad(
                reason: "record of \(length) bytes with \(remaining - 8) present",
                tornShaped: !holdsWholeBatch
            )
        }
        let reachesEnd = remaining - 8 == length
        let payload = UnsafeRawBufferPointer(rebasing: bytes[position + 8..<position + 8 + length])
        guard CRC32C.checksum(payload) == checksum else {
            return .bad(reason: "checksum mismatch", tornShaped: reachesEnd)
        }
        if let type = payload.first, type > WALFormat.recordType {
            // Intact, but of a newer layout: never a torn tail to cut.
            return .bad(
                reason: "record of type \(type), written by a newer version (this build reads types up to "
                    + "\(WALFormat.recordType))",
                tornShaped: false
            )
        }
        guard let batch = try? WALFormat.decode(payload) else {
            return .bad(reason: "undecodable record", tornShaped: reachesEnd)
        }
        return .intact(batch, length: 8 + length)
    }

    static func onlyZeros(_ bytes: UnsafeRawBufferPointer, from position: Int) -> Bool {
        bytes[position...].allSatisfy { $0 == 0 }
    }
}

/// The readable records of a damaged WAL file, for repair: a search past each bad stretch
/// for the next place where intact records start again.
struct WALSalvage {
    struct Record {
        var batch: WALBatch
        var offset: Int
        var length: Int
    }

    var records: [Record] = []
    /// Byte ranges that hold no readable record.
    var unreadable: [Range<Int>] = []

    /// - Parameter maximumRecordLength: As for ``WALScan``.
    init(_ bytes: UnsafeRawBufferPointer, maximumRecordLength: Int) {
        var position = 0
        var badStart: Int?
        while position < bytes.count {
            // Inside a bad stretch, only a record type byte where a payload would start is
            // worth a checksum.
            let candidate =
                badStart == nil
                || (bytes.count - position > 8 && bytes[position + 8] == WALFormat.recordType)
            if candidate,
                case .intact(let batch, let length) = WALScan.record(
                    in: bytes,
                    at: position,
                    maximumRecordLength: maximumRecordLength
                ), badStart == nil || batch.isPlausible
            {
                if let start = badStart {
                    unreadable.append(start..<position)
                    badStart = nil
                }
                records.append(Record(batch: batch, offset: position, length: length))
                position += length
            } else {
                if badStart == nil { badStart = position }
                position += 1
            }
        }
        if let start = badStart { unreadable.append(start..<bytes.count) }
    }
}

extension WALBatch {
    /// Holds something: a search through damaged bytes does not take an empty batch (eight
    /// zero bytes frame one) for a record.
    var isPlausible: Bool { !rows.isEmpty || !newSeries.isEmpty }
}
