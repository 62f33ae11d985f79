import Foundation
import Testing

@testable import TimeSeries

/// A directory written by the previous version (store format version 1: series keys with
/// their transaction; `Tests/Fixtures/format-v1`, see its README) opens with every row as
/// that version read it, its series reduced to the keys without the transaction, and so it
/// does from each state a kill during the conversion leaves.
@Suite("Format version 1 conversion", .serialized)
struct LegacyConversionTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/format-v1")

    /// What the previous version read back from the fixture, as `FixtureWriter` wrote it.
    struct Expected {
        var series = 0
        var all: [String] = []
        var sessions: [Int: [String]] = [:]
        var bounds: [Int: String] = [:]

        init() throws {
            let text = try String(
                contentsOf: LegacyConversionTests.fixture.appendingPathComponent("expected.txt"),
                encoding: .utf8
            )
            for line in text.split(separator: "\n") {
                let (tag, rest) = (String(line.prefix { $0 != " " }), String(line.drop { $0 != " " }.dropFirst()))
                if tag == "#" {
                    series = Int(rest.split(separator: " ")[1])!
                } else if tag == "all" {
                    all.append(rest)
                } else if tag.hasPrefix("tx") {
                    sessions[Int(tag.dropFirst(2))!, default: []].append(rest)
                } else if tag.hasPrefix("bounds") {
                    bounds[Int(tag.dropFirst(6))!] = rest
                }
            }
        }

        /// The distinct series keys without their transaction.
        var identities: Int {
            Set(
                all.map { line in
                    var fields = line.split(separator: "|", omittingEmptySubsequences: false)
                    fields.remove(at: 3)
                    return fields.dropFirst().dropLast().joined(separator: "|")
                }
            ).count
        }
    }

    /// A row as `FixtureWriter` prints it.
    static func line(_ row: EventRow) -> String {
        let key = row.series
        return [
            String(row.timestamp), key.chargePointID, String(key.connectorID),
            row.transactionID.map(String.init) ?? "-",
            String(key.kind.rawValue), key.measurand ?? "-", key.phase ?? "-", key.unit ?? "-", key.location ?? "-",
            key.context ?? "-", key.format ?? "-", key.eventType ?? "-", "\(row.value)",
        ].joined(separator: "|")
    }

    /// A copy of the fixture's data directory.
    static func copy() throws -> TemporaryDirectory {
        let directory = try TemporaryDirectory()
        try FileManager.default.removeItem(atPath: directory.path)
        try FileManager.default.copyItem(atPath: fixture.appendingPathComponent("data").path, toPath: directory.path)
        return directory
    }

    static func check(_ store: TimeSeriesStore, _ expected: Expected, _ stage: String) throws {
        let all = try store.query(EventQuery(limit: .max)).rows.map(line)
        #expect(all.sorted() == expected.all.sorted(), "\(stage)")
        for (transaction, rows) in expected.sessions {
            let answer = try store.query(EventQuery(transactionID: transaction, limit: .max)).rows.map(line)
            #expect(answer.sorted() == rows.sorted(), "\(stage), session \(transaction)")
        }
        for (chargePoint, transaction) in [("CP-A", 101), ("CP-A", 102), ("CP-A", 103), ("CP-B", 201)] {
            let bounds = try #require(
                try store.transactionBounds(chargePointID: chargePoint, transactionID: transaction)
            )
            #expect(line(bounds.first) + " " + line(bounds.last) == expected.bounds[transaction], "\(stage)")
        }
        #expect(store.statistics.seriesCount == expected.identities, "\(stage)")
        #expect(store.statistics.corruptSegments.isEmpty, "\(stage)")
    }

    /// Every file under `directory` with its size.
    static func files(_ directory: String) -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: directory)!
        return enumerator.compactMap { $0 as? String }.sorted().map { name in
            let size = (try? FileManager.default.attributesOfItem(atPath: directory + "/" + name)[.size] as? Int) ?? -1
            return "\(name) \(size)"
        }
    }

    @Test("The previous version's directory opens with every row, each session exact, and fewer series")
    func convertsOnOpen() throws {
        let expected = try Expected()
        #expect(expected.series > expected.identities)
        #expect(expected.sessions.count == 4)
        let directory = try Self.copy()
        defer { directory.cleanup() }
        #expect(try LegacyConversion.layout(of: directory.path) == .legacy)
        var store = try TimeSeriesStore(directory: directory.path)
        let converted = try #require(store.recovery.convertedSeries)
        #expect(converted.before == expected.series && converted.after == expected.identities)
        try Self.check(store, expected, "converted")
        store.close()
        #expect(try LegacyConversion.layout(of: directory.path) == .current)
        for (path, _) in LegacyConversion.segmentFiles(directory.path) {
            #expect(try LegacyConversion.segmentVersion(path) == Segment.formatVersion)
        }
        #expect(LegacyConversion.logFiles(directory.path).allSatisfy { FileIO.fileSize($0) == 0 })

        // Reopened: nothing to convert, nothing changes.
        let before = Self.files(directory.path)
        store = try TimeSeriesStore(directory: directory.path)
        #expect(store.recovery.convertedSeries == nil)
        try Self.check(store, expected, "reopened")
        store.close()
        #expect(Self.files(directory.path) == before)

        // The converted store goes on: a new session on the same connector's series.
        store = try TimeSeriesStore(directory: directory.path)
        let energy = try #require(try store.query(EventQuery(transactionID: 103, limit: .max)).rows.first)
        try store.appendBlocking([
            EventRow(
                series: energy.series,
                timestamp: energy.timestamp + 3_600_000,
                value: .number(1),
                transactionID: 104
            )
        ])
        try store.flush()
        #expect(store.statistics.seriesCount == expected.identities)
        #expect(try store.query(EventQuery(transactionID: 104)).rows.count == 1)
        store.close()
    }

    @Test(
        "A conversion killed between any two steps leaves a directory the next opening reads correctly",
        arguments: [
            LegacyConversion.Step.afterLeftoversRemoved, .afterSegment(0), .afterSegment(1), .afterLogRows,
            .afterCommit,
        ]
    )
    func interrupted(at step: LegacyConversion.Step) throws {
        let expected = try Expected()
        let directory = try Self.copy()
        defer { directory.cleanup() }
        #expect(throws: LegacyConversion.Interrupted.self) {
            try LegacyConversion.convert(directory: directory.path, blockRows: 7, window: nil, interrupt: step)
        }
        // A temporary dictionary a kill mid-commit leaves is ignored and removed.
        if step != .afterCommit {
            try Data([1, 2, 3]).write(to: URL(fileURLWithPath: directory.path + "/series.dict.tmp"))
        }
        let store = try TimeSeriesStore(directory: directory.path)
        #expect((store.recovery.convertedSeries != nil) == (step != .afterCommit))
        try Self.check(store, expected, "after a kill at \(step)")
        store.close()
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/series.dict.tmp"))
        #expect(try LegacyConversion.layout(of: directory.path) == .current)
        for (path, _) in LegacyConversion.segmentFiles(directory.path) {
            #expect(try LegacyConversion.segmentVersion(path) == Segment.formatVersion)
        }
    }

    @Test("Files of a newer format are refused by path, never cut or left out")
    func newerFormatsRefused() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try TimeSeriesStore(directory: directory.path)
        try store.appendBlocking([EventRow(series: sample(), timestamp: 1_000, value: .number(1))])
        try store.flush()
        try store.appendBlocking([EventRow(series: sample(), timestamp: 2_000, value: .number(2))])
        store.close()
        let segment = try #require(LegacyConversion.segmentFiles(directory.path).first).path
        let original = try Data(contentsOf: URL(fileURLWithPath: segment))
        var newer = original
        newer[4] = UInt8(Segment.formatVersion + 1)
        try newer.write(to: URL(fileURLWithPath: segment))
        #expect {
            _ = try TimeSeriesStore(directory: directory.path)
        } throws: { error in
            "\(error)".contains(segment) && "\(error)".contains("newer version")
        }
        try original.write(to: URL(fileURLWithPath: segment))

        // A log record of a newer type, intact, at the end of the newest log file.
        let log = try #require(LegacyConversion.logFiles(directory.path).last)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: log)))
        var payload = ByteWriter()
        payload.write(WALFormat.recordType + 1)
        payload.writeVarint(0)
        var frame = ByteWriter()
        frame.write(UInt32(payload.bytes.count))
        frame.write(CRC32C.checksum(payload.bytes))
        bytes += frame.bytes + payload.bytes
        try Data(bytes).write(to: URL(fileURLWithPath: log))
        #expect {
            _ = try TimeSeriesStore(directory: directory.path)
        } throws: { error in
            "\(error)".contains(log) && "\(error)".contains("newer version")
        }
        #expect(FileIO.fileSize(log) == bytes.count)
    }
}
