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
    /// - Parameter resolve: The store's id of a series, if it has one yet (remembered by the
    ///   cache for ``batch(of:chargePointID:cache:resolve:)``).
    static func samples(
        chargePointID: String,
        connectorID: Int,
        transactionID: Int?,
        meterValues: [MeterValue],
        cache: inout SampleSeriesCache,
        into rows: inout [EventRow],
        resolve: (SeriesKey) -> UInt32? = { _ in nil }
    ) {
        var position = 0
        let slot = cache.slot(connectorID: connectorID)
        for meterValue in meterValues {
            let timestamp = meterValue.timestamp.millisecondsSince1970
            for sampled in meterValue.sampledValue {
                let key = cache.key(
                    chargePointID: chargePointID,
                    slot: slot,
                    sampled,
                    position: position,
                    resolve: resolve
                )
                position += 1
                rows.append(
                    EventRow(series: key, timestamp: timestamp, value: value(of: sampled), transactionID: transactionID)
                )
            }
        }
    }

    /// A sampled value's value as the store keeps it.
    @inline(__always)
    static func value(of sampled: SampledValue) -> EventValue {
        .sample(sampled.value, signed: sampled.format == .signedData)
    }

    /// The rows of a MeterValues request, by series id when the cache knows every series' id
    /// (the common case: a charger repeats its series), otherwise by key (and the ids are
    /// looked up through `resolve` for the next message).
    static func batch(
        of request: MeterValuesRequest,
        chargePointID: String,
        cache: inout SampleSeriesCache,
        resolve: (SeriesKey) -> UInt32?
    ) -> AppendBatch {
        let count = request.meterValue.reduce(0) { $0 + $1.sampledValue.count }
        let slot = cache.slot(connectorID: request.connectorId)
        var resolved: [StoredRow] = []
        resolved.reserveCapacity(count)
        var position = 0
        allKnown: for meterValue in request.meterValue {
            let timestamp = meterValue.timestamp.millisecondsSince1970
            for sampled in meterValue.sampledValue {
                guard let id = cache.seriesID(slot: slot, sampled, position: position) else { break allKnown }
                position += 1
                resolved.append(
                    StoredRow(
                        seriesID: id,
                        timestamp: timestamp,
                        value: value(of: sampled),
                        transactionID: request.transactionId
                    )
                )
            }
        }
        if resolved.count == count { return .resolved(resolved) }
        return .keyed(rows(of: request, chargePointID: chargePointID, cache: &cache, resolve: resolve))
    }

    /// The rows of a MeterValues request.
    static func rows(
        of request: MeterValuesRequest,
        chargePointID: String,
        cache: inout SampleSeriesCache,
        resolve: (SeriesKey) -> UInt32? = { _ in nil }
    ) -> [EventRow] {
        var rows: [EventRow] = []
        rows.reserveCapacity(request.meterValue.reduce(0) { $0 + $1.sampledValue.count })
        samples(
            chargePointID: chargePointID,
            connectorID: request.connectorId,
            transactionID: request.transactionId,
            meterValues: request.meterValue,
            cache: &cache,
            into: &rows,
            resolve: resolve
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
                kind: .sample,
                measurand: defaultMeasurand,
                unit: defaultUnit,
                location: defaultLocation,
                context: context.rawValue,
                format: defaultFormat
            ),
            timestamp: timestamp.millisecondsSince1970,
            value: .number(Double(watthours)),
            transactionID: transactionID
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

/// The series keys of one charger's samples, by their attributes: a charger repeats the same
/// series in every message, so its key is built (and hashed) once and then shared, which
/// also lets the store match it by identity.
struct SampleSeriesCache {
    /// A sampled value's optional attributes, as sent.
    private struct Sampled: Hashable {
        var measurand: Measurand?
        var phase: Phase?
        var unit: UnitOfMeasure?
        var location: Location?
        var context: ReadingContext?
        var format: ValueFormat?

        init() {}

        init(_ value: SampledValue) {
            measurand = value.measurand
            phase = value.phase
            unit = value.unit
            location = value.location
            context = value.context
            format = value.format
        }
    }

    private struct Attributes: Hashable {
        var connectorID: Int
        var sampled: Sampled
    }

    /// One connector whose last message's series are remembered, by position, in
    /// `recentSampled` and `recentKeys` from `slot * recentPositions` on (flat arrays: no
    /// nested array to retain on every look-up). The transaction is not part of a series, so
    /// a connector's slot serves all its sessions.
    private struct Slot {
        var connectorID: Int
        var count = 0
    }

    private var keys: [Attributes: SeriesKey] = [:]
    /// A charger sends the same sampled values in the same order each time (per connector),
    /// so comparing with the same position of the connector's last message is a hit without
    /// hashing.
    private var slots: [Slot] = []
    private var recentSampled: [Sampled] = []
    private var recentKeys: [SeriesKey?] = []
    /// The store's id of each remembered key's series, once it has one (``unresolved`` before).
    private var recentIDs: [UInt32] = []
    static let unresolved = UInt32.max
    /// The slot the next new connector replaces once all are taken.
    private var nextReplaced = 0
    /// Entries kept at most (a charger's attribute combinations are few; a misbehaving one
    /// cannot grow the cache); beyond it the cache starts over.
    static let capacity = 512
    /// Positions remembered per connector, and connectors remembered.
    static let recentPositions = 64
    static let recentConnectors = 8

    /// The slot of one connector, looked up once per message.
    mutating func slot(connectorID: Int) -> Int {
        for index in slots.indices where slots[index].connectorID == connectorID {
            return index
        }
        if slots.count < Self.recentConnectors {
            slots.append(Slot(connectorID: connectorID))
            recentSampled.append(contentsOf: repeatElement(Sampled(), count: Self.recentPositions))
            recentKeys.append(contentsOf: repeatElement(nil, count: Self.recentPositions))
            recentIDs.append(contentsOf: repeatElement(Self.unresolved, count: Self.recentPositions))
            return slots.count - 1
        }
        let index = nextReplaced
        nextReplaced = (nextReplaced + 1) % Self.recentConnectors
        slots[index] = Slot(connectorID: connectorID)
        return index
    }

    /// The store's id of the series of `sampled`, the `position`-th sampled value of its
    /// message, in the connector's `slot`, if the cache remembers it (touches no key object).
    mutating func seriesID(slot: Int, _ sampledValue: SampledValue, position: Int) -> UInt32? {
        guard position < slots[slot].count else { return nil }
        let index = slot * Self.recentPositions + position
        let id = recentIDs[index]
        guard id != Self.unresolved, recentSampled[index] == Sampled(sampledValue) else { return nil }
        return id
    }

    /// The key of `sampled`, the `position`-th sampled value of its message, in the
    /// connector's `slot`, with the spec's defaults for absent attributes; `resolve` gives the
    /// store's id of a remembered key's series, if it has one yet.
    mutating func key(
        chargePointID: String,
        slot: Int,
        _ sampledValue: SampledValue,
        position: Int,
        resolve: (SeriesKey) -> UInt32? = { _ in nil }
    ) -> SeriesKey {
        let sampled = Sampled(sampledValue)
        let index = slot * Self.recentPositions + position
        let remembered = slots[slot].count
        if position < remembered, recentSampled[index] == sampled, let key = recentKeys[index] {
            if recentIDs[index] == Self.unresolved, let id = resolve(key) { recentIDs[index] = id }
            return key
        }
        let attributes = Attributes(connectorID: slots[slot].connectorID, sampled: sampled)
        let key = lookUp(attributes, chargePointID: chargePointID)
        if position < remembered || (position == remembered && position < Self.recentPositions) {
            recentSampled[index] = sampled
            recentKeys[index] = key
            recentIDs[index] = resolve(key) ?? Self.unresolved
            if position == remembered { slots[slot].count += 1 }
        }
        return key
    }

    private mutating func lookUp(_ attributes: Attributes, chargePointID: String) -> SeriesKey {
        if let key = keys[attributes] { return key }
        let sampled = attributes.sampled
        let key = SeriesKey(
            chargePointID: chargePointID,
            connectorID: attributes.connectorID,
            kind: .sample,
            measurand: sampled.measurand?.rawValue ?? EventRows.defaultMeasurand,
            phase: sampled.phase?.rawValue,
            unit: sampled.unit?.rawValue ?? EventRows.defaultUnit,
            location: sampled.location?.rawValue ?? EventRows.defaultLocation,
            context: sampled.context?.rawValue ?? EventRows.defaultContext,
            format: sampled.format?.rawValue ?? EventRows.defaultFormat
        )
        if keys.count >= Self.capacity { keys.removeAll(keepingCapacity: true) }
        keys[attributes] = key
        return key
    }
}
