import Protocol
import TimeSeries

/// How charger messages become time-series rows: every sampled value with all its
/// attributes (the spec's defaults filled in where absent), every status change, every other
/// notification's payload.
enum EventRows {
    /// The spec's defaults for a sampled value's optional attributes (OCPP 1.6, 7.45).
    static let defaultMeasurand = Measurand.energyActiveImportRegister.rawValue
    static let defaultUnit = UnitOfMeasure.wh.rawValue
    static let defaultContext = ReadingContext.samplePeriodic.rawValue
    static let defaultFormat = ValueFormat.raw.rawValue
    static let defaultLocation = Location.outlet.rawValue

    /// The rows of meter values: one per sampled value.
    static func samples(
        chargePointID: String,
        connectorID: Int,
        transactionID: Int?,
        meterValues: [MeterValue],
        into rows: inout [EventRow]
    ) {
        for meterValue in meterValues {
            let timestamp = meterValue.timestamp.millisecondsSince1970
            for sampled in meterValue.sampledValue {
                let format = sampled.format?.rawValue ?? defaultFormat
                let key = SeriesKey(
                    chargePointID: chargePointID,
                    connectorID: connectorID,
                    transactionID: transactionID,
                    kind: .sample,
                    measurand: sampled.measurand?.rawValue ?? defaultMeasurand,
                    phase: sampled.phase?.rawValue,
                    unit: sampled.unit?.rawValue ?? defaultUnit,
                    location: sampled.location?.rawValue ?? defaultLocation,
                    context: sampled.context?.rawValue ?? defaultContext,
                    format: format
                )
                rows.append(
                    EventRow(
                        series: key,
                        timestamp: timestamp,
                        value: .sample(sampled.value, signed: sampled.format == .signedData)
                    )
                )
            }
        }
    }

    /// The rows of a MeterValues request.
    static func rows(of request: MeterValuesRequest, chargePointID: String) -> [EventRow] {
        var rows: [EventRow] = []
        rows.reserveCapacity(request.meterValue.reduce(0) { $0 + $1.sampledValue.count })
        samples(
            chargePointID: chargePointID,
            connectorID: request.connectorId,
            transactionID: request.transactionId,
            meterValues: request.meterValue,
            into: &rows
        )
        return rows
    }

    /// The row of a StatusNotification (stamped `now` when the charger sent no time).
    static func row(of request: StatusNotificationRequest, chargePointID: String, now: Int64) -> EventRow {
        EventRow(
            series: SeriesKey(chargePointID: chargePointID, connectorID: request.connectorId, kind: .status),
            timestamp: request.timestamp?.millisecondsSince1970 ?? now,
            value: .status(
                StatusEvent(
                    status: request.status.rawValue,
                    errorCode: request.errorCode.rawValue,
                    info: request.info,
                    vendorID: request.vendorId,
                    vendorErrorCode: request.vendorErrorCode
                )
            )
        )
    }

    /// The meter register at a transaction's start or end, as a sample of the transaction
    /// (context `Transaction.Begin` or `Transaction.End`).
    static func meterRegister(
        chargePointID: String,
        connectorID: Int,
        transactionID: Int,
        watthours: Int,
        timestamp: OCPPTimestamp,
        context: ReadingContext
    ) -> EventRow {
        EventRow(
            series: SeriesKey(
                chargePointID: chargePointID,
                connectorID: connectorID,
                transactionID: transactionID,
                kind: .sample,
                measurand: defaultMeasurand,
                unit: defaultUnit,
                location: defaultLocation,
                context: context.rawValue,
                format: defaultFormat
            ),
            timestamp: timestamp.millisecondsSince1970,
            value: .number(Double(watthours))
        )
    }

    /// The row of another notification: its payload as JSON, under the action's name.
    static func event<Request: OCPPRequest>(
        _ request: Request,
        chargePointID: String,
        connectorID: Int = 0,
        now: Int64
    ) -> EventRow {
        EventRow(
            series: SeriesKey(
                chargePointID: chargePointID,
                connectorID: connectorID,
                kind: .event,
                eventType: Request.action.rawValue
            ),
            timestamp: now,
            value: .payload(String(decoding: request.encoded(), as: UTF8.self))
        )
    }
}
