import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Decoded blocks of one read: a block that several windows of a page overlap is decoded once.
struct BlockCache {
    struct Key: Hashable {
        var segment: UInt64
        var block: Int
    }

    let selection: BlockCodec.Selection
    /// The series whose rows are decoded (a bitmap by id; `nil`: every row of a block).
    let wanted: [Bool]?
    /// With whether a read has taken the block yet (a prefetched block counts as decoded then).
    private var decoded: [Key: (columns: BlockCodec.Columns, info: BlockInfo, taken: Bool)] = [:]

    /// - Parameter wanted: The series a read needs (a bitmap by id): a block's other rows are
    ///   left out of its columns (`nil`: none is).
    init(selection: BlockCodec.Selection, wanted: [Bool]? = nil) {
        self.selection = selection
        self.wanted = wanted
    }

    /// The block's columns, and whether this call decoded them (or is the first to take them
    /// from ``prefetch(_:)``).
    mutating func columns(_ candidate: TimeSeriesStore.CandidateBlock) throws -> (BlockCodec.Columns, Bool) {
        let key = Key(segment: candidate.segment.identity, block: candidate.index)
        if let cached = decoded[key] {
            if !cached.taken { decoded[key]!.taken = true }
            return (cached.columns, !cached.taken)
        }
        let columns = try candidate.segment.readBlock(candidate.index, selection: selection, wanted: wanted)
        decoded[key] = (columns, candidate.info, true)
        return (columns, true)
    }

    /// Lets go of the decoded blocks whose footer entry `isBehind` says no read needs again.
    mutating func forget(where isBehind: (BlockInfo) -> Bool) {
        decoded = decoded.filter { !isBehind($0.value.info) }
    }

    /// Below this many blocks a read decodes them on its own thread: a second one would cost
    /// more to start than it saves.
    static let blocksPerWorker = 32

    /// At most this many threads decode one read's blocks.
    static let maximumWorkers = 4

    /// The processors this process may run on: on Linux those of its affinity mask (as
    /// `taskset` sets it, from `/proc/self/status`), otherwise those online.
    static let processors: Int = {
        #if os(Linux)
            if let status = fopen("/proc/self/status", "r") {
                defer { fclose(status) }
                var line = [CChar](repeating: 0, count: 4096)
                while fgets(&line, Int32(line.count), status) != nil {
                    let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    guard text.hasPrefix("Cpus_allowed:") else { continue }
                    let count = text.dropFirst("Cpus_allowed:".count).reduce(0) { count, character in
                        count + (character.hexDigitValue.map { $0.nonzeroBitCount } ?? 0)
                    }
                    if count > 0 { return count }
                }
            }
        #endif
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }()

    /// Decodes `candidates` ahead of a read that takes them all, on as many threads as there
    /// are processors (at most ``maximumWorkers``, each with ``blocksPerWorker`` blocks or
    /// more), the caller's among them, and waits for them: a site's day is a thousand blocks.
    /// A block that fails to read is left out, for the read to meet and report the failure.
    mutating func prefetch(_ candidates: [TimeSeriesStore.CandidateBlock]) {
        let workers = min(Self.processors, Self.maximumWorkers, candidates.count / Self.blocksPerWorker)
        guard workers > 1 else { return }
        let (selection, wanted) = (self.selection, self.wanted)
        let results = Mutex<[(Int, BlockCodec.Columns)]>([])
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var columns: [(Int, BlockCodec.Columns)] = []
            for index in stride(from: worker, to: candidates.count, by: workers) {
                let candidate = candidates[index]
                if let decoded = try? candidate.segment.readBlock(candidate.index, selection: selection, wanted: wanted)
                {
                    columns.append((index, decoded))
                }
            }
            results.withLock { $0.append(contentsOf: columns) }
        }
        for (index, columns) in results.withLock({ $0 }) {
            let candidate = candidates[index]
            decoded[Key(segment: candidate.segment.identity, block: candidate.index)] = (columns, candidate.info, false)
        }
    }
}
