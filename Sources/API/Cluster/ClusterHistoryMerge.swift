import TimeSeries

/// Where a row stands in a history that spans nodes, by what every node computes alike.
///
/// A node's own cursor names its series by the id its store gave it, which differs from node
/// to node. Across nodes rows are ordered by timestamp, then by a digest of the series key
/// (32 bits of FNV-1a over ``SeriesIdentity/bytes``), then by transaction (none first); a
/// cursor is that triple, spelled as a node's cursor is (`timestamp.digest[.transaction]`).
/// Distinct series whose digests collide are ordered by their keys' bytes, and a page never
/// ends between rows that share the triple (see ``ClusterHistoryMerge/page(_:limit:descending:)``),
/// so a cursor always resumes exactly.
struct ClusterCursor: Sendable, Hashable, CustomStringConvertible {
    var timestamp: Int64
    var digest: UInt32
    var transactionID: Int?

    init(timestamp: Int64, digest: UInt32, transactionID: Int?) {
        self.timestamp = timestamp
        self.digest = digest
        self.transactionID = transactionID
    }

    /// The cursor a client sent back, parsed as a node's cursor is.
    init(_ cursor: EventCursor) {
        self.init(timestamp: cursor.timestamp, digest: cursor.seriesID, transactionID: cursor.transactionID)
    }

    /// `timestamp.digest` or `timestamp.digest.transaction`.
    var description: String {
        EventCursor(timestamp: timestamp, seriesID: digest, transactionID: transactionID).description
    }

    /// Whether `lhs` comes before `rhs` in ascending order.
    static func ascending(_ lhs: ClusterCursor, _ rhs: ClusterCursor) -> Bool {
        if (lhs.timestamp, lhs.digest) != (rhs.timestamp, rhs.digest) {
            return (lhs.timestamp, lhs.digest) < (rhs.timestamp, rhs.digest)
        }
        switch (lhs.transactionID, rhs.transactionID) {
        case (nil, .some): return true
        case (.some(let left), .some(let right)): return left < right
        default: return false
        }
    }

    /// Whether a row at `position` comes after this cursor in the query's order.
    func isBefore(_ position: ClusterCursor, descending: Bool) -> Bool {
        descending ? Self.ascending(position, self) : Self.ascending(self, position)
    }
}

/// A series key's identity as bytes every node spells alike: each field in order, a string as
/// a presence byte, its length (4 bytes) and its UTF-8, the connector as 8 bytes, the kind as one.
struct SeriesIdentity: Sendable, Hashable {
    let bytes: [UInt8]
    let digest: UInt32

    init(_ key: SeriesKey) {
        var bytes: [UInt8] = []
        func string(_ text: String?) {
            guard let text else {
                bytes.append(0)
                return
            }
            bytes.append(1)
            let utf8 = Array(text.utf8)
            withUnsafeBytes(of: UInt32(utf8.count).bigEndian) { bytes.append(contentsOf: $0) }
            bytes += utf8
        }
        string(key.chargePointID)
        withUnsafeBytes(of: Int64(key.connectorID).bigEndian) { bytes.append(contentsOf: $0) }
        bytes.append(key.kind.rawValue)
        for field in [key.measurand, key.phase, key.unit, key.location, key.context, key.format, key.eventType] {
            string(field)
        }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        self.bytes = bytes
        digest = UInt32(truncatingIfNeeded: hash ^ (hash >> 32))
    }

    /// A total order on distinct keys: by their bytes.
    static func precedes(_ lhs: SeriesIdentity, _ rhs: SeriesIdentity) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }
}

/// What one node answered for a page: its rows after the cursor, and how far they go.
struct HistoryShard: Sendable {
    var rows: [EventRow]
    /// Every row of the node up to this timestamp (from it, newest first) is in ``rows``;
    /// `nil`: every row to the end of the range is.
    var through: Int64?
}

