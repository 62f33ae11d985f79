/// What a series is about: which charger and connector, which transaction, what kind of
/// event and, for meter samples, which measured quantity. Every distinct key gets a compact
/// id in the store's series dictionary.
public struct SeriesKey: Sendable, Hashable, Comparable {
    /// What kind of event a series holds.
    public enum Kind: UInt8, Sendable, Hashable, Comparable {
        /// Meter samples (MeterValues, StopTransaction.transactionData, meter start/stop).
        case sample = 0
        /// Connector status changes (StatusNotification).
        case status = 1
        /// Any other notification; ``SeriesKey/eventType`` names it.
        case event = 2

        public static func < (lhs: Kind, rhs: Kind) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public let chargePointID: String
    public let connectorID: Int
    public let transactionID: Int?
    public let kind: Kind
    /// For samples: the measurand, phase, unit, location, context and format as the charger sent them.
    public let measurand: String?
    public let phase: String?
    public let unit: String?
    public let location: String?
    public let context: String?
    public let format: String?
    /// For other events: the action, e.g. `FirmwareStatusNotification`.
    public let eventType: String?
    /// Computed once: every appended row looks its series up by key, and hashing eleven
    /// fields per row was a quarter of the append path's time.
    private let cachedHash: Int

    public init(
        chargePointID: String,
        connectorID: Int,
        transactionID: Int? = nil,
        kind: Kind,
        measurand: String? = nil,
        phase: String? = nil,
        unit: String? = nil,
        location: String? = nil,
        context: String? = nil,
        format: String? = nil,
        eventType: String? = nil
    ) {
        self.chargePointID = chargePointID
        self.connectorID = connectorID
        self.transactionID = transactionID
        self.kind = kind
        self.measurand = measurand
        self.phase = phase
        self.unit = unit
        self.location = location
        self.context = context
        self.format = format
        self.eventType = eventType
        var hasher = Hasher()
        hasher.combine(chargePointID)
        hasher.combine(connectorID)
        hasher.combine(transactionID)
        hasher.combine(kind)
        hasher.combine(measurand)
        hasher.combine(phase)
        hasher.combine(unit)
        hasher.combine(location)
        hasher.combine(context)
        hasher.combine(format)
        hasher.combine(eventType)
        cachedHash = hasher.finalize()
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(cachedHash)
    }

    public static func == (lhs: SeriesKey, rhs: SeriesKey) -> Bool {
        lhs.cachedHash == rhs.cachedHash && lhs.chargePointID == rhs.chargePointID
            && lhs.connectorID == rhs.connectorID && lhs.transactionID == rhs.transactionID && lhs.kind == rhs.kind
            && lhs.measurand == rhs.measurand && lhs.phase == rhs.phase && lhs.unit == rhs.unit
            && lhs.location == rhs.location && lhs.context == rhs.context && lhs.format == rhs.format
            && lhs.eventType == rhs.eventType
    }

    public static func < (lhs: SeriesKey, rhs: SeriesKey) -> Bool {
        (lhs.chargePointID, lhs.connectorID, lhs.transactionID ?? -1, lhs.kind.rawValue)
            < (rhs.chargePointID, rhs.connectorID, rhs.transactionID ?? -1, rhs.kind.rawValue)
            || ((lhs.chargePointID, lhs.connectorID, lhs.transactionID ?? -1, lhs.kind.rawValue)
                == (rhs.chargePointID, rhs.connectorID, rhs.transactionID ?? -1, rhs.kind.rawValue)
                && lhs.attributes.lexicographicallyPrecedes(rhs.attributes))
    }

    private var attributes: [String] {
        [measurand, phase, unit, location, context, format, eventType].map { $0 ?? "" }
    }

    func write(to writer: inout ByteWriter) {
        writer.writeString(chargePointID)
        writer.writeSignedVarint(Int64(connectorID))
        if let transactionID {
            writer.write(UInt8(1))
            writer.writeSignedVarint(Int64(transactionID))
        } else {
            writer.write(UInt8(0))
        }
        writer.write(kind.rawValue)
        for attribute in [measurand, phase, unit, location, context, format, eventType] {
            writer.writeOptionalString(attribute)
        }
    }

    static func read(from reader: inout ByteReader) throws -> SeriesKey? {
        let chargePointID = try reader.readString()
        let connectorID = Int(try reader.readSignedVarint())
        let transactionID: Int? = try reader.readByte() == 1 ? Int(try reader.readSignedVarint()) : nil
        guard let kind = Kind(rawValue: try reader.readByte()) else { return nil }
        var attributes: [String?] = []
        for _ in 0..<7 { attributes.append(try reader.readOptionalString()) }
        return SeriesKey(
            chargePointID: chargePointID,
            connectorID: connectorID,
            transactionID: transactionID,
            kind: kind,
            measurand: attributes[0],
            phase: attributes[1],
            unit: attributes[2],
            location: attributes[3],
            context: attributes[4],
            format: attributes[5],
            eventType: attributes[6]
        )
    }
}
