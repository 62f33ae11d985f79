import Foundation
import Synchronization
import Testing

@testable import TimeSeries

/// The log files of a store directory, oldest first.
func logFiles(_ directory: TemporaryDirectory) throws -> [String] {
    let wal = directory.path + "/wal"
    return try FileManager.default.contentsOfDirectory(atPath: wal).filter { $0.hasSuffix(".wal") }.sorted()
        .map { wal + "/" + $0 }
}

/// Where each record of a file of log records starts.
func recordOffsets(_ path: String) throws -> [Int] {
    let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    var offsets: [Int] = []
    var position = 0
    while position + 8 <= bytes.count {
        offsets.append(position)
        let length = bytes[position..<position + 4].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        position += 8 + length
    }
    return offsets
}

func flipByte(_ path: String, at offset: Int) throws {
    var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    bytes[offset] ^= 0x40
    try bytes.write(to: URL(fileURLWithPath: path))
}

@Suite("Recovery never hides a loss", .serialized)
struct RecoveryTests {
    static let base: Int64 = 1_714_521_600_000

    func rows(_ range: Range<Int>, series: SeriesKey = sample()) -> [EventRow] {
        range.map { EventRow(series: series, timestamp: Self.base + Int64($0) * 1000, value: .number(Double($0))) }
    }

    /// A closed store of `batches` appends of ten rows each, all in one log file.
    func storeWithBatches(_ batches: Int, in directory: TemporaryDirectory) throws {
        let store = try TimeSeriesStore(directory: directory.path)
        for batch in 0..<batches { try store.appendBlocking(rows(batch * 10..<batch * 10 + 10)) }
        store.close()
    }

    /// Opening fails with damage at `offset` of `path`, and changes no file.
    func expectDamage(_ directory: TemporaryDirectory, path: String, offset: Int) throws {
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        do {
            let store = try TimeSeriesStore(directory: directory.path)
            store.close()
            Issue.record("the store opened")
        } catch let damage as TimeSeriesDamageError {
            #expect(damage.path == path)
            #expect(damage.offset == offset)
            #expect(damage.description.contains("\(path) is damaged at byte \(offset)"))
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test("A torn header or a tail of zeros at the end of the last log file is cut, and the rest reads")
    func tornTails() throws {
        for tail in ["torn header", "zeros"] {
            let directory = try TemporaryDirectory()
            defer { directory.cleanup() }
            try storeWithBatches(4, in: directory)
            let file = try logFiles(directory)[0]
            let last = try recordOffsets(file).last!
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: file))
            if tail == "torn header" {
                try handle.truncate(atOffset: UInt64(last + 5))
            } else {
                _ = try handle.seekToEnd()
                try handle.write(contentsOf: Data(count: 4096))
            }
            try handle.close()
            let store = try TimeSeriesStore(directory: directory.path)
            #expect(store.recovery.truncatedTails.count == 1, "\(tail)")
            #expect(try allRows(store) == rows(0..<(tail == "zeros" ? 40 : 30)), "\(tail)")
            store.close()
        }
    }

