import ArgumentParser
import Foundation
import TimeSeries

extension OCPPServerCommand {
    /// `ocpp-server repair`: sets aside what the time-series store cannot read, offline.
    struct Repair: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move what the time-series store in DATA_DIR cannot read to DATA_DIR/quarantine/ "
                + "and report what was lost (stop the server first).",
            discussion: """
                Run it when the server refuses to start because a file of the time-series store is \
                damaged. Nothing is deleted: damaged files are kept as they were in \
                DATA_DIR/quarantine/<UTC time>/, and every record that reads back stays in the store. \
                It refuses a DATA_DIR a running server holds (DATA_DIR/server.lock).
                """
        )

        @Option(
            name: .customLong("data-dir"),
            help:
                "Directory of the time-series store (env DATA_DIR, default \(ServerConfiguration.defaultDataDirectory))."
        )
        var dataDirectory: String?

        func run() throws {
            let directory =
                dataDirectory ?? ProcessInfo.processInfo.environment["DATA_DIR"]
                ?? ServerConfiguration.defaultDataDirectory
            guard !directory.isEmpty else { throw ValidationError("DATA_DIR must not be empty") }
            let report: TimeSeriesRepairReport
            do {
                report = try TimeSeriesRepair.repair(directory: directory)
            } catch {
                throw ValidationError("the time-series store in '\(directory)' cannot be repaired: \(error)")
            }
            print(report.description)
        }
    }
}

/// The time-series store refused to open: what is damaged, and what to do.
struct TimeSeriesStoreDamaged: Error, CustomStringConvertible {
    let directory: String
    let damage: TimeSeriesDamageError

    var description: String {
        "the time-series store in '\(directory)' is damaged and was not opened (nothing was changed): "
            + "\(damage). Stop every server using this DATA_DIR and run `ocpp-server repair` with the same "
            + "DATA_DIR: it moves what cannot be read to DATA_DIR/quarantine/, keeps every readable record "
            + "and reports what was lost; then start the server again."
    }
}
