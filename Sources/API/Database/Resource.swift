import Ingest

/// One JSON field of a database resource: its type and rules, as the REST API checks them
/// and the OpenAPI document states them.
struct ResourceField: Sendable {
    enum Kind: Sendable {
        case integer, number, string, dateTime
    }

    var name: String
    var kind: Kind
    var description: String
    /// May be null (and absent on a create).
    var nullable = false
    /// Set by the server; never read from a body.
    var readOnly = false
    /// The value a create or a full update gets when the body leaves the field out.
    var defaultValue: JSONValue?
    /// What the store fills in when a create or full update leaves the field out, for the
    /// documentation (a default that depends on the server's settings or on the row).
    var storeDefault: String?
    /// The only values a string may take.
    var allowed: [String]?
    var minimum: Int64?
    var maximum: Int64?
    var minimumLength: Int?
    var maximumLength: Int?
    /// Lists accept `?name=value` to keep only rows with that value.
    var filterable = false
    /// A regular expression a string matches (documentation; `rule` enforces it).
    var pattern: String?
    /// A further rule for strings: the reason a value breaks it, or nil.
    var rule: (@Sendable (String) -> String?)?

    /// Whether a create or full update must carry the field.
    var required: Bool { !nullable && !readOnly && defaultValue == nil && storeDefault == nil }
}

/// A table of the relational store as the REST API shows it.
struct Resource: Sendable {
    /// The path segment of its collection and its OpenAPI schema's base name (`charge_sessions`).
    var collection: String
    /// The OpenAPI schema name (`ChargeSession`).
    var schemaName: String
    /// The path parameter of one row's id, wherever the row is addressed (`charge_session_id`).
    var idParameter: String
    /// A human name for messages and documentation ("charge session").
    var displayName: String
    /// The writable and server-set fields, in the order responses show them (without `id`,
    /// `created_at`, `updated_at`, which every resource has).
    var fields: [ResourceField]
    /// The time field `from` and `to` filter lists on, if any.
    var timeFilter: String?
    /// Written by the server only: the API lists and reads it.
    var readOnly = false
    /// The largest id the table hands out (its ids start at 1).
    var idMaximum = Int64.max

    /// Every field a response carries, in order.
    var responseFields: [ResourceField] {
        [
            ResourceField(
                name: "id",
                kind: .integer,
                description: "The database id.",
                readOnly: true,
                minimum: 1,
                maximum: idMaximum
            )
        ] + fields + [
            ResourceField(
                name: "created_at",
                kind: .dateTime,
                description: "When the row was created.",
                readOnly: true
            ),
            ResourceField(
                name: "updated_at",
                kind: .dateTime,
                description: "When the row last changed through the API or OCPP.",
                readOnly: true
            ),
        ]
    }

    var writableFields: [ResourceField] { fields.filter { !$0.readOnly } }

    /// Fields a list can be sorted by.
    var sortableFields: [String] { responseFields.map(\.name) }

    func field(_ name: String) -> ResourceField? { responseFields.first { $0.name == name } }
}

extension Resource {
    private static func text(
        _ name: String,
        _ description: String,
        nullable: Bool = true,
        length: ClosedRange<Int>? = nil,
        allowed: [String]? = nil,
        defaultValue: String? = nil,
        filterable: Bool = false
    ) -> ResourceField {
        ResourceField(
            name: name,
            kind: .string,
            description: description,
            nullable: nullable,
            defaultValue: defaultValue.map(JSONValue.string),
            allowed: allowed,
            minimumLength: length?.lowerBound,
            maximumLength: length?.upperBound,
            filterable: filterable
        )
    }

    private static func reference(_ name: String, _ description: String, nullable: Bool = false) -> ResourceField {
        ResourceField(
            name: name,
            kind: .integer,
            description: description,
            nullable: nullable,
            minimum: 1,
            maximum: Int64.max,
            filterable: true
        )
    }

    private static func time(_ name: String, _ description: String, readOnly: Bool = false) -> ResourceField {
        ResourceField(name: name, kind: .dateTime, description: description, nullable: true, readOnly: readOnly)
    }

    static let companies = Resource(
        collection: "companies",
        schemaName: "Company",
        idParameter: "company_id",
        displayName: "company",
        fields: [text("name", "The operator's name, unique.", nullable: false, length: 1...255, filterable: true)]
    )

    static let sites = Resource(
        collection: "sites",
        schemaName: "Site",
        idParameter: "site_id",
        displayName: "site",
        fields: [
            reference("company_id", "The company that runs the site."),
            text(
                "name",
                "The site's name, unique within its company.",
                nullable: false,
                length: 1...255,
                filterable: true
            ),
            text("address", "Street and number."),
            text("city", "City.", filterable: true),
            text("postal_code", "Postal code."),
            text("country", "Country (ISO 3166-1 alpha-2 recommended).", filterable: true),
            ResourceField(
                name: "latitude",
                kind: .number,
                description: "Degrees north.",
                nullable: true,
                minimum: -90,
                maximum: 90
            ),
            ResourceField(
                name: "longitude",
                kind: .number,
                description: "Degrees east.",
                nullable: true,
                minimum: -180,
                maximum: 180
            ),
            text("time_zone", "IANA time zone name (e.g. Europe/Berlin)."),
        ]
    )

