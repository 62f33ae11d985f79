import ArgumentParser
import Foundation
import TimeSeries

/// `manifest.json` of a backup: written last, so a directory without it is no backup (one
/// that failed or is still being written).
struct BackupManifest: Codable, Equatable {
    static let fileName = "manifest.json"
    /// The layout of a backup directory this build writes and restores.
    static let currentFormat = 1
    /// The time-series store's files go in this directory of the backup, in DATA_DIR's layout.
    static let timeSeriesDirectory = "timeseries"
    /// The SQLite copy's name in the backup.
    static let sqliteFile = "relational.sqlite"

    var format: Int
    /// When the backup started (UTC, ISO 8601): every value acknowledged before it is in it.
    var created: String
    var timeSeries: TimeSeriesPart
    var relational: RelationalPart

    struct TimeSeriesPart: Codable, Equatable {
        var segmentFormatVersion: Int
        var logRecordType: Int
        var linkedSegments: Int
        var copiedSegments: Int
        /// Rows in the copied log files (the others are in segments).
        var logRows: Int
        /// Paths relative to the backup's `timeseries` directory.
        var files: [BackupFile]
    }

    struct RelationalPart: Codable, Equatable {
        /// `sqlite`, or `postgresql` (not in the backup: see `note`).
        var kind: String
        /// The SQLite copy, relative to the backup's directory.
        var file: BackupFile?
        /// The highest schema migration the copy has.
        var schemaVersion: Int?
        var note: String?
    }

    /// Reads and checks the manifest of the backup in `directory`.
    /// - Throws: `ValidationError` when there is none, it cannot be read, or this build cannot
    ///   restore what it describes.
    static func read(from directory: String) throws -> BackupManifest {
        let path = directory + "/" + fileName
        guard FileManager.default.fileExists(atPath: path) else {
            throw ValidationError(
                "'\(directory)' holds no \(fileName): it is not a backup, or one that did not finish"
            )
        }
        let manifest: BackupManifest
        do {
            manifest = try JSONDecoder().decode(BackupManifest.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw ValidationError("\(path) cannot be read: \(error)")
        }
        guard manifest.format == currentFormat else {
            throw ValidationError("\(path) has backup format \(manifest.format); this build restores \(currentFormat)")
        }
        // Older segments are read as they are (and merged into the current format by
        // compaction); a newer format, or another log record type, is not.
        let segmentVersions = TimeSeriesBackup.oldestSegmentFormatVersion...TimeSeriesBackup.segmentFormatVersion
        guard segmentVersions.contains(manifest.timeSeries.segmentFormatVersion),
            manifest.timeSeries.logRecordType == TimeSeriesBackup.logRecordType
        else {
            throw ValidationError(
                "the backup's time-series files have segment format \(manifest.timeSeries.segmentFormatVersion) "
                    + "and log record type \(manifest.timeSeries.logRecordType); this build reads segment formats "
                    + "\(segmentVersions.lowerBound) to \(segmentVersions.upperBound) and log record type "
                    + "\(TimeSeriesBackup.logRecordType): restore it with the version that wrote it"
            )
        }
        return manifest
    }

    /// Writes the manifest into `directory` durably and atomically: a synced temporary file
    /// renamed into place, then the directory synced.
    func write(to directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        let temporary = directory + "/" + Self.fileName + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data) else {
            throw ValidationError("\(temporary) cannot be written")
        }
        try syncFile(temporary)
        guard rename(temporary, directory + "/" + Self.fileName) == 0 else {
            throw ValidationError("\(temporary) cannot be renamed: \(String(cString: strerror(errno)))")
        }
        try syncFile(directory)
    }
}

/// `fsync` of a file or a directory.
func syncFile(_ path: String) throws {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
        throw ValidationError("\(path) cannot be opened: \(String(cString: strerror(errno)))")
    }
    defer { close(descriptor) }
    guard fsync(descriptor) == 0 else {
        throw ValidationError("\(path) cannot be synced: \(String(cString: strerror(errno)))")
    }
}

/// The entries of a directory; `nil` when there is no directory there.
func directoryEntries(_ path: String) -> [String]? {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return nil }
    guard isDirectory.boolValue else { return ["(a file, not a directory)"] }
    return (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? ["(unreadable)"]
}
