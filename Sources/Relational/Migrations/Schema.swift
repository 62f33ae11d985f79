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
        Migration(
            version: 4,
            name: "API bearer tokens: role, company scope, expiry, revocation",
            statements: [
                // token_hash: APITokenHash, the SHA-256 of the token; the token itself is never stored.
                // A company's tokens go with it: a token never outlives its scope into a wider one.
                """
                CREATE TABLE api_tokens (
                    id {ID},
                    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
                    role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'analyst', 'integration')),
                    company_id BIGINT REFERENCES companies (id) ON DELETE CASCADE,
                    token_hash TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64),
                    expires_at {TIME},
                    created_at {TIME} NOT NULL,
                    revoked_at {TIME},
                    last_used_at {TIME}
                )
                """,
                "CREATE INDEX api_tokens_company_id ON api_tokens (company_id)",
            ]
        ),
        Migration(
            version: 5,
            name: "audit log of the API's writes, append-only",
            statements: [
                // No foreign keys: deleting a charger, company or token never touches an entry.
                """
                CREATE TABLE audit_log (
                    id {ID},
                    at {TIME} NOT NULL,
                    actor TEXT NOT NULL CHECK (length(actor) <= 255),
                    actor_token_id BIGINT,
                    role TEXT CHECK (length(role) <= 255),
                    method TEXT NOT NULL CHECK (length(method) <= 255),
                    route TEXT NOT NULL CHECK (length(route) <= 255),
                    path TEXT NOT NULL CHECK (length(path) <= 1024),
                    target TEXT CHECK (length(target) <= 255),
                    status INTEGER NOT NULL CHECK (status BETWEEN 100 AND 599),
                    detail TEXT CHECK (length(detail) <= 1024)
                )
                """,
                "CREATE INDEX audit_log_at ON audit_log (at)",
            ],
            // The database itself refuses to change or remove an entry.
            postgresStatements: [
                """
                CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    RAISE EXCEPTION 'the audit log is append-only: % is not allowed', TG_OP
                        USING ERRCODE = 'insufficient_privilege';
                END
                $$
                """,
                """
                CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
                    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()
                """,
                """
                CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
                    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()
                """,
            ],
            sqliteStatements: [
                """
                CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
                BEGIN
                    SELECT RAISE(ABORT, 'the audit log is append-only: UPDATE is not allowed');
                END
                """,
                """
                CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
                BEGIN
                    SELECT RAISE(ABORT, 'the audit log is append-only: DELETE is not allowed');
                END
                """,
            ]
        ),
        Migration(
            version: 6,
            name: "RFID cards belong to a company",
            statements: [
                // Nullable: a card stored before companies scoped the API keeps no company (only
                // callers unlimited to a company see it) unless its driver names one.
                "ALTER TABLE rfid_cards ADD COLUMN company_id BIGINT REFERENCES companies (id)",
                """
                UPDATE rfid_cards SET company_id = (SELECT drivers.company_id FROM drivers
                    WHERE drivers.id = rfid_cards.driver_id)
                WHERE driver_id IS NOT NULL
                """,
                "CREATE INDEX rfid_cards_company_id ON rfid_cards (company_id)",
            ]
        ),
        Migration(
            version: 7,
            name: "cluster membership, charger presence and residency intervals",
            statements: [
                // A node is alive while lease_expires_at is in the future by the database's clock.
                """
                CREATE TABLE cluster_nodes (
                    node_id TEXT PRIMARY KEY CHECK (length(node_id) BETWEEN 1 AND 64),
                    url TEXT NOT NULL CHECK (length(url) <= 2048),
                    started_at {TIME} NOT NULL,
                    lease_expires_at {TIME} NOT NULL
                )
                """,
                // The node each connected charger is held by; no foreign key: a charger connects
                // before it is known, and a row outlives its node's lease until the node returns.
                """
                CREATE TABLE charger_presence (
                    charge_point_id TEXT PRIMARY KEY,
                    node_id TEXT NOT NULL,
                    connected_at {TIME} NOT NULL
                )
                """,
                "CREATE INDEX charger_presence_node_id ON charger_presence (node_id)",
                // Every connection's interval on its node: which nodes hold a charger's history.
                """
                CREATE TABLE charger_residency (
                    id {ID},
                    charge_point_id TEXT NOT NULL,
                    node_id TEXT NOT NULL,
                    connected_at {TIME} NOT NULL,
                    disconnected_at {TIME}
                )
                """,
                "CREATE INDEX charger_residency_charge_point_id ON charger_residency (charge_point_id, connected_at)",
                "CREATE INDEX charger_residency_open ON charger_residency (node_id) WHERE disconnected_at IS NULL",
            ]
        ),
    ]
}
