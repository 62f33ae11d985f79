/// What a read selects: the wanted series, and the memtables' rows of them.
extension TimeSeriesStore {
    /// The memtables' rows of the wanted series inside `from..<to` (of `transaction`, if
    /// given), normalized per series. The memtables are newer than every segment; later chunks
    /// are newer than earlier ones.
    func memoryRows(
        _ wanted: [Bool],
        from: Int64,
        to: Int64,
        transaction: Int?,
        _ snapshot: Snapshot
    ) -> [UInt32: SeriesRows] {
        var memory: [UInt32: SeriesRows] = [:]
        for (chunkIndex, chunk) in snapshot.memory.enumerated() {
            let rank = Self.memoryRank(chunkIndex)
            for row in chunk
            where Int(row.seriesID) < wanted.count && wanted[Int(row.seriesID)] && row.timestamp >= from
                && row.timestamp < to && (transaction == nil || row.transactionID == transaction)
            {
                memory[row.seriesID, default: SeriesRows()].append(
                    row.timestamp,
                    row.value,
                    transaction: row.transactionID,
                    rank: rank
                )
            }
        }
        for series in memory.keys { memory[series]!.normalize() }
        return memory
    }

    /// The rank of the memtable chunk at `index`: above every segment's sequence.
    static func memoryRank(_ index: Int) -> UInt64 { UInt64(1) << 63 + UInt64(index) }

    /// The series `query` selects: a bitmap by id and the ids in ascending order.
    func wantedSeries(_ query: EventQuery, _ snapshot: Snapshot) -> ([Bool], [UInt32]) {
        var wanted = [Bool](repeating: false, count: snapshot.keys.count)
        var wantedIDs: [UInt32] = []
        if let chargePointIDs = query.chargePointIDs {
            for chargePointID in chargePointIDs {
                for id in snapshot.byChargePoint[chargePointID] ?? [] where query.matches(snapshot.keys[Int(id)]) {
                    wanted[Int(id)] = true
                    wantedIDs.append(id)
                }
            }
        } else {
            for (id, key) in snapshot.keys.enumerated() where query.matches(key) {
                wanted[id] = true
                wantedIDs.append(UInt32(id))
            }
        }
        wantedIDs.sort()
        return (wanted, wantedIDs)
    }

    /// Whether a block's series ids include one of the wanted (a bitmap by id): cost in
    /// the block's ids, not in the number of wanted series.
    static func holdsAny(_ ids: [UInt32], of wanted: [Bool]) -> Bool {
        ids.contains { Int($0) < wanted.count && wanted[Int($0)] }
    }
}
