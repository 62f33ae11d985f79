/// What a series is about: which charger and connector, what kind of event and, for meter
/// samples, which measured quantity. Every distinct key gets a compact id in the store's
/// series dictionary. The charging session a row belongs to is not part of its series: it is
/// an attribute of the row (``EventRow/transactionID``), so a connector's series last across
/// its sessions.
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

    /// The fields live in one shared, immutable object: a key is copied (and compared) for
    /// every appended row, and a copy of one reference costs one retain where a struct of
    /// ten fields costs one per string.
    private final class Storage: Sendable {
        let chargePointID: String
        let connectorID: Int
        let kind: Kind
        let measurand: String?
        let phase: String?
        let unit: String?
        let location: String?
        let context: String?
        let format: String?
        let eventType: String?
        let hash: Int

        init(
            chargePointID: String,
            connectorID: Int,
            kind: Kind,
            measurand: String?,
            phase: String?,
            unit: String?,
            location: String?,
            context: String?,
            format: String?,
            eventType: String?
        ) {
            self.chargePointID = chargePointID
            self.connectorID = connectorID
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
            hasher.combine(kind)
            hasher.combine(measurand)
            hasher.combine(phase)
            hasher.combine(unit)
            hasher.combine(location)
            hasher.combine(context)
            hasher.combine(format)
            hasher.combine(eventType)
            hash = hasher.finalize()
        }
    }

    private let storage: Storage

    public var chargePointID: String { storage.chargePointID }
    public var connectorID: Int { storage.connectorID }
    public var kind: Kind { storage.kind }
    /// For samples: the measurand, phase, unit, location, context and format as the charger sent them.
    public var measurand: String? { storage.measurand }
    public var phase: String? { storage.phase }
    public var unit: String? { storage.unit }
    public var location: String? { storage.location }
    public var context: String? { storage.context }
    public var format: String? { storage.format }
    /// For other events: the action, e.g. `FirmwareStatusNotification`.
    public var eventType: String? { storage.eventType }

    public init(
        chargePointID: String,
        connectorID: Int,
        kind: Kind,
        measurand: String? = nil,
        phase: String? = nil,
        unit: String? = nil,
        location: String? = nil,
        context: String? = nil,
        format: String? = nil,
        eventType: String? = nil
    ) {
        storage = Storage(
            chargePointID: chargePointID,
            connectorID: connectorID,
            kind: kind,
            measurand: measurand,
            phase: phase,
            unit: unit,
            location: location,
            context: context,
            format: format,
            eventType: eventType
        )
    }

    /// The key object's address, for identity caches (read without retaining the object).
    var identity: UInt { UInt(bitPattern: ObjectIdentifier(storage)) }

    /// A slot number from an ``identity``: the address times a 64-bit odd constant
    /// (Fibonacci hashing), high bits first, so that objects allocated close together spread
    /// over all the slots rather than a few neighbouring ones.
    static func identitySlot(_ identity: UInt) -> Int {
        Int(truncatingIfNeeded: (UInt64(identity) &* 0x9E37_79B9_7F4A_7C15) &>> 32)
    }

    /// Whether both are the same key object (and so equal), without comparing fields.
    func isSameObject(as other: SeriesKey) -> Bool { storage === other.storage }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(storage.hash)
    }

    public static func == (lhs: SeriesKey, rhs: SeriesKey) -> Bool {
        let left = lhs.storage
        let right = rhs.storage
        if left === right { return true }
        return left.hash == right.hash && left.chargePointID == right.chargePointID
            && left.connectorID == right.connectorID && left.kind == right.kind && left.measurand == right.measurand
            && left.phase == right.phase
            && left.unit == right.unit && left.location == right.location && left.context == right.context
            && left.format == right.format && left.eventType == right.eventType
    }

    public static func < (lhs: SeriesKey, rhs: SeriesKey) -> Bool {
        (lhs.chargePointID, lhs.connectorID, lhs.kind.rawValue) < (
            rhs.chargePointID, rhs.connectorID, rhs.kind.rawValue
        )
            || ((lhs.chargePointID, lhs.connectorID, lhs.kind.rawValue)
                == (rhs.chargePointID, rhs.connectorID, rhs.kind.rawValue)
                && lhs.attributes.lexicographicallyPrecedes(rhs.attributes))
    }

    private var attributes: [String] {
        [measurand, phase, unit, location, context, format, eventType].map { $0 ?? "" }
    }

    /// The key as series definitions of the current format hold it (log and dictionary
    /// records of type ``WALFormat/recordType``).
    func write(to writer: inout ByteWriter) {
        writer.writeString(chargePointID)
        writer.writeSignedVarint(Int64(connectorID))
        writer.write(kind.rawValue)
        for attribute in [measurand, phase, unit, location, context, format, eventType] {
            writer.writeOptionalString(attribute)
        }
    }

    static func read(from reader: inout ByteReader) throws -> SeriesKey? {
        try read(from: &reader, legacy: false)?.key
    }

    /// A key as records of ``WALFormat/legacyRecordType`` hold it, with the transaction that
    /// was part of series keys then.
    static func readLegacy(from reader: inout ByteReader) throws -> (key: SeriesKey, transactionID: Int?)? {
        try read(from: &reader, legacy: true)
    }

    private static func read(
        from reader: inout ByteReader,
        legacy: Bool
    ) throws -> (key: SeriesKey, transactionID: Int?)? {
        let chargePointID = try reader.readString()
        let connectorID = Int(try reader.readSignedVarint())
        var transactionID: Int?
        if legacy, try reader.readByte() == 1 { transactionID = Int(try reader.readSignedVarint()) }
        guard let kind = Kind(rawValue: try reader.readByte()) else { return nil }
        var attributes: [String?] = []
        for _ in 0..<7 { attributes.append(try reader.readOptionalString()) }
        let key = SeriesKey(
            chargePointID: chargePointID,
            connectorID: connectorID,
            kind: kind,
            measurand: attributes[0],
            phase: attributes[1],
            unit: attributes[2],
            location: attributes[3],
            context: attributes[4],
            format: attributes[5],
            eventType: attributes[6]
        )
        return (key, transactionID)
    }
}
