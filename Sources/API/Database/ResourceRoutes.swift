import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Relational

/// Where a collection hangs: `/db/chargers` or, nested, `/db/companies/{company_id}/sites/{site_id}/chargers`.
struct ResourceScope: Sendable {
    typealias Resolver =
        @Sendable (_ parameters: [String: Int64], _ company: Int64?, _ store: RelationalStore) async throws
        -> [String: Int64]

    /// The path up to the collection (`/db` or `/db/companies/:company_id/sites/:site_id`).
    var prefix: String
    /// The integer path parameters of `prefix`, in order.
    var parameters: [String]
    /// The columns the parents fix (`["site_id": 4]`) once the parents are checked to exist,
    /// to belong together and to the caller's company (if it is limited to one); throws
    /// ``RelationalStoreError`` `.notFound` otherwise.
    var resolve: Resolver

    static let flat = ResourceScope(prefix: "/db", parameters: []) { _, _, _ in [:] }
}

/// The CRUD routes of one resource: list (filters, sorting, pagination with a total), get,
/// create (201), full update (PUT), partial update (PATCH) and delete (204, `?cascade=true`
/// to take dependent rows along).
struct ResourceRoutes<Entity: StoredEntity>: Sendable {
    let resource: Resource
    let store: RelationalStore
    /// Called after every successful write with the row before and after it (nil when absent).
    let afterWrite: @Sendable (_ before: Entity?, _ after: Entity?) -> Void

    static var maximumBodySize: Int { 1 << 20 }

    init(
        _ type: Entity.Type,
        _ resource: Resource,
        store: RelationalStore,
        afterWrite: @escaping @Sendable (_ before: Entity?, _ after: Entity?) -> Void = { _, _ in }
    ) {
        self.resource = resource
        self.store = store
        self.afterWrite = afterWrite
    }

    var coding: ResourceCoding { ResourceCoding(resource: resource) }

    func register(on router: Router<APIRequestContext>, scope: ResourceScope = .flat) {
        let collection = "\(scope.prefix)/\(resource.collection)"
        let item = "\(collection)/:\(resource.idParameter)"
        router.get(RouterPath(collection)) { request, context in
            try await APIError.mapping {
                let fixed = try await resolve(scope, context)
                let query = try listQuery(request.uri.queryParameters, fixed: fixed)
                return try coding.body(try await store.list(Entity.self, query, company: context.company))
            }
        }
        router.get(RouterPath(item)) { _, context in
            try await APIError.mapping {
                let fixed = try await resolve(scope, context)
                return try coding.body(try await existing(fixed, context))
            }
        }
        guard !resource.readOnly else { return }
        router.post(RouterPath(collection)) { request, context in
            try await APIError.mapping {
                let fixed = try await resolve(scope, context)
                let body = try await checkedBody(request, complete: true, fixed: fixed, context: context)
                let created = try await store.create(
                    Entity.self,
                    try ResourceCoding.decode(Entity.Fields.self, from: body),
                    company: context.company
                )
                afterWrite(nil, created)
                return EditedResponse(
                    status: .created,
                    headers: [.location: "/db/\(resource.collection)/\(created.id)"],
                    response: try coding.body(created)
                )
            }
        }
        router.put(RouterPath(item)) { request, context in
            try await APIError.mapping {
                let fixed = try await resolve(scope, context)
                let body = try await checkedBody(request, complete: true, fixed: fixed, context: context)
                let fields = try ResourceCoding.decode(Entity.Fields.self, from: body)
                let before = try await existing(fixed, context)
                let updated = try await store.update(Entity.self, id: before.id, fields, company: context.company)
                afterWrite(before, updated)
                return try coding.body(updated)
            }
        }
        router.patch(RouterPath(item)) { request, context in
            try await APIError.mapping {
                let fixed = try await resolve(scope, context)
                let changes = try await checkedBody(request, complete: false, fixed: [:], context: nil)
                for (column, value) in fixed where changes[column] != nil && changes[column] != .integer(value) {
                    throw ResourceCoding.Invalid(
                        location: ["body", column],
                        message: "must be \(value), the \(column) of the path, or left out",
                        type: "value_error"
                    )
                }
                let before = try await existing(fixed, context)
                let updated = try await store.modify(Entity.self, id: before.id, company: context.company) { fields in
                    var merged = try ResourceCoding.object(fields)
                    merged.merge(changes) { _, new in new }
                    fields = try ResourceCoding.decode(Entity.Fields.self, from: merged)
                }
                afterWrite(before, updated)
                return try coding.body(updated)
            }
        }
        router.delete(RouterPath(item)) { request, context in
            try await APIError.mapping {
                let cascade: Bool
                switch request.uri.queryParameters["cascade"].map(String.init) {
                case nil, "false": cascade = false
                case "true": cascade = true
                case let other?:
                    throw ResourceCoding.Invalid(
                        location: ["query", "cascade"],
                        message: "must be true or false, got \(other)",
                        type: "bool_parsing"
                    )
                }
                let before = try await existing(try await resolve(scope, context), context)
                try await store.delete(Entity.self, id: before.id, cascade: cascade, company: context.company)
                afterWrite(before, nil)
                return Response(status: .noContent)
            }
        }
    }

    // MARK: - Steps

    /// The parents' fixed columns, after checking the parents exist.
    private func resolve(_ scope: ResourceScope, _ context: APIRequestContext) async throws -> [String: Int64] {
        var values: [String: Int64] = [:]
        for name in scope.parameters {
            values[name] = try Self.pathID(name, context)
        }
        return try await scope.resolve(values, context.company, store)
    }

