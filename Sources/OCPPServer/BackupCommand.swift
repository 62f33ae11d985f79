import ArgumentParser
import Foundation
import Logging
import Relational
import TimeSeries

/// Where DATA_DIR and DATABASE_URL point: flags over the environment over the defaults.
struct StoreLocationOptions: ParsableArguments {
    @Option(
        name: .customLong("data-dir"),
        help: "Directory of the time-series store (env DATA_DIR, default \(ServerConfiguration.defaultDataDirectory))."
    )
    var dataDirectory: String?

    @Option(help: "Relational database URL (env DATABASE_URL, default \(DatabaseURL.defaultURL)).")
    var databaseURL: String?

    func resolve() throws -> (dataDirectory: String, database: DatabaseURL) {
        let environment = ProcessInfo.processInfo.environment
        let directory = dataDirectory ?? environment["DATA_DIR"] ?? ServerConfiguration.defaultDataDirectory
        guard !directory.isEmpty else { throw ValidationError("DATA_DIR must not be empty") }
        do {
            return (directory, try DatabaseURL(databaseURL ?? environment["DATABASE_URL"] ?? DatabaseURL.defaultURL))
        } catch {
            throw ValidationError(error.description)
        }
    }
}

extension OCPPServerCommand {
    /// `ocpp-server backup DIR`: a consistent copy of the stores while the server runs.
    struct Backup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy the time-series store and the SQLite database into DIR, while the server runs or not.",
            discussion: """
                DIR must be empty or not exist. Segments are hard-linked when DIR is on the same file \
                system as DATA_DIR (put DIR on another disk for a copy that survives the loss of that \
                disk), copied otherwise; the write-ahead log is copied up to its last whole record and \
                the SQLite database with VACUUM INTO. Every value acknowledged before the backup \
                started is in it. manifest.json is written last: a directory without it is no backup. \
                A PostgreSQL database is not copied: back it up with pg_dump (see README).
                """
        )

        @Argument(help: "The directory to write the backup into (empty or new).")
        var directory: String

        @OptionGroup var locations: StoreLocationOptions

        func run() async throws {
            let (dataDirectory, database) = try locations.resolve()
            if let entries = directoryEntries(directory), !entries.isEmpty {
                throw ValidationError(
                    "'\(directory)' is not empty (it holds \(entries.sorted().prefix(3).joined(separator: ", "))): "
                        + "a backup goes into a new or empty directory"
                )
            }
            guard directoryEntries(dataDirectory) != nil else {
                throw ValidationError(
                    "DATA_DIR '\(dataDirectory)' does not exist: there is no time-series store to back up"
                )
            }
            switch database {
            case .sqlite(.memory):
                throw ValidationError("DATABASE_URL is an in-memory SQLite database: there is nothing of it to back up")
            case .sqlite(.file(let path)):
                guard FileManager.default.fileExists(atPath: path) else {
                    throw ValidationError("the SQLite database '\(path)' (DATABASE_URL) does not exist")
                }
            case .postgres:
                break
            }
            let existed = directoryEntries(directory) != nil
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let manifest = try await write(dataDirectory: dataDirectory, database: database)
                try manifest.write(to: directory)
                print(summary(manifest))
            } catch {
                // Nothing half-written stays behind (without a manifest it would be no backup anyway).
                let made = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
                for name in made { try? FileManager.default.removeItem(atPath: directory + "/" + name) }
                if !existed { try? FileManager.default.removeItem(atPath: directory) }
                if error is ValidationError { throw error }
                throw ValidationError("the backup into '\(directory)' failed, and what it wrote is removed: \(error)")
            }
        }

        private func write(dataDirectory: String, database: DatabaseURL) async throws -> BackupManifest {
            let created = Date().formatted(.iso8601)
            let report = try await TimeSeriesBackup.backup(
                directory: dataDirectory,
                into: directory + "/" + BackupManifest.timeSeriesDirectory
            )
            // After the time-series snapshot: the sessions its rows belong to are in this copy.
            let relational: BackupManifest.RelationalPart
            switch database {
            case .postgres:
                relational = .init(
                    kind: "postgresql",
                    note: "the relational database is PostgreSQL and is not in this backup: back it up with pg_dump"
                )
            case .sqlite:
                var logger = Logger(label: "ocpp-server.backup")
                logger.logLevel = .error
                let store = try await openStore(url: database, migrate: false, logger: logger)
                let path = directory + "/" + BackupManifest.sqliteFile
                let schema: Int?
                do {
                    schema = try await store.appliedMigrations().last
                    try await store.backupSQLite(to: path)
                } catch {
                    await store.shutdown()
                    throw error
                }
                await store.shutdown()
                try syncFile(path)
                let (bytes, crc) = try TimeSeriesBackup.checksum(file: path)
                relational = .init(
                    kind: "sqlite",
                    file: BackupFile(path: BackupManifest.sqliteFile, bytes: bytes, crc32c: crc),
                    schemaVersion: schema
                )
            }
            try syncFile(directory)
            return BackupManifest(
                format: BackupManifest.currentFormat,
                created: created,
                timeSeries: .init(
                    segmentFormatVersion: TimeSeriesBackup.segmentFormatVersion,
                    logRecordType: TimeSeriesBackup.logRecordType,
                    linkedSegments: report.linkedSegments,
                    copiedSegments: report.copiedSegments,
                    logRows: report.logRows,
                    files: report.files
                ),
                relational: relational
            )
        }

        private func summary(_ manifest: BackupManifest) -> String {
            let series = manifest.timeSeries
            var lines = [
                "Backed up into \(directory): the time-series store (\(series.linkedSegments) segments hard-linked, "
                    + "\(series.copiedSegments) copied, \(series.logRows) rows of the log)"
                    + (manifest.relational.file == nil ? "." : " and the SQLite database.")
            ]
            if let note = manifest.relational.note { lines.append("NOTE: \(note) (see README, Backup).") }
            return lines.joined(separator: "\n")
        }
    }

    /// `ocpp-server restore BACKUP`: puts a backup into an empty DATA_DIR (and SQLite file).
    struct Restore: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Restore a backup made by `ocpp-server backup` into an empty DATA_DIR (and a new SQLite file).",
            discussion: """
                Checks every file of the backup against its manifest first. DATA_DIR must be empty or \
                not exist, and the SQLite file DATABASE_URL names must not exist. A backup of a server \
                on PostgreSQL holds the time-series store only: restore the database from its pg_dump.
                """
        )

        @Argument(help: "The backup's directory.")
        var backup: String

        @OptionGroup var locations: StoreLocationOptions

        func run() throws {
            let (dataDirectory, database) = try locations.resolve()
            let manifest = try BackupManifest.read(from: backup)
            // A lock file a stopped server left is no data.
            if let entries = directoryEntries(dataDirectory)?.filter({ $0 != DataDirectoryLock.fileName }),
                !entries.isEmpty
            {
                throw ValidationError(
                    "DATA_DIR '\(dataDirectory)' is not empty (it holds "
                        + "\(entries.sorted().prefix(3).joined(separator: ", "))): a backup is restored into a new "
                        + "or empty directory"
                )
            }
            var databasePath: String?
            if let file = manifest.relational.file {
                guard case .sqlite(.file(let path)) = database else {
                    throw ValidationError(
                        "the backup holds an SQLite database, but DATABASE_URL '\(database)' names no SQLite file"
                    )
                }
                for existing in [path, path + "-wal", path + "-shm"]
                where FileManager.default.fileExists(atPath: existing) {
                    throw ValidationError("the SQLite database '\(existing)' exists: restore into a new file")
                }
                try TimeSeriesBackup.verify([file], in: backup)
                databasePath = path
            }
            let existed = directoryEntries(dataDirectory) != nil
            do {
                try TimeSeriesBackup.restore(
                    manifest.timeSeries.files,
                    from: backup + "/" + BackupManifest.timeSeriesDirectory,
                    into: dataDirectory
                )
            } catch {
                // DATA_DIR was empty: what the restore put there goes again.
                if !(error is DataDirectoryInUse) {
                    let made = (try? FileManager.default.contentsOfDirectory(atPath: dataDirectory)) ?? []
                    for name in made { try? FileManager.default.removeItem(atPath: dataDirectory + "/" + name) }
                    if !existed { try? FileManager.default.removeItem(atPath: dataDirectory) }
                }
                throw ValidationError("restoring the time-series store into '\(dataDirectory)' failed: \(error)")
            }
            if let databasePath, let file = manifest.relational.file {
                let temporary = databasePath + ".restoring"
                try? FileManager.default.removeItem(atPath: temporary)
                do {
                    try FileManager.default.copyItem(atPath: backup + "/" + file.path, toPath: temporary)
                    try syncFile(temporary)
                    try FileManager.default.moveItem(atPath: temporary, toPath: databasePath)
                    try syncFile(URL(fileURLWithPath: databasePath).deletingLastPathComponent().path)
                } catch {
                    try? FileManager.default.removeItem(atPath: temporary)
                    throw ValidationError("restoring the SQLite database to '\(databasePath)' failed: \(error)")
                }
            }
            print(
                "Restored the backup of \(manifest.created) into \(dataDirectory)"
                    + (databasePath.map { " and \($0)." } ?? ".")
            )
            if manifest.relational.file == nil {
                print(
                    "NOTE: the backup holds no relational database (\(manifest.relational.kind)): restore it from "
                        + "its pg_dump with pg_restore or psql (see README, Backup)."
                )
            }
        }
    }
}
