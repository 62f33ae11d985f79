public import Foundation

/// A table of the relational store whose rows the REST API creates, reads, updates and deletes.
public protocol StoredEntity: Codable, Sendable, Hashable {
    /// The writable columns, as a create (POST) or full update (PUT) sets them.
    associatedtype Fields: Codable, Sendable, Hashable
    /// The table name.
    static var table: String { get }
    /// A human name for messages ("charger", "RFID card").
    static var displayName: String { get }
    /// The primary key.
    var id: Int64 { get }

    /// `fields` as a create (`current` nil) or a full update of a row with `current` writes
    /// them: what the caller left to the store filled in. Unchanged unless an entity says so.
    static func completing(_ fields: Fields, current: Fields?, store: RelationalStore) -> Fields
}

extension StoredEntity {
    public static func completing(_ fields: Fields, current: Fields?, store: RelationalStore) -> Fields {
        fields
    }
}

/// An operator: the company that runs chargers.
public struct Company: StoredEntity {
    public static let table = "companies"
    public static let displayName = "company"
    public var id: Int64
    public var name: String
    public var createdAt: Date
    public var updatedAt: Date

    public struct Fields: Codable, Sendable, Hashable {
        public var name: String
        public init(name: String) { self.name = name }
    }
}

/// A physical location with chargers.
public struct Site: StoredEntity {
    public static let table = "sites"
    public static let displayName = "site"
    public var id: Int64
    public var companyID: Int64
    public var name: String
    public var address: String?
    public var city: String?
    public var postalCode: String?
    public var country: String?
    public var latitude: Double?
    public var longitude: Double?
    public var timeZone: String?
    public var createdAt: Date
    public var updatedAt: Date

    public struct Fields: Codable, Sendable, Hashable {
        public var companyID: Int64
        public var name: String
        public var address: String?
        public var city: String?
        public var postalCode: String?
        public var country: String?
        public var latitude: Double?
        public var longitude: Double?
        public var timeZone: String?

        public init(
            companyID: Int64,
            name: String,
            address: String? = nil,
            city: String? = nil,
            postalCode: String? = nil,
            country: String? = nil,
            latitude: Double? = nil,
            longitude: Double? = nil,
            timeZone: String? = nil
        ) {
            self.companyID = companyID
            self.name = name
            self.address = address
            self.city = city
            self.postalCode = postalCode
            self.country = country
            self.latitude = latitude
            self.longitude = longitude
            self.timeZone = timeZone
        }
    }
}

/// A charging station, known by its OCPP identity.
public struct Charger: StoredEntity {
    public static let table = "chargers"
    public static let displayName = "charger"
    public var id: Int64
    public var siteID: Int64?
    public var chargePointID: String
    public var vendor: String?
    public var model: String?
    public var chargePointSerialNumber: String?
    public var chargeBoxSerialNumber: String?
    public var firmwareVersion: String?
    public var iccid: String?
    public var imsi: String?
    public var meterType: String?
    public var meterSerialNumber: String?
    public var registrationStatus: String
    /// 0 (none), 1 (HTTP Basic authentication), 2 (TLS and Basic authentication) or 3 (TLS
    /// with a client certificate): the least a connection of this charger must offer.
    public var securityProfile: Int
    public var lastBootAt: Date?
    public var lastHeartbeatAt: Date?
    public var createdAt: Date
    public var updatedAt: Date

    /// A create without a security profile takes the store's default; a full update without
    /// one keeps the charger's (an omission never lowers it).
    public static func completing(_ fields: Fields, current: Fields?, store: RelationalStore) -> Fields {
        var fields = fields
        if fields.securityProfile == nil {
            fields.securityProfile = current?.securityProfile ?? store.defaultSecurityProfile
        }
        return fields
    }

    public struct Fields: Codable, Sendable, Hashable {
        public var siteID: Int64?
        public var chargePointID: String
        public var vendor: String?
        public var model: String?
        public var chargePointSerialNumber: String?
        public var chargeBoxSerialNumber: String?
        public var firmwareVersion: String?
        public var iccid: String?
        public var imsi: String?
        public var meterType: String?
        public var meterSerialNumber: String?
        public var registrationStatus: String
        /// 0...3; nil leaves it to the store (see ``Charger/completing(_:current:store:)``).
        public var securityProfile: Int?

