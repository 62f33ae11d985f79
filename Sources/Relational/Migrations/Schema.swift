/// The relational schema, as the list of its migrations. Append; never edit a released one.
enum Schema {
    static let migrations: [Migration] = [
        Migration(
            version: 1,
            name: "operators, sites, chargers, connectors, drivers, RFID cards, charge sessions",
            statements: [
                """
                CREATE TABLE companies (
                    id {ID},
                    name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255),
                    created_at {TIME} NOT NULL,
                    updated_at {TIME} NOT NULL
                )
                """,
                """
                CREATE TABLE sites (
                    id {ID},
                    company_id BIGINT NOT NULL REFERENCES companies (id),
                    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
                    address TEXT,
                    city TEXT,
                    postal_code TEXT,
                    country TEXT,
                    latitude {REAL} CHECK (latitude BETWEEN -90 AND 90),
                    longitude {REAL} CHECK (longitude BETWEEN -180 AND 180),
                    time_zone TEXT,
                    created_at {TIME} NOT NULL,
                    updated_at {TIME} NOT NULL,
                    UNIQUE (company_id, name)
                )
                """,
                "CREATE INDEX sites_company_id ON sites (company_id)",
                """
                CREATE TABLE chargers (
                    id {ID},
                    site_id BIGINT REFERENCES sites (id),
                    charge_point_id TEXT NOT NULL UNIQUE CHECK (length(charge_point_id) BETWEEN 1 AND 48),
                    vendor TEXT,
                    model TEXT,
                    charge_point_serial_number TEXT,
                    charge_box_serial_number TEXT,
                    firmware_version TEXT,
                    iccid TEXT,
                    imsi TEXT,
                    meter_type TEXT,
                    meter_serial_number TEXT,
                    registration_status TEXT NOT NULL DEFAULT 'Accepted'
                        CHECK (registration_status IN ('Accepted', 'Pending', 'Rejected')),
                    last_boot_at {TIME},
                    last_heartbeat_at {TIME},
                    created_at {TIME} NOT NULL,
                    updated_at {TIME} NOT NULL
                )
                """,
                "CREATE INDEX chargers_site_id ON chargers (site_id)",
                """
                CREATE TABLE connectors (
                    id {ID},
                    charger_id BIGINT NOT NULL REFERENCES chargers (id),
                    connector_id INTEGER NOT NULL CHECK (connector_id >= 0),
                    status TEXT,
                    error_code TEXT,
                    info TEXT,
                    vendor_id TEXT,
                    vendor_error_code TEXT,
                    status_at {TIME},
                    created_at {TIME} NOT NULL,
                    updated_at {TIME} NOT NULL,
                    UNIQUE (charger_id, connector_id)
                )
                """,
                """
                CREATE TABLE drivers (
                    id {ID},
                    company_id BIGINT NOT NULL REFERENCES companies (id),
                    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
                    email TEXT,
                    phone TEXT,
                    created_at {TIME} NOT NULL,
                    updated_at {TIME} NOT NULL
                )
                """,
                "CREATE INDEX drivers_company_id ON drivers (company_id)",
                """
                CREATE TABLE rfid_cards (
                    id {ID},
                    id_tag TEXT NOT NULL UNIQUE CHECK (length(id_tag) BETWEEN 1 AND 20),
                    driver_id BIGINT REFERENCES drivers (id),
                    status TEXT NOT NULL DEFAULT 'Accepted'
                        CHECK (status IN ('Accepted', 'Blocked', 'Expired', 'Invalid')),
                    expiry_date {TIME},
                    parent_id_tag TEXT CHECK (length(parent_id_tag) BETWEEN 1 AND 20),
                    created_at {TIME} NOT NULL,
                    updated_at {TIME} NOT NULL
                )
                """,
                "CREATE INDEX rfid_cards_driver_id ON rfid_cards (driver_id)",
                """
                CREATE TABLE charge_sessions (
                    id {ID32},
                    charger_id BIGINT NOT NULL REFERENCES chargers (id),
                    connector_id INTEGER NOT NULL CHECK (connector_id >= 0),
                    id_tag TEXT NOT NULL CHECK (length(id_tag) BETWEEN 1 AND 20),
                    driver_id BIGINT REFERENCES drivers (id),
                    reservation_id INTEGER,
                    meter_start BIGINT NOT NULL,
                    meter_stop BIGINT,
                    start_time {TIME} NOT NULL,
                    stop_time {TIME},
                    stop_reason TEXT,
                    stop_id_tag TEXT,
                    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed')),
                    energy_wh BIGINT,
                    created_at {TIME} NOT NULL,
                    updated_at {TIME} NOT NULL,
                    CHECK (id <= 2147483647),
                    UNIQUE (charger_id, connector_id, id_tag, start_time, meter_start)
                )
                """,
                "CREATE INDEX charge_sessions_charger_start ON charge_sessions (charger_id, start_time)",
                "CREATE INDEX charge_sessions_driver_id ON charge_sessions (driver_id)",
                "CREATE INDEX charge_sessions_status ON charge_sessions (status)",
                """
                CREATE TABLE unmatched_stop_transactions (
                    id {ID},
                    charger_id BIGINT NOT NULL REFERENCES chargers (id),
                    transaction_id INTEGER NOT NULL,
                    id_tag TEXT,
                    meter_stop BIGINT NOT NULL,
                    stop_time {TIME} NOT NULL,
                    stop_reason TEXT,
                    received_at {TIME} NOT NULL,
                    UNIQUE (charger_id, transaction_id)
                )
                """,
            ]
        ),
        Migration(
            version: 2,
            name: "reservations and charging profiles sent to chargers",
            statements: [
                """
                CREATE TABLE reservations (
                    id {ID},
                    charger_id BIGINT NOT NULL REFERENCES chargers (id),
                    reservation_id INTEGER NOT NULL,
                    connector_id INTEGER NOT NULL,
                    id_tag TEXT NOT NULL,
                    parent_id_tag TEXT,
                    expiry_date {TIME} NOT NULL,
                    response_status TEXT NOT NULL,
                    cancelled_at {TIME},
                    created_at {TIME} NOT NULL,
                    updated_at {TIME} NOT NULL,
                    UNIQUE (charger_id, reservation_id)
                )
                """,
                """
                CREATE TABLE charging_profiles (
                    id {ID},
                    charger_id BIGINT NOT NULL REFERENCES chargers (id),
                    connector_id INTEGER NOT NULL,
                    charging_profile_id INTEGER NOT NULL,
                    stack_level INTEGER NOT NULL,
                    purpose TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    transaction_id INTEGER,
                    profile TEXT NOT NULL,
                    response_status TEXT NOT NULL,
                    cleared_at {TIME},
                    created_at {TIME} NOT NULL,
                    updated_at {TIME} NOT NULL,
                    UNIQUE (charger_id, charging_profile_id)
                )
                """,
                "CREATE INDEX charging_profiles_charger ON charging_profiles (charger_id, connector_id)",
            ]
        ),
        Migration(
            version: 3,
            name: "charger security profiles and authorization key hashes",
            statements: [
                // Existing chargers keep the behaviour they had: profile 0, no authentication.
                """
                ALTER TABLE chargers ADD COLUMN security_profile INTEGER NOT NULL DEFAULT 0
                    CHECK (security_profile BETWEEN 0 AND 3)
                """,
                // AuthorizationKeyHash.encoded: the salt and HMAC-SHA256 digest, never the key.
                // The pending key was sent to the charger and accepted; it becomes the current
                // one once the charger authenticates with it.
                "ALTER TABLE chargers ADD COLUMN authorization_key_hash TEXT",
                "ALTER TABLE chargers ADD COLUMN pending_authorization_key_hash TEXT",
            ]
        ),
    ]
}
