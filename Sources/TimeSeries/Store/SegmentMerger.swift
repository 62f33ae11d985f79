/// The rows of several segments in (series, timestamp, transaction) order, as one sorted stream:
/// of rows equal in all three, only the newest segment's (the one a query would show). Reads
/// one block of each segment at a time, so a day of any size merges in bounded memory.
struct SegmentMerger {
    /// One segment's place: its decoded block and the row within it.
    private struct Cursor {
        let segment: Segment
        let sequence: UInt64
        var block = -1
        var columns = BlockCodec.Columns()
        var row = 0
        /// The row's key, kept beside the columns: the heap compares these alone.
        var series: UInt32 = 0
        var timestamp: Int64 = 0
        var transaction: Int?

        mutating func readKey() {
            series = columns.seriesIDs[row]
            timestamp = columns.timestamps[row]
            transaction = columns.transaction(row)
        }
    }

    private var cursors: [Cursor]
    /// Indices of the cursors with rows left, as a binary min-heap by their rows' order.
    private var heap: [Int] = []

    /// - Throws: ``Segment/Corrupt`` when a first block does not read back.
    init(_ segments: [Segment]) throws {
        cursors = segments.map { Cursor(segment: $0, sequence: $0.sequence) }
        for index in cursors.indices where try load(index) {
            heap.append(index)
            siftUp(heap.count - 1)
        }
    }

    /// The series and timestamp of the next row, or nil when none are left.
    var nextGroup: (series: UInt32, timestamp: Int64)? {
        heap.first.map { (cursors[$0].series, cursors[$0].timestamp) }
    }

    /// The next row, or nil when none are left.
    /// - Throws: ``Segment/Corrupt`` when a block does not read back.
    mutating func next() throws -> StoredRow? {
        guard let top = heap.first else { return nil }
        let row = try cursors[top].columns.withRow(cursors[top].row)
        try advance()
        // Older rows equal to it (they sort after it: newest first).
        while let other = heap.first, cursors[other].series == row.seriesID,
            cursors[other].timestamp == row.timestamp, cursors[other].transaction == row.transactionID
        {
            try advance()
        }
        return row
    }

    /// Moves the heap's top cursor past its row, to its next block when its block is done.
    private mutating func advance() throws {
        let top = heap[0]
        cursors[top].row += 1
        if cursors[top].row < cursors[top].columns.timestamps.count {
            cursors[top].readKey()
        } else if !(try load(top)) {
            heap[0] = heap[heap.count - 1]
            heap.removeLast()
        }
        if !heap.isEmpty { siftDown(0) }
    }

    /// Decodes cursor `index`'s next block; false when it has none left.
    private mutating func load(_ index: Int) throws -> Bool {
        let segment = cursors[index].segment
        var block = cursors[index].block + 1
        while block < segment.blocks.count, segment.blocks[block].rowCount == 0 { block += 1 }
        guard block < segment.blocks.count else { return false }
        cursors[index].columns = try segment.readBlock(block, selection: .all)
        cursors[index].block = block
        cursors[index].row = 0
        guard !cursors[index].columns.timestamps.isEmpty else { return try load(index) }
        cursors[index].readKey()
        return true
    }

    /// Whether cursor `left`'s row comes before cursor `right`'s: by series, timestamp and
    /// transaction, and of equal rows the newer segment's first.
    private func before(_ left: Int, _ right: Int) -> Bool {
        if cursors[left].series != cursors[right].series { return cursors[left].series < cursors[right].series }
        if cursors[left].timestamp != cursors[right].timestamp {
            return cursors[left].timestamp < cursors[right].timestamp
        }
        if cursors[left].transaction != cursors[right].transaction {
            return TransactionCode.precedes(cursors[left].transaction, cursors[right].transaction)
        }
        return cursors[left].sequence > cursors[right].sequence
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard before(heap[child], heap[parent]) else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { return }
            var smallest = left
            if left + 1 < heap.count, before(heap[left + 1], heap[left]) { smallest = left + 1 }
            guard before(heap[smallest], heap[parent]) else { return }
            heap.swapAt(smallest, parent)
            parent = smallest
        }
    }
}

extension BlockCodec.Columns {
    /// Row `row` as the store keeps it.
    fileprivate func withRow(_ row: Int) throws -> StoredRow {
        StoredRow(
            seriesID: seriesIDs[row],
            timestamp: timestamps[row],
            value: try Segment.value(self, row),
            transactionID: transaction(row)
        )
    }
}
