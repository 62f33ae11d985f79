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
        /// Batches left out (by index) because they would pass a charge point's series limit.
        var refused: [Int: SeriesLimitExceeded] = [:]
    }

    /// The limit on series per charge point, and the series the store holds of each.
    struct SeriesLimit {
        var maximum: Int
        var seriesByChargePoint: [String: [UInt32]]
    }

    /// Series that batches resolved so far add per charge point, while a batch may still be
    /// left out.
    private struct PendingSeries {
        var counts: [String: Int] = [:]
        /// Those the batch being resolved added (taken back if it is left out).
        var ofBatch: [String] = []

        /// Admits the new series `series`, or tells the refusal when it is one too many.
        mutating func admit(_ series: SeriesKey, _ limit: SeriesLimit) -> SeriesLimitExceeded? {
            let chargePoint = series.chargePointID
            let count = (limit.seriesByChargePoint[chargePoint]?.count ?? 0) + (counts[chargePoint] ?? 0)
            guard count < limit.maximum else {
                return SeriesLimitExceeded(chargePointID: chargePoint, limit: limit.maximum, series: series)
            }
            counts[chargePoint, default: 0] += 1
            ofBatch.append(chargePoint)
            return nil
        }

        mutating func takeBackBatch() {
            for chargePoint in ofBatch { counts[chargePoint, default: 1] -= 1 }
            ofBatch.removeAll(keepingCapacity: true)
        }
    }

    /// Turns the batches' rows into stored rows appended to `rows`: keyed rows get the id of
    /// their series (from the cache, `known`, or a new one), resolved rows are checked
    /// against the ids the store gave out.
    ///
    /// With a `limit`, a keyed batch with a new series that would be one too many for its
    /// charge point is left out whole (all or nothing per batch): only new series are
    /// checked, a look-up each.
    ///
    /// The cache may then hold ids of series these batches define: if they are not committed,
    /// the caller must forget them all (``clear()``).
    func resolve(
        _ batches: [AppendBatch],
        known: [SeriesKey: UInt32],
        knownCount: UInt32,
        limit: SeriesLimit? = nil,
        into rows: inout [StoredRow]
    ) -> Resolution {
        var resolution = Resolution()
        var assigned: [SeriesKey: UInt32] = [:]
        var pending = PendingSeries()
        var nextID = knownCount
        let slotMask = identities.count - 1
        identities.withUnsafeMutableBufferPointer { identities in
            ids.withUnsafeMutableBufferPointer { ids in
                for (batchIndex, entry) in batches.enumerated() {
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
                    let rowsBefore = rows.count
                    let newSeriesBefore = resolution.newSeries.count
                    // Slots given ids this batch assigned: forgotten if it is left out.
                    var slotsOfNewSeries: [Int] = []
                    let refusal: SeriesLimitExceeded? = batch.withUnsafeBufferPointer { batch in
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
                                    if existing >= knownCount { slotsOfNewSeries.append(first) }
                                    // The newer key takes the first slot, the older moves on.
                                    identities[second] = identities[first]
                                    ids[second] = ids[first]
                                    keys[second] = keys[first]
                                    identities[first] = identity
                                    ids[first] = existing
                                    // Holds the object, so that its address names it while cached.
                                    keys[first] = series
                                } else {
                                    if let limit, let refusal = pending.admit(series, limit) { return refusal }
                                    id = nextID
                                    nextID += 1
                                    assigned[series] = id
                                    resolution.newSeries.append((id, series))
                                }
                            }
                            rows.append(
                                StoredRow(
                                    seriesID: id,
                                    timestamp: batch[index].timestamp,
                                    value: batch[index].value,
                                    transactionID: batch[index].transactionID
                                )
                            )
                        }
                        return nil
                    }
                    guard let refusal else {
                        pending.ofBatch.removeAll(keepingCapacity: true)
                        continue
                    }
                    // Left out whole: its rows, the ids it gave new series and their count.
                    resolution.refused[batchIndex] = refusal
                    // The pair of each: a later row of the batch may have moved it on.
                    for slot in slotsOfNewSeries {
                        for paired in [slot, slot ^ 1] {
                            identities[paired] = 0
                            keys[paired] = nil
                        }
                    }
                    rows.removeSubrange(rowsBefore...)
                    for (_, key) in resolution.newSeries[newSeriesBefore...] { assigned[key] = nil }
                    resolution.newSeries.removeSubrange(newSeriesBefore...)
                    nextID = knownCount + UInt32(resolution.newSeries.count)
                    pending.takeBackBatch()
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
