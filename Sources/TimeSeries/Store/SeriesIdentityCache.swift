/// The writer's recently appended keys by identity: per slot, a key object's address, its
/// series id, and the key itself (which keeps the object, and so the address, from being
/// reused while cached). Callers reuse one key object per series, so most rows skip the
/// dictionary probe.
///
/// A class, so that its arrays can be accessed at once; `@unchecked Sendable` because it is
/// only used inside the store's state mutex.
final class SeriesIdentityCache: @unchecked Sendable {
    private var identities: [UInt]
    private var ids: [UInt32]
    private var keys: [SeriesKey?]

    /// 65,536 slots (1.25 MiB): a server's active series (a thousand chargers with two
    /// connectors and ten measurands are 20,000) mostly keep a slot of their own.
    static let defaultSlots = 65_536

    /// - Parameter slots: A power of two.
    init(slots: Int = SeriesIdentityCache.defaultSlots) {
        identities = Array(repeating: 0, count: slots)
        ids = Array(repeating: 0, count: slots)
        keys = Array(repeating: nil, count: slots)
    }

    /// What resolving a batch found beyond rows.
    struct Resolution {
        /// Series the batches name that the store does not hold yet, with the ids given them
        /// (from `known.count` on, in order of first appearance).
        var newSeries: [(id: UInt32, key: SeriesKey)] = []
        /// An id of a resolved row that the store never gave out, if any (its batch is left out).
        var unknownID: UInt32?
    }

    /// Turns the batches' rows into stored rows appended to `rows`: keyed rows get the id of
    /// their series (from the cache, `known`, or a new one), resolved rows are checked
    /// against the ids the store gave out.
    ///
    /// The cache may then hold ids of series these batches define: if they are not committed,
    /// the caller must forget them all (``clear()``).
    func resolve(
        _ batches: [AppendBatch],
        known: [SeriesKey: UInt32],
        knownCount: UInt32,
        into rows: inout [StoredRow]
    ) -> Resolution {
        var resolution = Resolution()
        var assigned: [SeriesKey: UInt32] = [:]
        var nextID = knownCount
        let slotMask = identities.count - 1
        identities.withUnsafeMutableBufferPointer { identities in
            ids.withUnsafeMutableBufferPointer { ids in
                for entry in batches {
                    let batch: [EventRow]
                    switch entry {
                    case .keyed(let keyed):
                        batch = keyed
                    case .resolved(let resolved):
                        // Ids the store gave out: only those of series it already holds.
                        if let unknown = resolved.first(where: { $0.seriesID >= knownCount }) {
                            resolution.unknownID = unknown.seriesID
                        } else {
                            rows.append(contentsOf: resolved)
                        }
                        continue
                    }
                    batch.withUnsafeBufferPointer { batch in
                        for index in batch.indices {
                            // A hit compares addresses only: the key object's reference count
                            // is not touched, so its cache line stays with the event loop
                            // that made the row.
                            let identity = batch[index].series.identity
                            // Two slots per key (a pair): two keys whose addresses hash alike
                            // do not evict each other.
                            let first = SeriesKey.identitySlot(identity) & slotMask
                            let second = first ^ 1
                            let id: UInt32
                            if identities[first] == identity {
                                id = ids[first]
                            } else if identities[second] == identity {
                                id = ids[second]
                            } else {
                                let series = batch[index].series
                                if let existing = known[series] ?? assigned[series] {
                                    id = existing
                                    // The newer key takes the first slot, the older moves on.
                                    identities[second] = identities[first]
                                    ids[second] = ids[first]
                                    keys[second] = keys[first]
                                    identities[first] = identity
                                    ids[first] = existing
                                    // Holds the object, so that its address names it while cached.
                                    keys[first] = series
                                } else {
                                    id = nextID
                                    nextID += 1
                                    assigned[series] = id
                                    resolution.newSeries.append((id, series))
                                }
                            }
                            rows.append(
                                StoredRow(seriesID: id, timestamp: batch[index].timestamp, value: batch[index].value)
                            )
                        }
                    }
                }
            }
        }
        return resolution
    }

    /// Forgets every cached key.
    func clear() {
        let slots = identities.count
        identities = Array(repeating: 0, count: slots)
        ids = Array(repeating: 0, count: slots)
        keys = Array(repeating: nil, count: slots)
    }
}
