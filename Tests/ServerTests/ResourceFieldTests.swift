import Foundation
import Relational
import Testing

@testable import API

/// A resource's fields (what the API validates and the OpenAPI document states) and its
/// entity's properties (what the store reads and writes) are two descriptions of one table:
/// they must name the same columns.
@Suite("Resource fields")
struct ResourceFieldTests {
    /// A value `field` accepts.
    static func sample(_ field: ResourceField) -> JSONValue {
        switch field.kind {
        case .integer: .integer(field.minimum ?? 1)
        case .number: .number(1.5)
        case .string: .string(field.allowed?.first ?? "CP-1")
        case .dateTime: .string("2026-01-31T12:00:00Z")
        }
    }

    /// The snake_case column of every stored property of `value`, nil ones included.
    static func columns(of value: Any) -> Set<String> {
        Set(Mirror(reflecting: value).children.compactMap { $0.label.map(ColumnNames.column(for:)) })
    }

    static func check<Entity: StoredEntity>(_ type: Entity.Type, _ resource: Resource) throws {
        var row: [String: JSONValue] = [:]
        for field in resource.responseFields { row[field.name] = sample(field) }
        let entity = try ResourceCoding.decode(Entity.self, from: row)
        #expect(columns(of: entity) == Set(resource.responseFields.map(\.name)), "\(resource.collection)")
        #expect(Entity.table == resource.collection)
        #expect(Entity.displayName == resource.displayName)
        // What a create writes is exactly the writable fields (read-only resources are written
        // by the server, through every column but the row's own bookkeeping).
        let writable = resource.readOnly ? resource.fields : resource.writableFields
        let fields = try ResourceCoding.decode(Entity.Fields.self, from: row)
        #expect(columns(of: fields) == Set(writable.map(\.name)), "\(resource.collection) writable")
    }

    @Test("Every resource's fields are its entity's columns, and its writable fields the entity's Fields")
    func fieldsAreColumns() throws {
        try Self.check(Company.self, .companies)
        try Self.check(Site.self, .sites)
        try Self.check(Charger.self, .chargers)
        try Self.check(Connector.self, .connectors)
        try Self.check(Driver.self, .drivers)
        try Self.check(RFIDCard.self, .rfidCards)
        try Self.check(ChargeSession.self, .chargeSessions)
        try Self.check(Reservation.self, .reservations)
        try Self.check(ChargingProfileRecord.self, .chargingProfiles)
        #expect(DatabaseRoutes.resources.count == 9)
    }
}
