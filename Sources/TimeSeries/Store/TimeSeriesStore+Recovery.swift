import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Opening: the series dictionary, the segments, and the write-ahead log's replay.
extension TimeSeriesStore {
    /// Loads what the directory holds and repairs what a crash left (torn log tails,
    /// unfinished segment files), then opens the current WAL file for the writer.
    func recover() throws {
        try FileIO.makeDirectory(directory + "/wal")
        try FileIO.makeDirectory(directory + "/segments")
        try loadSeriesDictionary()
        try loadSegments()
        try replayWAL()
    }

    var dictionaryPath: String { directory + "/series.dict" }

    private func loadSeriesDictionary() throws {
        guard FileIO.exists(dictionaryPath) else { return }
        let bytes = try FileIO.readAll(dictionaryPath)
        let contents = bytes.withUnsafeBytes { WALFormat.parse($0) }
        persistedSeriesCount = state.withLock { state in
            for batch in contents.batches {
                for (id, key) in batch.newSeries { state.define(key, id: id) }
            }
            return state.seriesKeys.count
        }
        if let problem = contents.tailProblem {
            recovery.truncatedTails.append("\(dictionaryPath) at byte \(contents.validLength): \(problem)")
            let descriptor = try FileIO.openForAppend(dictionaryPath)
            defer { Glibc.close(descriptor) }
            try FileIO.truncate(descriptor, to: contents.validLength, path: dictionaryPath)
        }
    }

    private func loadSegments() throws {
        var found: [Segment] = []
        var corrupt: [String] = []
        var nextSequence: UInt64 = 1
        for day in FileIO.listDirectory(directory + "/segments") {
            let dayPath = directory + "/segments/" + day
            for name in FileIO.listDirectory(dayPath) {
                let path = dayPath + "/" + name
                if name.hasSuffix(".tmp") {
                    try FileIO.remove(path)
                    continue
                }
                guard name.hasSuffix("." + Segment.fileExtension),
                    let sequence = UInt64(name.dropLast(Segment.fileExtension.count + 1), radix: 16)
                else { continue }
                nextSequence = max(nextSequence, sequence + 1)
                do {
                    found.append(try Segment(path: path, sequence: sequence, files: files))
                } catch let error as Segment.Corrupt {
                    corrupt.append(error.description)
                }
            }
        }
        found.sort { $0.sequence < $1.sequence }
        recovery.corruptSegments.append(contentsOf: corrupt)
        state.withLock { state in
            state.nextSegmentSequence = max(state.nextSegmentSequence, nextSequence)
            state.segments.append(contentsOf: found)
            state.segments.sort { $0.sequence < $1.sequence }
            state.corruptSegments.append(contentsOf: corrupt)
        }
    }

    private func replayWAL() throws {
        let names = FileIO.listDirectory(directory + "/wal").filter { $0.hasSuffix(".wal") }
        var sequences = names.compactMap { UInt64($0.dropLast(4), radix: 16) }.sorted()
        for sequence in sequences {
            let path = walFilePath(sequence)
            let bytes = try FileIO.readAll(path)
            let contents = bytes.withUnsafeBytes { WALFormat.parse($0) }
            recovery.replayedRows += state.withLock { state in
                var replayed = 0
                for batch in contents.batches {
                    for (id, key) in batch.newSeries { state.define(key, id: id) }
                    state.memtable.append(batch.rows)
                    state.memtableCount += batch.rows.count
                    replayed += batch.rows.count
                }
                return replayed
            }
            if let problem = contents.tailProblem {
                recovery.truncatedTails.append("\(path) at byte \(contents.validLength): \(problem)")
                let descriptor = try FileIO.openForAppend(path)
                defer { Glibc.close(descriptor) }
                try FileIO.truncate(descriptor, to: contents.validLength, path: path)
                try FileIO.syncData(descriptor, path: path)
            }
        }
        if sequences.isEmpty { sequences = [1] }
        walSequence = sequences.last!
        walPath = walFilePath(walSequence)
        walDescriptor = try FileIO.openForAppend(walPath)
        try FileIO.syncDirectory(directory + "/wal")
    }

    func walFilePath(_ sequence: UInt64) -> String {
        directory + "/wal/" + hex(sequence) + ".wal"
    }

    /// Sixteen hexadecimal digits: WAL and segment file names sort by sequence.
    func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
    }
}
