import Foundation
import Testing

@testable import TimeSeries

@Suite("Recovery and faults", .serialized)
struct FaultTests {
    static let base: Int64 = 1_714_521_600_000

    func rows(_ range: Range<Int>) -> [EventRow] {
        range.map { EventRow(series: sample(), timestamp: Self.base + Int64($0) * 1000, value: .number(Double($0))) }
    }

    @Test("A torn WAL tail is cut at the last good record; what came before is kept")
    func tornTail() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        var store = try TimeSeriesStore(directory: directory.path)
        for batch in 0..<5 { try store.appendBlocking(rows(batch * 10..<batch * 10 + 10)) }
        store.close()

        let walDirectory = directory.path + "/wal"
        let walFile =
            walDirectory + "/" + (try FileManager.default.contentsOfDirectory(atPath: walDirectory).sorted().last!)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: walFile))
        let size = try handle.seekToEnd()
        try handle.truncate(atOffset: size - 5)  // the last record loses its end
        try handle.close()

        store = try TimeSeriesStore(directory: directory.path)
        #expect(store.recovery.truncatedTails.count == 1)
        #expect(try allRows(store) == rows(0..<40))
        // The store goes on: new appends land after the cut and survive another reopening.
        try store.appendBlocking(rows(100..<110))
        store.close()
        store = try TimeSeriesStore(directory: directory.path)
        #expect(store.recovery.truncatedTails.isEmpty)
        #expect(try allRows(store) == rows(0..<40) + rows(100..<110))
        store.close()
    }

    @Test("A WAL record with a flipped byte ends the replay there")
    func corruptRecord() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        var store = try TimeSeriesStore(directory: directory.path)
        for batch in 0..<3 { try store.appendBlocking(rows(batch * 10..<batch * 10 + 10)) }
        store.close()
        let walDirectory = directory.path + "/wal"
        let walFile =
            walDirectory + "/" + (try FileManager.default.contentsOfDirectory(atPath: walDirectory).sorted().last!)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: walFile))
        bytes[bytes.count - 3] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: walFile))
        store = try TimeSeriesStore(directory: directory.path)
        #expect(store.recovery.truncatedTails.first?.contains("checksum mismatch") == true)
        #expect(try allRows(store) == rows(0..<20))
        store.close()
    }

    @Test("A segment with flipped bytes is reported by path and left out; the rest stays readable")
    func corruptSegment() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        var store = try TimeSeriesStore(directory: directory.path, options: TimeSeriesOptions(blockRows: 10))
        try store.appendBlocking(rows(0..<50))
        try store.flush()
        try store.appendBlocking(rows(50..<100))
        try store.flush()
        store.close()

        let segmentFiles = try FileManager.default.subpathsOfDirectory(atPath: directory.path + "/segments")
            .filter { $0.hasSuffix(".seg") }.sorted()
        #expect(segmentFiles.count == 2)
        // Flip a byte inside a block (not the footer) of the first segment.
        let damaged = directory.path + "/segments/" + segmentFiles[0]
        var bytes = try Data(contentsOf: URL(fileURLWithPath: damaged))
        bytes[20] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: damaged))

        store = try TimeSeriesStore(directory: directory.path, options: TimeSeriesOptions(blockRows: 10))
        let answer = try allRows(store)
        #expect(answer == rows(50..<100))
        #expect(store.statistics.corruptSegments.count == 1)
        #expect(store.statistics.corruptSegments.first?.contains(segmentFiles[0]) == true)
        store.close()

        // A damaged footer is found on opening.
        let footerDamaged = directory.path + "/segments/" + segmentFiles[1]
        var footerBytes = try Data(contentsOf: URL(fileURLWithPath: footerDamaged))
        footerBytes[footerBytes.count - 14] ^= 0xFF
        try footerBytes.write(to: URL(fileURLWithPath: footerDamaged))
        store = try TimeSeriesStore(directory: directory.path)
        #expect(store.recovery.corruptSegments.contains { $0.contains(segmentFiles[1]) })
        store.close()
    }

    @Test("An append too large for one log record is refused and harms nothing acknowledged")
    func oversizedAppend() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path)
        try store.appendBlocking(rows(0..<10))
        let huge = [
            EventRow(series: sample(), timestamp: Self.base, value: .text(String(repeating: "x", count: 1 << 26)))
        ]
        #expect(throws: TimeSeriesError.self) { try store.appendBlocking(huge) }
        try store.appendBlocking(rows(10..<20))
        store.close()
        let reopened = try TimeSeriesStore(directory: directory.path)
        #expect(reopened.recovery.truncatedTails.isEmpty)
        #expect(try allRows(reopened) == rows(0..<20))
        reopened.close()
    }

    @Test("A refused append that named new series leaves no trace of their ids")
    func refusedNewSeries() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path)
        let first = SeriesKey(chargePointID: "CP-NEW", connectorID: 1, kind: .sample, measurand: "Voltage")
        let second = SeriesKey(chargePointID: "CP-NEW", connectorID: 2, kind: .sample, measurand: "Voltage")
        // One batch: a row of a new series, then one too large for a log record.
        let refused = [
            EventRow(series: first, timestamp: Self.base, value: .number(1)),
            EventRow(series: first, timestamp: Self.base + 1, value: .text(String(repeating: "x", count: 1 << 26))),
        ]
        #expect(throws: TimeSeriesError.self) { try store.appendBlocking(refused) }
        // The same key objects again, and another new series that may now take the freed id.
        try store.appendBlocking([
            EventRow(series: second, timestamp: Self.base + 2, value: .number(2)),
            EventRow(series: first, timestamp: Self.base + 3, value: .number(3)),
        ])
        func values(_ connector: Int) throws -> [EventValue] {
            try store.query(EventQuery(chargePointIDs: ["CP-NEW"], connectorID: connector)).rows.map(\.value)
        }
        #expect(try values(1) == [.number(3)])
        #expect(try values(2) == [.number(2)])
        store.close()
        let reopened = try TimeSeriesStore(directory: directory.path)
        #expect(
            try reopened.query(EventQuery(chargePointIDs: ["CP-NEW"], connectorID: 1)).rows.map(\.value) == [.number(3)]
        )
        reopened.close()
    }

    @Test("An append to a closed store fails with a clear error instead of waiting")
    func appendAfterClose() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path)
        try store.appendBlocking(rows(0..<5))
        store.close()
        #expect {
            try store.appendBlocking(rows(5..<10))
        } throws: { error in
            "\(error)".contains("closed")
        }
        await #expect(throws: TimeSeriesError.self) { try await store.append(rows(5..<10)) }
        let reopened = try TimeSeriesStore(directory: directory.path)
        #expect(try allRows(reopened) == rows(0..<5))
        reopened.close()
    }

    @Test("A store whose directory cannot be written is refused at open, naming the path")
    func unwritableDirectory() throws {
        #expect {
            _ = try TimeSeriesStore(directory: "/proc/ocpp-time-series")
        } throws: { error in
            "\(error)".contains("/proc/ocpp-time-series")
        }
    }

    @Test("Killed with SIGKILL at random moments: every acknowledged batch is there exactly once, nothing else")
    func crash() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let writer = binaryDirectory.appendingPathComponent("TimeSeriesCrashWriter")
        #expect(FileManager.default.isExecutableFile(atPath: writer.path), "missing \(writer.path)")
        var acknowledged = Set<Int>()
        var nextBatch = 0
        var generator = SystemRandomNumberGenerator()
        for round in 0..<12 {
            let process = Process()
            process.executableURL = writer
            process.arguments = [directory.path, String(nextBatch)]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            try await Task.sleep(for: .milliseconds(Int.random(in: 30...250, using: &generator)))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let acks = text.split(separator: "\n").compactMap { line in
                line.hasPrefix("ack ") ? Int(line.dropFirst(4)) : nil
            }
            acknowledged.formUnion(acks)

            let store = try TimeSeriesStore(directory: directory.path)
            let stored = try allRows(store)
            store.close()
            let byBatch = Dictionary(grouping: stored, by: CrashBatch.batch(of:))
            for batch in acknowledged {
                #expect(
                    byBatch[batch]?.sorted { $0.sortKey < $1.sortKey }
                        == CrashBatch.rows(batch).sorted { $0.sortKey < $1.sortKey },
                    "round \(round): batch \(batch)"
                )
            }
            // Nothing else: only whole batches that were sent (at most the one in flight
            // beyond the acknowledged ones per round).
            for (batch, batchRows) in byBatch {
                #expect(batch < (acks.last ?? nextBatch - 1) + 2, "round \(round): unexpected batch \(batch)")
                #expect(
                    batchRows.sorted { $0.sortKey < $1.sortKey }
                        == CrashBatch.rows(batch).sorted { $0.sortKey < $1.sortKey },
                    "round \(round): partial batch \(batch)"
                )
            }
            #expect(Set(stored.map(\.sortKey)).count == stored.count)
            nextBatch = max(nextBatch, (acks.last ?? nextBatch) + 2)
        }
        #expect(acknowledged.count > 20, "too few acknowledged batches to mean anything")
    }
}
