/// Decoded blocks of one read: a block that several windows of a page overlap is decoded once.
struct BlockCache {
    struct Key: Hashable {
        var segment: UInt64
        var block: Int
    }

    let selection: BlockCodec.Selection
    /// The series whose rows are decoded (a bitmap by id; `nil`: every row of a block).
    let wanted: [Bool]?
    private var decoded: [Key: (columns: BlockCodec.Columns, info: BlockInfo)] = [:]

    /// - Parameter wanted: The series a read needs (a bitmap by id): a block's other rows are
    ///   left out of its columns (`nil`: none is).
    init(selection: BlockCodec.Selection, wanted: [Bool]? = nil) {
        self.selection = selection
        self.wanted = wanted
    }

    /// The block's columns, and whether this call decoded them.
    mutating func columns(_ candidate: TimeSeriesStore.CandidateBlock) throws -> (BlockCodec.Columns, Bool) {
        let key = Key(segment: candidate.segment.identity, block: candidate.index)
        if let cached = decoded[key] { return (cached.columns, false) }
        let columns = try candidate.segment.readBlock(candidate.index, selection: selection, wanted: wanted)
        decoded[key] = (columns, candidate.info)
        return (columns, true)
    }

    /// Lets go of the decoded blocks whose footer entry `isBehind` says no read needs again.
    mutating func forget(where isBehind: (BlockInfo) -> Bool) {
        decoded = decoded.filter { !isBehind($0.value.info) }
    }
}