        public init(
            siteID: Int64? = nil,
            chargePointID: String,
            vendor: String? = nil,
            model: String? = nil,
            chargePointSerialNumber: String? = nil,
            chargeBoxSerialNumber: String? = nil,
            firmwareVersion: String? = nil,
            iccid: String? = nil,
            imsi: String? = nil,
            meterType: String? = nil,
            meterSerialNumber: String? = nil,
            registrationStatus: String = "Accepted",
            securityProfile: Int? = nil
        ) {
            self.siteID = siteID
            self.chargePointID = chargePointID
            self.vendor = vendor
            self.model = model
            self.chargePointSerialNumber = chargePointSerialNumber
            self.chargeBoxSerialNumber = chargeBoxSerialNumber
            self.firmwareVersion = firmwareVersion
            self.iccid = iccid
            self.imsi = imsi
            self.meterType = meterType
            self.meterSerialNumber = meterSerialNumber
            self.registrationStatus = registrationStatus
            self.securityProfile = securityProfile
        }
    }
}

/// A charging port of a charger (OCPP connector id 0 is the charger itself), with its current status.
public struct Connector: StoredEntity {
    public static let table = "connectors"
    public static let displayName = "connector"
    public var id: Int64
    public var chargerID: Int64
    public var connectorID: Int
    public var status: String?
    public var errorCode: String?
    public var info: String?
    public var vendorID: String?
    public var vendorErrorCode: String?
    public var statusAt: Date?
    public var createdAt: Date
    public var updatedAt: Date

    public struct Fields: Codable, Sendable, Hashable {
        public var chargerID: Int64
        public var connectorID: Int
        public var status: String?
        public var errorCode: String?
        public var info: String?
        public var vendorID: String?
        public var vendorErrorCode: String?
        public var statusAt: Date?

        public init(
            chargerID: Int64,
            connectorID: Int,
            status: String? = nil,
            errorCode: String? = nil,
            info: String? = nil,
            vendorID: String? = nil,
            vendorErrorCode: String? = nil,
            statusAt: Date? = nil
        ) {
            self.chargerID = chargerID
            self.connectorID = connectorID
            self.status = status
            self.errorCode = errorCode
            self.info = info
            self.vendorID = vendorID
            self.vendorErrorCode = vendorErrorCode
            self.statusAt = statusAt
        }
    }
}

/// An EV driver, a customer of an operator.
public struct Driver: StoredEntity {
    public static let table = "drivers"
    public static let displayName = "driver"
    public var id: Int64
    public var companyID: Int64
    public var name: String
    public var email: String?
    public var phone: String?
    public var createdAt: Date
    public var updatedAt: Date

    public struct Fields: Codable, Sendable, Hashable {
        public var companyID: Int64
        public var name: String
        public var email: String?
        public var phone: String?

        public init(companyID: Int64, name: String, email: String? = nil, phone: String? = nil) {
            self.companyID = companyID
            self.name = name
            self.email = email
            self.phone = phone
        }
    }
}

/// An RFID card: an OCPP IdToken with its authorization status.
public struct RFIDCard: StoredEntity {
    public static let table = "rfid_cards"
    public static let displayName = "RFID card"
    public var id: Int64
    public var idTag: String
    public var driverID: Int64?
    /// The company the card belongs to; `nil` for a card only unscoped callers see.
    public var companyID: Int64?
    public var status: String
    public var expiryDate: Date?
    public var parentIDTag: String?
    public var createdAt: Date
    public var updatedAt: Date

    public struct Fields: Codable, Sendable, Hashable {
        public var idTag: String
        public var driverID: Int64?
        public var companyID: Int64?
        public var status: String
        public var expiryDate: Date?
        public var parentIDTag: String?

