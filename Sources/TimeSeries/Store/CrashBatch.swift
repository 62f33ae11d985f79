/// The rows of batch `number` in the crash test: written by the child process, checked by
/// the parent. Each batch has rows no other batch has (its own timestamps), on a few series,
/// including a text value, so that both sides agree on what a batch holds.
public enum CrashBatch {
    /// The rows batch `number` appends.
    public static func rows(_ number: Int) -> [EventRow] {
        (0..<rowsPerBatch).map { index in
            let series = SeriesKey(
                chargePointID: "CP-\(index % 3)",
                connectorID: 1,
                kind: .sample,
                measurand: index % 2 == 0 ? "Energy.Active.Import.Register" : "Voltage"
            )
            let value: EventValue = index == 4 ? .text("batch-\(number)") : .number(Double(number * 100 + index))
            return EventRow(series: series, timestamp: Int64(1_700_000_000_000 + number * 1000 + index), value: value)
        }
    }

    /// Rows in each batch.
    public static let rowsPerBatch = 7

    /// The batch a row belongs to, from its timestamp.
    public static func batch(of row: EventRow) -> Int {
        Int((row.timestamp - 1_700_000_000_000) / 1000)
    }
}