    static let chargers = Resource(
        collection: "chargers",
        schemaName: "Charger",
        idParameter: "charger_id",
        displayName: "charger",
        fields: [
            reference("site_id", "The site the charger stands at, if any.", nullable: true),
            {
                var field = text(
                    "charge_point_id",
                    "The OCPP identity: the last path segment of its WebSocket URL, unique.",
                    nullable: false,
                    length: 1...48,
                    filterable: true
                )
                field.pattern = ChargePointID.pattern
                field.rule = { text in
                    do throws(ChargePointIDError) {
                        _ = try ChargePointID(text)
                        return nil
                    } catch {
                        return error.reason
                    }
                }
                return field
            }(),
            text("vendor", "chargePointVendor of its last BootNotification.", filterable: true),
            text("model", "chargePointModel of its last BootNotification.", filterable: true),
            text("charge_point_serial_number", "chargePointSerialNumber of its last BootNotification."),
            text("charge_box_serial_number", "chargeBoxSerialNumber of its last BootNotification."),
            text("firmware_version", "firmwareVersion of its last BootNotification."),
            text("iccid", "iccid of its last BootNotification."),
            text("imsi", "imsi of its last BootNotification."),
            text("meter_type", "meterType of its last BootNotification."),
            text("meter_serial_number", "meterSerialNumber of its last BootNotification."),
            text(
                "registration_status",
                "What its BootNotification is answered.",
                nullable: false,
                allowed: ["Accepted", "Pending", "Rejected"],
                defaultValue: "Accepted",
                filterable: true
            ),
            ResourceField(
                name: "security_profile",
                kind: .integer,
                description: "The OCPP security profile: the least a connection of the charger must offer. "
                    + "0: none (the id in the URL is trusted); 1: HTTP Basic authentication with its "
                    + "authorization key; 2: TLS and Basic authentication; 3: TLS with a client certificate "
                    + "whose common name is its charge_point_id. A charger is never accepted below it.",
                storeDefault: "on a create, the server's default (OCPP_DEFAULT_SECURITY_PROFILE, 0 unless set); "
                    + "on a full update, the charger's current profile",
                minimum: 0,
                maximum: 3,
                filterable: true
            ),
            time("last_boot_at", "When it last sent BootNotification.", readOnly: true),
            time("last_heartbeat_at", "When it was last heard from (coalesced, about once a second).", readOnly: true),
        ]
    )

    static let connectors = Resource(
        collection: "connectors",
        schemaName: "Connector",
        idParameter: "connector_id",
        displayName: "connector",
        fields: [
            reference("charger_id", "The charger's database id."),
            ResourceField(
                name: "connector_id",
                kind: .integer,
                description: "The OCPP connector id (0 is the charger as a whole).",
                minimum: 0,
                maximum: 2_147_483_647,
                filterable: true
            ),
            text("status", "The last StatusNotification's status.", filterable: true),
            text("error_code", "The last StatusNotification's errorCode."),
            text("info", "The last StatusNotification's info."),
            text("vendor_id", "The last StatusNotification's vendorId."),
            text("vendor_error_code", "The last StatusNotification's vendorErrorCode."),
            time("status_at", "The last StatusNotification's timestamp."),
        ]
    )

    static let drivers = Resource(
        collection: "drivers",
        schemaName: "Driver",
        idParameter: "driver_id",
        displayName: "driver",
        fields: [
            reference("company_id", "The company the driver is a customer of."),
            text("name", "The driver's name.", nullable: false, length: 1...255, filterable: true),
            text("email", "E-mail address.", filterable: true),
            text("phone", "Phone number."),
        ]
    )

    static let rfidCards = Resource(
        collection: "rfid_cards",
        schemaName: "RFIDCard",
        idParameter: "rfid_card_id",
        displayName: "RFID card",
        fields: [
            text(
                "id_tag",
                "The OCPP idTag the card presents, unique. Authorize answers from this table at once.",
                nullable: false,
                length: 1...20,
                filterable: true
            ),
            reference("driver_id", "The driver the card belongs to, if any.", nullable: true),
            reference(
                "company_id",
                "The company the card belongs to. A caller limited to a company creates its company's cards "
                    + "(left out, this is filled in); null: only callers unlimited to a company see the card.",
                nullable: true
            ),
            text(
                "status",
                "The idTagInfo status Authorize answers.",
                nullable: false,
                allowed: ["Accepted", "Blocked", "Expired", "Invalid"],
                defaultValue: "Accepted",
                filterable: true
            ),
            time("expiry_date", "After this instant the card is Expired."),
            text("parent_id_tag", "The group idTag, answered as parentIdTag.", length: 1...20, filterable: true),
        ]
    )

