import Foundation
import TimeSeries

/// A fresh directory under the system's temporary directory, removed by `cleanup()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("ocpp-ts-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func cleanup() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

func sample(
    _ chargePointID: String = "CP-1",
    connector: Int = 1,
    measurand: String? = "Energy.Active.Import.Register",
    phase: String? = nil,
    unit: String? = "Wh",
    format: String? = nil
) -> SeriesKey {
    SeriesKey(
        chargePointID: chargePointID,
        connectorID: connector,
        kind: .sample,
        measurand: measurand,
        phase: phase,
        unit: unit,
        location: "Outlet",
        context: "Sample.Periodic",
        format: format
    )
}

/// Every row of the store, in a stable order for comparisons.
func allRows(_ store: TimeSeriesStore) throws -> [EventRow] {
    try store.query(EventQuery(limit: Int.max)).rows
}

extension SeriesKey {
    /// Every field, for comparisons and dictionary keys in tests.
    var text: String {
        "\(chargePointID)|\(connectorID)|\(kind.rawValue)|\(measurand ?? "")|\(phase ?? "")|"
            + "\(unit ?? "")|\(location ?? "")|\(context ?? "")|\(format ?? "")|\(eventType ?? "")"
    }
}

extension EventRow {
    /// A total order independent of the store's internal series ids.
    var sortKey: String { "\(timestamp)|\(series.text)|\(transactionID ?? -1)" }
}

/// The directory of the built executables: `OCPP_BIN_DIR`, or the debug build beside the package.
var binaryDirectory: URL {
    if let path = ProcessInfo.processInfo.environment["OCPP_BIN_DIR"] {
        return URL(fileURLWithPath: path)
    }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/debug")
}
