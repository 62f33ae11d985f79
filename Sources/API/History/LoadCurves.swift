import Foundation
import Hummingbird
import NIOCore
import Protocol
import Relational
import TimeSeries

/// Load curves of a site or a company, the input of a site's power cap and of peak-demand
/// charges: per bucket, each series of the measurand folded first (the average power of each
/// connector in the bucket, say), then summed over the chargers, with how many reported.
///
/// Summed are the connectors' series (connector ids from 1; the charger's main meter,
/// connector 0, would count them twice), without a phase (or of the one `phase` asked for),
/// measured at the outlet (OCPP's default location); kW, kWh, kvar, kvarh and kVA are
/// converted to W, Wh, var, varh and VA first.
enum LoadCurves {
    static func register(
        on router: Router<APIRequestContext>,
        timeSeries: TimeSeriesStore,
        relational: RelationalStore
    ) {
        func curve<Entity: StoredEntity>(
            of type: Entity.Type,
            _ idParameter: String,
            chargers: @escaping @Sendable (Entity) async throws -> [String]
        ) {
            router.get("/db/\(Entity.table)/:\(idParameter)/meter-values") { request, context in
                try await APIError.mapping {
                    let id = try ResourceRoutes<Entity>.pathID(idParameter, context)
                    let parameters = try Parameters(request.uri.queryParameters)
                    let owner = try await relational.get(Entity.self, id: id, company: context.company)
                    return try await answer(parameters, chargers: try await chargers(owner), timeSeries: timeSeries)
                }
            }
        }
        curve(of: Site.self, "site_id") { try await relational.chargePointIDs(site: $0.id) }
        curve(of: Company.self, "company_id") { try await relational.chargePointIDs(company: $0.id) }
    }

    static let aggregates = ["avg", "min", "max", "first", "last", "sum", "count"]
    static let accepted = "measurand, phase, connector_id, from, to, bucket, agg, format"

    /// The query: one measurand (by default Power.Active.Import, a site's load) and a bucket
    /// width (by default 15m, the demand interval peak-demand charges are counted in).
    struct Parameters: Sendable {
        var measurand = ""
        var phase: String?
        var connectorID: Int?
        var from: Int64?
        var to: Int64?
        var bucket: Int64 = 0
        var bucketText = ""
        var aggregate = "avg"
        var csv = false

        init(_ query: Hummingbird.Parameters) throws(ResourceCoding.Invalid) {
            var measurand: String?
            var bucket: Int64?
            try QueryParameter.each(query) { parameter throws(ResourceCoding.Invalid) in
                switch parameter.name {
                case "measurand":
                    guard measurand == nil else {
                        throw parameter.invalid("one measurand: a sum over several means nothing", "value_error")
                    }
                    measurand = parameter.text
                case "phase":
                    guard phase == nil else { throw parameter.invalid("at most one phase", "value_error") }
                    phase = parameter.text
                case "connector_id": connectorID = try parameter.integer(in: MeterHistory.connectorIDs)
                case "from": from = try parameter.milliseconds()
                case "to": to = try parameter.milliseconds()
                case "bucket":
                    guard let width = MeterHistory.bucketWidth(parameter.text) else {
                        throw parameter.invalid("must be a width such as 1m, 15m, 1h, 1d (s, m, h or d)", "value_error")
                    }
                    bucket = width
                    bucketText = parameter.text
                case "agg":
                    guard LoadCurves.aggregates.contains(parameter.text) else {
                        throw parameter.invalid(
                            "must be one of \(LoadCurves.aggregates.joined(separator: ", "))",
                            "enum"
                        )
                    }
                    aggregate = parameter.text
                case "format":
                    guard parameter.text == "json" || parameter.text == "csv" else {
                        throw parameter.invalid("must be json or csv", "enum")
                    }
                    csv = parameter.text == "csv"
                default: throw parameter.unknown("meter-values of a site or company", accepts: LoadCurves.accepted)
                }
            }
            guard measurand != "" else {
                throw ResourceCoding.Invalid(
                    location: ["query", "measurand"],
                    message: "must not be empty",
                    type: "value_error"
                )
            }
            self.measurand = measurand ?? "Power.Active.Import"
            self.bucket = bucket ?? 15 * 60_000
            if bucket == nil { bucketText = "15m" }
        }
    }

    /// One bucket of the curve.
    struct Point: Encodable, Sendable {
        var bucketStart: Date
        var value: Double
        /// Chargers with at least one summed series in the bucket.
        var chargers: Int
        var series: Int

        enum CodingKeys: String, CodingKey {
            case bucketStart = "bucket_start"
            case value, chargers, series
        }
    }

    /// What a load curve answers in JSON.
    struct Curve: Encodable, Sendable {
        var measurand: String
        /// The unit of the values after conversion, when every summed series had the same.
        var unit: String?
        var aggregate: String
        var bucket: String
        /// Chargers of the site or company.
        var chargers: Int
        var items: [Point]