    /// The row the item path names, checked to belong to the path's parents (`fixed`, resolved once per request).
    private func existing(_ fixed: [String: Int64], _ context: APIRequestContext) async throws -> Entity {
        let id = try Self.pathID(resource.idParameter, context)
        let entity = try await store.get(Entity.self, id: id, company: context.company)
        if !fixed.isEmpty {
            let object = try ResourceCoding.object(entity)
            for (column, value) in fixed where object[column] != .integer(value) {
                throw RelationalStoreError(
                    code: .notFound,
                    message: "\(resource.displayName) \(id) does not belong to \(column) \(value)"
                )
            }
        }
        return entity
    }

    /// The id the path parameter `name` names: 1 up to the largest id of the table it addresses.
    static func pathID(_ name: String, _ context: APIRequestContext) throws(ResourceCoding.Invalid) -> Int64 {
        let text = context.parameters.get(name) ?? ""
        guard let id = ResourceCoding.integer(text) else {
            throw ResourceCoding.Invalid(
                location: ["path", name],
                message: "must be an integer id, got \(text)",
                type: "int_parsing"
            )
        }
        let maximum = DatabaseRoutes.resources.first { $0.idParameter == name }?.idMaximum ?? Int64.max
        guard (1...maximum).contains(id) else {
            throw ResourceCoding.Invalid(
                location: ["path", name],
                message: "must be an id in 1...\(maximum), got \(id)",
                type: id < 1 ? "greater_than_equal" : "less_than_equal"
            )
        }
        return id
    }

    /// The body, checked; on a create or full update (`context` given) by a caller limited to a
    /// company, a nullable `company_id` left out or null is that company.
    private func checkedBody(
        _ request: Request,
        complete: Bool,
        fixed: [String: Int64],
        context: APIRequestContext?
    ) async throws -> [String: JSONValue] {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: Self.maximumBodySize)
        } catch {
            throw HTTPError(.contentTooLarge, message: "the body exceeds \(Self.maximumBodySize) bytes")
        }
        var body = try ResourceCoding.bodyObject(Array(buffer: buffer))
        if let company = context?.company, resource.field("company_id")?.nullable == true,
            body["company_id"] == nil || body["company_id"] == .null
        {
            body["company_id"] = .integer(company)
        }
        return try coding.checked(body, complete: complete, fixed: fixed)
    }

    /// The list query from the query string: `limit`, `offset`, `sort` (`name` or `-name`),
    /// a filter per filterable field, and `from`/`to` on the resource's time field.
    func listQuery(
        _ parameters: Hummingbird.Parameters,
        fixed: [String: Int64]
    ) throws(ResourceCoding.Invalid)
        -> ListQuery
    {
        var query = ListQuery()
        let filterable = resource.responseFields.filter(\.filterable)
        var accepted = ["limit", "offset", "sort"] + filterable.map(\.name)
        if resource.timeFilter != nil { accepted += ["from", "to"] }
        try QueryParameter.each(parameters) { parameter throws(ResourceCoding.Invalid) in
            let (name, text) = (parameter.name, parameter.text)
            switch name {
            case "limit":
                query.limit = try parameter.integer(in: 1...ListQuery.maximumLimit)
            case "offset":
                guard let offset = ResourceCoding.integer(text), offset >= 0 else {
                    throw parameter.invalid("must be a whole number, 0 or more, got \(text)", "int_parsing")
                }
                query.offset = Int(offset)
            case "sort":
                let column = text.hasPrefix("-") ? String(text.dropFirst()) : text
                guard resource.sortableFields.contains(column) else {
                    throw parameter.invalid(
                        "must be a field, or - and a field for descending order: "
                            + resource.sortableFields.joined(separator: ", "),
                        "enum"
                    )
                }
                query.sortColumn = column
                query.ascending = !text.hasPrefix("-")
            case "from", "to":
                guard let column = resource.timeFilter else {
                    throw parameter.unknown(resource.collection, accepts: accepted.joined(separator: ", "))
                }
                query.filters.append(.init(column, .date(try parameter.date()), name == "from" ? .atLeast : .before))
            default:
                guard let field = filterable.first(where: { $0.name == name }) else {
                    throw parameter.unknown(resource.collection, accepts: accepted.joined(separator: ", "))
                }
                query.filters.append(.init(name, try Self.filterValue(text, field: field, location: ["query", name])))
            }
        }
        for (column, value) in fixed.sorted(by: { $0.key < $1.key }) {
            query.filters.append(.init(column, .integer(value)))
        }
        return query
    }

    private static func filterValue(
        _ text: String,
        field: ResourceField,
        location: [String]
    ) throws(ResourceCoding.Invalid) -> FieldValue {
        if field.nullable, text == "null" { return .null }
        switch field.kind {
        case .integer:
            guard let value = ResourceCoding.integer(text) else {
                throw ResourceCoding.Invalid(
                    location: location,
                    message: "must be an integer\(field.nullable ? " or null" : ""), got \(text)",
                    type: "int_parsing"
                )
            }
            try ResourceCoding.check(.integer(value), field: field, location: location)
            return .integer(value)
        case .string:
            try ResourceCoding.check(.string(text), field: field, location: location)
            return .text(text)
        case .number:
            guard let value = Double(text) else {
                throw ResourceCoding.Invalid(location: location, message: "must be a number", type: "float_parsing")
            }
            return .double(value)
        case .dateTime:
            guard let date = ResourceCoding.date(text) else {
                throw ResourceCoding.Invalid(
                    location: location,
                    message: "must be an ISO 8601 date-time",
                    type: "datetime_parsing"
                )
            }
            return .date(date)
        }
    }
}