/// Merges what the nodes answered into one answer: pure, so every node that merges the same
/// answers gives the same page, cursor and buckets.
enum ClusterHistoryMerge {
    /// One page from the nodes' shards, given in the order of their node ids.
    ///
    /// Rows sort as ``ClusterCursor`` says. A row stored on two nodes (same series key,
    /// timestamp and transaction: a message retried after the charger moved) is kept once,
    /// from the first node. Only rows every node has answered for are used: up to the
    /// earliest ``HistoryShard/through`` (the latest, newest first). A page that would end
    /// inside rows sharing a cursor ends before them (or, if they start it, after them).
    /// - Returns: The page's rows and the cursor after its last row when more rows follow.
    static func page(
        _ shards: [HistoryShard],
        limit: Int,
        descending: Bool
    ) -> (rows: [EventRow], nextCursor: ClusterCursor?) {
        var identities: [SeriesKey: SeriesIdentity] = [:]
        var entries: [Entry] = []
        var boundary: Int64?
        for (node, shard) in shards.enumerated() {
            if let through = shard.through {
                boundary = boundary.map { descending ? max($0, through) : min($0, through) } ?? through
            }
            for row in shard.rows {
                let identity: SeriesIdentity
                if let known = identities[row.series] {
                    identity = known
                } else {
                    identity = SeriesIdentity(row.series)
                    identities[row.series] = identity
                }
                entries.append(Entry(row: row, identity: identity, node: node))
            }
        }
        if let boundary {
            entries.removeAll { descending ? $0.row.timestamp < boundary : $0.row.timestamp > boundary }
        }
        entries.sort { $0.precedes($1, descending: descending) }
        var unique: [Entry] = []
        unique.reserveCapacity(entries.count)
        for entry in entries {
            if let last = unique.last, last.row.timestamp == entry.row.timestamp,
                last.row.transactionID == entry.row.transactionID, last.identity == entry.identity
            {
                continue
            }
            unique.append(entry)
        }
        var end = min(limit, unique.count)
        if end < unique.count, unique[end - 1].cursor == unique[end].cursor {
            let shared = unique[end].cursor
            var start = end - 1
            while start > 0, unique[start - 1].cursor == shared { start -= 1 }
            if start > 0 {
                end = start
            } else {
                while end < unique.count, unique[end].cursor == shared { end += 1 }
            }
        }
        let more = end < unique.count || boundary != nil
        return (unique[..<end].map(\.row), more && end > 0 ? unique[end - 1].cursor : nil)
    }

    /// A row with what orders it.
    private struct Entry {
        var row: EventRow
        var identity: SeriesIdentity
        var node: Int

        var cursor: ClusterCursor {
            ClusterCursor(timestamp: row.timestamp, digest: identity.digest, transactionID: row.transactionID)
        }

        func precedes(_ other: Entry, descending: Bool) -> Bool {
            let (left, right) = (cursor, other.cursor)
            if left != right {
                return descending ? ClusterCursor.ascending(right, left) : ClusterCursor.ascending(left, right)
            }
            if identity != other.identity {
                return descending
                    ? SeriesIdentity.precedes(other.identity, identity)
                    : SeriesIdentity.precedes(identity, other.identity)
            }
            return node < other.node
        }
    }

    /// The nodes' buckets combined: per series and bucket start, counts and sums added,
    /// the least minimum and the greatest maximum, the first value of the earliest first and
    /// the last value of the latest last (ties to the first node); averages follow from sum
    /// and count. Ordered by series key, then bucket start.
    /// - Parameter shards: Each node's buckets, in the order of their node ids.
    static func buckets(_ shards: [[AggregateBucket]]) -> [AggregateBucket] {
        var combined: [BucketKey: AggregateBucket] = [:]
        var identities: [SeriesKey: SeriesIdentity] = [:]
        for buckets in shards {
            for bucket in buckets {
                let key = BucketKey(series: bucket.series, start: bucket.start)
                guard var merged = combined[key] else {
                    combined[key] = bucket
                    if identities[bucket.series] == nil { identities[bucket.series] = SeriesIdentity(bucket.series) }
                    continue
                }
                merged.count += bucket.count
                merged.sum += bucket.sum
                merged.minimum = min(merged.minimum, bucket.minimum)
                merged.maximum = max(merged.maximum, bucket.maximum)
                if bucket.firstTimestamp < merged.firstTimestamp {
                    merged.first = bucket.first
                    merged.firstTimestamp = bucket.firstTimestamp
                }
                if bucket.lastTimestamp > merged.lastTimestamp {
                    merged.last = bucket.last
                    merged.lastTimestamp = bucket.lastTimestamp
                }
                combined[key] = merged
            }
        }
        return combined.values.sorted { lhs, rhs in
            if lhs.series != rhs.series {
                if lhs.series < rhs.series { return true }
                if rhs.series < lhs.series { return false }
                return SeriesIdentity.precedes(identities[lhs.series]!, identities[rhs.series]!)
            }
            return lhs.start < rhs.start
        }
    }

    private struct BucketKey: Hashable {
        var series: SeriesKey
        var start: Int64
    }
}