    @Test("A bad record that good ones follow stops opening, naming the file and offset; nothing is changed")
    func badRecordInTheMiddle() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        try storeWithBatches(3, in: directory)
        let file = try logFiles(directory)[0]
        let offsets = try recordOffsets(file)
        try flipByte(file, at: offsets[1] + 12)
        try expectDamage(directory, path: file, offset: offsets[1])
        // Still refused on a second try: the first changed nothing.
        try expectDamage(directory, path: file, offset: offsets[1])
    }

    @Test("A damaged length that points past the end, with whole records behind it, stops opening")
    func damagedLength() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        try storeWithBatches(3, in: directory)
        let file = try logFiles(directory)[0]
        let offsets = try recordOffsets(file)
        try flipByte(file, at: offsets[1] + 2)  // the length grows by 4 MiB
        try expectDamage(directory, path: file, offset: offsets[1])
    }

    /// A closed store whose rows 0..<10 are in one log file and 10..<20 in a newer one.
    func storeWithTwoLogFiles(in directory: TemporaryDirectory) throws {
        let store = try TimeSeriesStore(directory: directory.path)
        store.flushHooks.withLock { $0.beforeWrite = { throw TimeSeriesError(message: "injected flush failure") } }
        try store.appendBlocking(rows(0..<10))
        #expect(throws: TimeSeriesError.self) { try store.flush() }
        try store.appendBlocking(rows(10..<20))
        store.close()
    }

    @Test("Damage in a log file that a newer one follows stops opening, even a torn tail at its end")
    func damageInEarlierFile() throws {
        for damage in ["torn tail", "flipped byte"] {
            let directory = try TemporaryDirectory()
            defer { directory.cleanup() }
            try storeWithTwoLogFiles(in: directory)
            let files = try logFiles(directory)
            #expect(files.count == 2)
            let size = try Data(contentsOf: URL(fileURLWithPath: files[0])).count
            if damage == "torn tail" {
                let handle = try FileHandle(forUpdating: URL(fileURLWithPath: files[0]))
                try handle.truncate(atOffset: UInt64(size - 3))
                try handle.close()
            } else {
                try flipByte(files[0], at: size - 3)
            }
            try expectDamage(directory, path: files[0], offset: 0)
        }
        // Undamaged, both files replay.
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        try storeWithTwoLogFiles(in: directory)
        let store = try TimeSeriesStore(directory: directory.path)
        #expect(try allRows(store) == rows(0..<20))
        store.close()
    }

    /// A closed store with two segments, of series A (rows 0..<10) then of series B (10..<20),
    /// and a dictionary of two records (A, then B).
    func storeWithTwoSeries(in directory: TemporaryDirectory) throws -> (SeriesKey, SeriesKey) {
        let (a, b) = (sample("CP-A"), sample("CP-B"))
        let store = try TimeSeriesStore(directory: directory.path)
        try store.appendBlocking(rows(0..<10, series: a))
        try store.flush()
        try store.appendBlocking(rows(10..<20, series: b))
        try store.flush()
        store.close()
        return (a, b)
    }

    @Test("A damaged series dictionary stops opening, and so does a torn tail that segments needed")
    func damagedDictionary() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        _ = try storeWithTwoSeries(in: directory)
        let dictionary = directory.path + "/series.dict"
        let original = try Data(contentsOf: URL(fileURLWithPath: dictionary))
        let offsets = try recordOffsets(dictionary)
        #expect(offsets.count == 2)
        try flipByte(dictionary, at: offsets[0] + 10)
        try expectDamage(directory, path: dictionary, offset: 0)

        try original.dropLast(3).write(to: URL(fileURLWithPath: dictionary))
        do {
            _ = try TimeSeriesStore(directory: directory.path)
            Issue.record("the store opened")
        } catch let damage as TimeSeriesDamageError {
            #expect(damage.path == dictionary)
            #expect(damage.offset == offsets[1])
            #expect(damage.reason.contains("refers to series id 1"))
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: dictionary)) == original.dropLast(3))
    }

    @Test("A torn dictionary tail whose series the log still defines is cut, and every row reads")
    func tornDictionaryTail() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let series = sample("CP-TORN")
        var store = try TimeSeriesStore(directory: directory.path)
        try store.appendBlocking(rows(0..<10, series: series))
        store.close()
        // What a crash in the middle of the flusher's dictionary append leaves.
        let record = WALFormat.frame(WALBatch(newSeries: [(0, series)], rows: []))
        let dictionary = directory.path + "/series.dict"
        try Data(record.dropLast(3)).write(to: URL(fileURLWithPath: dictionary))
        store = try TimeSeriesStore(directory: directory.path)
        #expect(store.recovery.truncatedTails.first?.hasPrefix(dictionary + " at byte 0") == true)
        #expect(try allRows(store) == rows(0..<10, series: series))
        try store.flush()
        store.close()
        store = try TimeSeriesStore(directory: directory.path)
        #expect(store.recovery.truncatedTails.isEmpty)
        #expect(try allRows(store) == rows(0..<10, series: series))
        store.close()
    }
}