        public init(
            idTag: String,
            driverID: Int64? = nil,
            companyID: Int64? = nil,
            status: String = "Accepted",
            expiryDate: Date? = nil,
            parentIDTag: String? = nil
        ) {
            self.idTag = idTag
            self.driverID = driverID
            self.companyID = companyID
            self.status = status
            self.expiryDate = expiryDate
            self.parentIDTag = parentIDTag
        }
    }
}

/// A charging session; its id is the OCPP transactionId.
public struct ChargeSession: StoredEntity {
    public static let table = "charge_sessions"
    public static let displayName = "charge session"
    public var id: Int64
    public var chargerID: Int64
    public var connectorID: Int
    public var idTag: String
    public var driverID: Int64?
    public var reservationID: Int?
    public var meterStart: Int64
    public var meterStop: Int64?
    public var startTime: Date
    public var stopTime: Date?
    public var stopReason: String?
    public var stopIDTag: String?
    public var status: String
    public var energyWh: Int64?
    public var createdAt: Date
    public var updatedAt: Date

    public struct Fields: Codable, Sendable, Hashable {
        public var chargerID: Int64
        public var connectorID: Int
        public var idTag: String
        public var driverID: Int64?
        public var reservationID: Int?
        public var meterStart: Int64
        public var meterStop: Int64?
        public var startTime: Date
        public var stopTime: Date?
        public var stopReason: String?
        public var stopIDTag: String?
        public var status: String
        public var energyWh: Int64?

        public init(
            chargerID: Int64,
            connectorID: Int,
            idTag: String,
            driverID: Int64? = nil,
            reservationID: Int? = nil,
            meterStart: Int64,
            meterStop: Int64? = nil,
            startTime: Date,
            stopTime: Date? = nil,
            stopReason: String? = nil,
            stopIDTag: String? = nil,
            status: String = "active",
            energyWh: Int64? = nil
        ) {
            self.chargerID = chargerID
            self.connectorID = connectorID
            self.idTag = idTag
            self.driverID = driverID
            self.reservationID = reservationID
            self.meterStart = meterStart
            self.meterStop = meterStop
            self.startTime = startTime
            self.stopTime = stopTime
            self.stopReason = stopReason
            self.stopIDTag = stopIDTag
            self.status = status
            self.energyWh = energyWh
        }
    }
}

/// A reservation sent to a charger (ReserveNow) with the charger's answer; `cancelledAt` is
/// set when a CancelReservation for it was accepted. Written by the command endpoints.
public struct Reservation: StoredEntity {
    public static let table = "reservations"
    public static let displayName = "reservation"
    public var id: Int64
    public var chargerID: Int64
    public var reservationID: Int
    public var connectorID: Int
    public var idTag: String
    public var parentIDTag: String?
    public var expiryDate: Date
    public var responseStatus: String
    public var cancelledAt: Date?
    public var createdAt: Date
    public var updatedAt: Date

    public struct Fields: Codable, Sendable, Hashable {
        public var chargerID: Int64
        public var reservationID: Int
        public var connectorID: Int
        public var idTag: String
        public var parentIDTag: String?
        public var expiryDate: Date
        public var responseStatus: String
        public var cancelledAt: Date?
    }
}

/// A charging profile sent to a charger (SetChargingProfile) with the charger's answer and
/// the profile as sent (JSON, snake_case); `clearedAt` is set when a ClearChargingProfile
/// that matches it was accepted. Written by the command endpoints.
public struct ChargingProfileRecord: StoredEntity {
    public static let table = "charging_profiles"
    public static let displayName = "charging profile"
    public var id: Int64
    public var chargerID: Int64
    public var connectorID: Int
    public var chargingProfileID: Int
    public var stackLevel: Int
    public var purpose: String
    public var kind: String
    public var transactionID: Int?
    public var profile: String
    public var responseStatus: String
    public var clearedAt: Date?
    public var createdAt: Date
    public var updatedAt: Date

    public struct Fields: Codable, Sendable, Hashable {
        public var chargerID: Int64
        public var connectorID: Int
        public var chargingProfileID: Int
        public var stackLevel: Int
        public var purpose: String
        public var kind: String
        public var transactionID: Int?
        public var profile: String
        public var responseStatus: String
        public var clearedAt: Date?
    }
}
