import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The open descriptors of a store's segment files: at most `capacity` are kept open, the
/// least recently used closed first, and a segment's file is reopened when it is read again.
///
/// A descriptor in use by a read is never closed under it (it is pinned; when every cached
/// one is pinned the cache goes over its capacity until they are let go). A segment that
/// compaction or retention takes out of the store is *retired* before its file is renamed
/// over or unlinked: it gets a descriptor of its own, kept until the segment is gone, so a
/// query still reading an older snapshot reads the file it saw.
final class SegmentFiles: Sendable {
    /// Descriptors kept open at most (retired segments' own descriptors aside).
    let capacity: Int

    private struct Entry {
        var descriptor: Int32
        var pins: Int
        var lastUse: UInt64
    }

    private struct State {
        var cached: [UInt64: Entry] = [:]
        var retired: [UInt64: Int32] = [:]
        var uses: UInt64 = 0
        var reopened = 0
    }

    private let state = Mutex(State())

    init(capacity: Int) {
        precondition(capacity >= 1, "at least one segment file must be open at a time")
        self.capacity = capacity
    }

    /// Descriptors open now: cached ones and retired segments' own.
    var openCount: Int {
        state.withLock { $0.cached.count + $0.retired.count }
    }

    /// Times a segment's file had to be opened again after its descriptor was closed.
    var reopenCount: Int {
        state.withLock { $0.reopened }
    }

    /// Takes in the descriptor a segment was opened with.
    func adopt(_ descriptor: Int32, segment: UInt64) {
        let surplus = state.withLock { state in
            state.uses += 1
            state.cached[segment] = Entry(descriptor: descriptor, pins: 0, lastUse: state.uses)
            return Self.evict(&state, capacity: capacity)
        }
        for descriptor in surplus { Glibc.close(descriptor) }
    }

    /// Runs `body` with an open descriptor of the segment's file, opening it again if it was
    /// closed; the descriptor stays open while `body` runs.
    /// - Throws: ``TimeSeriesError`` when the file cannot be opened, or what `body` throws.
    func withDescriptor<Result>(
        segment: UInt64,
        path: String,
        _ body: (Int32) throws -> Result
    ) throws -> Result {
        let (descriptor, pinned, surplus) = try state.withLock { state throws -> (Int32, Bool, [Int32]) in
            if let own = state.retired[segment] { return (own, false, []) }
            state.uses += 1
            if var entry = state.cached[segment] {
                entry.pins += 1
                entry.lastUse = state.uses
                state.cached[segment] = entry
                return (entry.descriptor, true, [])
            }
            // Opened under the lock: retiring (which also takes it) then cannot come between
            // the check above and the open, so a renamed-over path is never opened for an
            // older segment.
            let descriptor = try FileIO.openForReading(path)
            state.reopened += 1
            state.cached[segment] = Entry(descriptor: descriptor, pins: 1, lastUse: state.uses)
            return (descriptor, true, Self.evict(&state, capacity: capacity))
        }
        for descriptor in surplus { Glibc.close(descriptor) }
        defer {
            if pinned {
                let surplus = state.withLock { state in
                    state.cached[segment]?.pins -= 1
                    return Self.evict(&state, capacity: capacity)
                }
                for descriptor in surplus { Glibc.close(descriptor) }
            }
        }
        return try body(descriptor)
    }

    /// Gives the segment a descriptor of its own, before its file is renamed over or unlinked.
    /// - Throws: ``TimeSeriesError`` when the file cannot be opened.
    func retire(segment: UInt64, path: String) throws {
        try state.withLock { state throws in
            guard state.retired[segment] == nil else { return }
            if let entry = state.cached[segment], entry.pins == 0 {
                state.cached[segment] = nil
                state.retired[segment] = entry.descriptor
            } else {
                // A pinned descriptor stays with its reader; the segment gets another.
                state.retired[segment] = try FileIO.openForReading(path)
            }
        }
    }

    /// Closes what the segment holds (its deinit: no read of it is running).
    func forget(segment: UInt64) {
        let descriptors = state.withLock { state in
            [state.cached.removeValue(forKey: segment)?.descriptor, state.retired.removeValue(forKey: segment)]
        }
        for case let descriptor? in descriptors { Glibc.close(descriptor) }
    }

    /// Takes the least recently used unpinned descriptors out while more than `capacity` are
    /// cached, for the caller to close outside the lock.
    private static func evict(_ state: inout State, capacity: Int) -> [Int32] {
        guard state.cached.count > capacity else { return [] }
        let idle = state.cached.filter { $0.value.pins == 0 }.sorted { $0.value.lastUse < $1.value.lastUse }
        var closed: [Int32] = []
        for (segment, entry) in idle.prefix(state.cached.count - capacity) {
            state.cached[segment] = nil
            closed.append(entry.descriptor)
        }
        return closed
    }
}