    static let chargeSessions = Resource(
        collection: "charge_sessions",
        schemaName: "ChargeSession",
        idParameter: "charge_session_id",
        displayName: "charge session",
        fields: [
            reference("charger_id", "The charger's database id."),
            ResourceField(
                name: "connector_id",
                kind: .integer,
                description: "The OCPP connector id.",
                minimum: 0,
                maximum: 2_147_483_647,
                filterable: true
            ),
            text("id_tag", "The idTag that started it.", nullable: false, length: 1...20, filterable: true),
            reference("driver_id", "The driver whose card started it, if known.", nullable: true),
            ResourceField(
                name: "reservation_id",
                kind: .integer,
                description: "The reservation it used, if any.",
                nullable: true,
                minimum: -2_147_483_648,
                maximum: 2_147_483_647
            ),
            ResourceField(
                name: "meter_start",
                kind: .integer,
                description: "Energy register at the start, in Wh.",
                minimum: Int64(Int32.min),
                maximum: Int64(Int32.max)
            ),
            ResourceField(
                name: "meter_stop",
                kind: .integer,
                description: "Energy register at the stop, in Wh.",
                nullable: true,
                minimum: Int64(Int32.min),
                maximum: Int64(Int32.max)
            ),
            ResourceField(name: "start_time", kind: .dateTime, description: "When it started."),
            time("stop_time", "When it stopped."),
            text("stop_reason", "StopTransaction's reason."),
            text("stop_id_tag", "The idTag that stopped it."),
            text(
                "status",
                "active until StopTransaction, then completed.",
                nullable: false,
                allowed: ["active", "completed"],
                defaultValue: "active",
                filterable: true
            ),
            ResourceField(
                name: "energy_wh",
                kind: .integer,
                description: "meter_stop - meter_start, once stopped.",
                nullable: true,
                minimum: Int64(Int32.min) - Int64(Int32.max),
                maximum: Int64(Int32.max) - Int64(Int32.min)
            ),
        ],
        timeFilter: "start_time",
        idMaximum: Int64(Int32.max)
    )

    private static func recorded(
        _ name: String,
        _ kind: ResourceField.Kind,
        _ description: String,
        nullable: Bool = false,
        filterable: Bool = false,
        bounds: ClosedRange<Int64>? = nil
    ) -> ResourceField {
        ResourceField(
            name: name,
            kind: kind,
            description: description,
            nullable: nullable,
            readOnly: true,
            minimum: bounds?.lowerBound,
            maximum: bounds?.upperBound,
            filterable: filterable
        )
    }

    /// A database id's range.
    private static let ids: ClosedRange<Int64> = 1...Int64.max
    /// An OCPP integer's range (32 bits).
    private static let ocppIntegers = Int64(Int32.min)...Int64(Int32.max)
    /// An OCPP connector id's range.
    private static let connectorIDs = 0...Int64(Int32.max)

    static let reservations = Resource(
        collection: "reservations",
        schemaName: "Reservation",
        idParameter: "reservation_record_id",
        displayName: "reservation",
        fields: [
            recorded("charger_id", .integer, "The charger's database id.", filterable: true, bounds: ids),
            recorded("reservation_id", .integer, "The OCPP reservationId.", filterable: true, bounds: ocppIntegers),
            recorded(
                "connector_id",
                .integer,
                "The OCPP connector id (0: any).",
                filterable: true,
                bounds: connectorIDs
            ),
            recorded("id_tag", .string, "The idTag it is for.", filterable: true),
            recorded("parent_id_tag", .string, "The parent idTag, if any.", nullable: true),
            recorded("expiry_date", .dateTime, "When it expires."),
            recorded(
                "response_status",
                .string,
                "The charger's answer: Accepted, Faulted, Occupied, Rejected or Unavailable.",
                filterable: true
            ),
            recorded("cancelled_at", .dateTime, "When a CancelReservation for it was accepted.", nullable: true),
        ],
        readOnly: true
    )

    static let chargingProfiles = Resource(
        collection: "charging_profiles",
        schemaName: "ChargingProfileRecord",
        idParameter: "charging_profile_record_id",
        displayName: "charging profile",
        fields: [
            recorded("charger_id", .integer, "The charger's database id.", filterable: true, bounds: ids),
            recorded(
                "connector_id",
                .integer,
                "The OCPP connector id it was set on.",
                filterable: true,
                bounds: connectorIDs
            ),
            recorded(
                "charging_profile_id",
                .integer,
                "The OCPP chargingProfileId.",
                filterable: true,
                bounds: ocppIntegers
            ),
            recorded("stack_level", .integer, "Its stack level.", bounds: ocppIntegers),
            recorded("purpose", .string, "ChargePointMaxProfile, TxDefaultProfile or TxProfile.", filterable: true),
            recorded("kind", .string, "Absolute, Recurring or Relative."),
            recorded(
                "transaction_id",
                .integer,
                "The transaction a TxProfile is for.",
                nullable: true,
                bounds: ocppIntegers
            ),
            recorded("profile", .string, "The profile as sent, JSON in snake_case."),
            recorded(
                "response_status",
                .string,
                "The charger's answer: Accepted, Rejected or NotSupported.",
                filterable: true
            ),
            recorded(
                "cleared_at",
                .dateTime,
                "When a ClearChargingProfile that matched it was accepted.",
                nullable: true
            ),
        ],
        readOnly: true
    )
}