        enum CodingKeys: String, CodingKey {
            case measurand, unit, bucket, chargers, items
            case aggregate = "agg"
        }
    }

    /// A unit's factor to its base unit, and the base unit.
    static func base(_ unit: String?) -> (factor: Double, unit: String?) {
        switch unit {
        case "kW": (1000, "W")
        case "kWh": (1000, "Wh")
        case "kvar": (1000, "var")
        case "kvarh": (1000, "varh")
        case "kVA": (1000, "VA")
        default: (1, unit)
        }
    }

    private static func answer(
        _ parameters: Parameters,
        chargers: [String],
        timeSeries: TimeSeriesStore
    ) async throws -> Response {
        var query = EventQuery(
            chargePointIDs: Set(chargers),
            connectorID: parameters.connectorID,
            kinds: [.sample],
            measurands: [parameters.measurand],
            phases: parameters.phase.map { [$0] },
            from: parameters.from,
            to: parameters.to
        )
        query.limit = Int.max
        let selected = query
        let curve = try await MeterHistory.offloaded { () throws -> Result<Curve, ResourceCoding.Invalid> in
            if let extent = timeSeries.extent(selected) {
                let buckets = extent.bucketsPerSeries(width: parameters.bucket)
                guard buckets <= MeterHistory.maximumBuckets else {
                    return .failure(
                        ResourceCoding.Invalid(
                            location: ["query", "bucket"],
                            message: "the curve would hold \(buckets) buckets, more than "
                                + "\(MeterHistory.maximumBuckets): narrow from/to or widen the bucket",
                            type: "value_error"
                        )
                    )
                }
            }
            return .success(try fold(selected, parameters, chargers: chargers.count, timeSeries: timeSeries))
        }
        switch curve {
        case .failure(let invalid): throw invalid
        case .success(let curve):
            return parameters.csv ? csv(curve) : APIJSONEncoder.response(try APIJSONEncoder.bytes(curve))
        }
    }

    /// Folds each series' buckets, then sums them per bucket.
    static func fold(
        _ query: EventQuery,
        _ parameters: Parameters,
        chargers: Int,
        timeSeries: TimeSeriesStore
    ) throws -> Curve {
        struct Sum {
            var value = 0.0
            var series = 0
            var chargers = 0
        }
        /// A bucket of one charger: counted once among the bucket's chargers.
        struct Reporting: Hashable {
            var start: Int64
            var charger: Int
        }
        var sums: [Int64: Sum] = [:]
        var reporting: Set<Reporting> = []
        var chargerIndex: [String: Int] = [:]
        var units: Set<String?> = []
        // Buckets come series by series: what a series contributes is worked out once.
        var current: (series: SeriesKey, summed: Bool, factor: Double, charger: Int)?
        try timeSeries.aggregate(query, bucketMilliseconds: parameters.bucket) { bucket in
            if current?.series != bucket.series {
                let series = bucket.series
                let summed =
                    (series.connectorID >= 1 || parameters.connectorID != nil) && series.phase == parameters.phase
                    && (series.location == nil || series.location == "Outlet")
                let (factor, unit) = base(series.unit)
                if summed { units.insert(unit) }
                let charger = chargerIndex[series.chargePointID] ?? chargerIndex.count
                chargerIndex[series.chargePointID] = charger
                current = (series, summed, factor, charger)
            }
            guard let current, current.summed else { return }
            let folded = HistoryFormat.value(of: bucket, parameters.aggregate)
            let counted = reporting.insert(Reporting(start: bucket.start, charger: current.charger)).inserted
            func add(_ sum: inout Sum) {
                sum.value += parameters.aggregate == "count" ? folded : folded * current.factor
                sum.series += 1
                if counted { sum.chargers += 1 }
            }
            add(&sums[bucket.start, default: Sum()])
        }
        let items = sums.keys.sorted().map { start in
            let sum = sums[start]!
            return Point(
                bucketStart: Date(timeIntervalSince1970: Double(start) / 1000),
                value: sum.value,
                chargers: sum.chargers,
                series: sum.series
            )
        }
        return Curve(
            measurand: parameters.measurand,
            unit: units.count == 1 && parameters.aggregate != "count" ? units.first! : nil,
            aggregate: parameters.aggregate,
            bucket: parameters.bucketText,
            chargers: chargers,
            items: items
        )
    }

    private static func csv(_ curve: Curve) -> Response {
        var output: [UInt8] = Array("bucket_start,value,chargers,series\n".utf8)
        for point in curve.items {
            OCPPTimestamp(millisecondsSince1970: Int64((point.bucketStart.timeIntervalSince1970 * 1000).rounded()))
                .appendISO8601(to: &output)
            output.append(
                contentsOf: ",\(EventValue.number(point.value).text),\(point.chargers),\(point.series)\n".utf8
            )
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/csv; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: output))
        )
    }
}
