import Foundation
import Hummingbird
import NIOCore
import NIOPosix
import Protocol
import Relational
import TimeSeries

/// Meter history for analysts, read from the time-series store: per charger, per connector
/// and per charge session; filtered by time range, measurand, phase and connector; raw with
/// a resumable cursor, or downsampled into buckets; JSON, or CSV with `Accept: text/csv` or
/// `format=csv`.
enum MeterHistory {
    static let defaultLimit = 1000
    static let maximumLimit = 10_000
    /// The most buckets a bucketed answer may hold: the buckets of the range (the query's
    /// `from`/`to`, narrowed to where the selected series have data) times those series.
    static let maximumBuckets = 100_000
    /// The OCPP connector ids a query may name (those a charger may send).
    static let connectorIDs = 0...Int(Int32.max)

    /// What a `next_cursor` looks like: a timestamp in milliseconds, a dot and a series id (32
    /// bits), and for a row of a charging session a dot and its transaction id.
    static let cursorPattern =
        "^-?[0-9]{1,18}\\.(0|[1-9][0-9]{0,8}|[1-3][0-9]{9}|4[01][0-9]{8}|42[0-8][0-9]{7}|429[0-3][0-9]{6}"
        + "|4294[0-8][0-9]{5}|42949[0-5][0-9]{4}|429496[0-6][0-9]{3}|4294967[01][0-9]{2}|42949672[0-8][0-9]"
        + "|429496729[0-5])(\\.-?(0|[1-9][0-9]{0,17}))?$"

    /// The cursor `text` spells, when it matches ``cursorPattern``.
    static func cursor(_ text: String) -> EventCursor? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3 else { return nil }
        let timestamp = parts[0].hasPrefix("-") ? parts[0].dropFirst() : parts[0]
        let series = parts[1]
        guard (1...18).contains(timestamp.count), timestamp.allSatisfy(isDigit),
            (1...10).contains(series.count), series.allSatisfy(isDigit),
            series == "0" || !series.hasPrefix("0")
        else { return nil }
        if parts.count == 3 {
            let transaction = parts[2].hasPrefix("-") ? parts[2].dropFirst() : parts[2]
            guard (1...18).contains(transaction.count), transaction.allSatisfy(isDigit),
                transaction == "0" || !transaction.hasPrefix("0")
            else { return nil }
        }
        return EventCursor(text)
    }

    private static func isDigit(_ character: Character) -> Bool { character >= "0" && character <= "9" }

    /// A query parameter's whole number within `range`, nil otherwise.
    static func integer(_ text: Substring, in range: ClosedRange<Int>) -> Int? {
        guard let value = ResourceCoding.integer(String(text)), let value = Int(exactly: value), range.contains(value)
        else { return nil }
        return value
    }

    /// Registers the routes; with `cluster`, they answer from every node that holds part of
    /// the charger's history.
    static func register(
        on router: Router<APIRequestContext>,
        timeSeries: TimeSeriesStore,
        relational: RelationalStore,
        cluster: ClusterHistory? = nil
    ) {
        router.get("/db/chargers/:charger_id/meter-values") { request, context in
            try await answer(request, context, timeSeries: timeSeries, cluster, idParameter: "charger_id") { id in
                let charger = try await relational.get(Charger.self, id: id, company: context.company)
                return EventQuery(chargePointIDs: [charger.chargePointID])
            }
        }
        router.get("/db/connectors/:connector_id/meter-values") { request, context in
            try await answer(request, context, timeSeries: timeSeries, cluster, idParameter: "connector_id") { id in
                let connector = try await relational.get(Connector.self, id: id, company: context.company)
                let charger = try await relational.get(Charger.self, id: connector.chargerID, company: context.company)
                return EventQuery(chargePointIDs: [charger.chargePointID], connectorID: connector.connectorID)
            }
        }
        router.get("/db/charge_sessions/:charge_session_id/meter-values") { request, context in
            try await answer(request, context, timeSeries: timeSeries, cluster, idParameter: "charge_session_id") {
                id in
                let session = try await relational.get(ChargeSession.self, id: id, company: context.company)
                let charger = try await relational.get(Charger.self, id: session.chargerID, company: context.company)
                return EventQuery(chargePointIDs: [charger.chargePointID], transactionID: Int(session.id))
            }
        }
    }

    /// The query parameters, checked; a 422 response when one is invalid.
    struct Parameters {
        var from: Int64?
        var to: Int64?
        var measurands: Set<String>?
        var phases: Set<String>?
        var connectorID: Int?
        var limit = MeterHistory.defaultLimit
        var limitGiven = false
        var cursor: EventCursor?
        var bucket: Int64?
        var aggregate = "avg"
        var csv = false
        var layout = HistoryFormat.BucketLayout.rows
    }

    static func parameters(_ request: Request) -> Result<Parameters, Invalid> {
        let query = request.uri.queryParameters
        var parameters = Parameters()
        func time(_ name: String) -> Result<Int64?, Invalid> {
            guard let text = query[Substring(name)] else { return .success(nil) }
            guard let timestamp = OCPPTimestamp(iso8601: String(text)) else {
                return .failure(Invalid(name, "not an ISO 8601 date-time with an offset, e.g. 2026-01-31T00:00:00Z"))
            }
            return .success(timestamp.millisecondsSince1970)
        }
        switch (time("from"), time("to")) {
        case (.failure(let invalid), _), (_, .failure(let invalid)): return .failure(invalid)
        case (.success(let from), .success(let to)):
            parameters.from = from
            parameters.to = to
        }
        let measurands = query[values: "measurand"].map(String.init)
        if !measurands.isEmpty { parameters.measurands = Set(measurands) }
        let phases = query[values: "phase"].map(String.init)
        if !phases.isEmpty { parameters.phases = Set(phases) }
        if let text = query["connector_id"] {
            guard let value = integer(text, in: connectorIDs) else {
                return .failure(Invalid("connector_id", "must be a whole number in 0...\(connectorIDs.upperBound)"))
            }
            parameters.connectorID = value
        }
        if let text = query["limit"] {
            guard let value = integer(text, in: 1...maximumLimit) else {
                return .failure(Invalid("limit", "must be a whole number in 1...\(maximumLimit)"))
            }
            parameters.limit = value
            parameters.limitGiven = true
        }
        if let text = query["cursor"] {
            guard let cursor = cursor(String(text)) else {
                return .failure(Invalid("cursor", "not a cursor this API returned"))
            }
            parameters.cursor = cursor
        }
        if let text = query["bucket"] {
            guard let width = bucketWidth(String(text)) else {
                return .failure(Invalid("bucket", "must be a width such as 1m, 15m, 1h, 1d (s, m, h or d)"))
            }
            parameters.bucket = width
        }
        if let text = query["agg"] {
            guard ["avg", "min", "max", "first", "last", "sum", "count"].contains(text) else {
                return .failure(Invalid("agg", "must be one of avg, min, max, first, last, sum, count"))
            }
            parameters.aggregate = String(text)
        }
        if let format = query["format"] {
            guard format == "json" || format == "csv" else { return .failure(Invalid("format", "must be json or csv")) }
            parameters.csv = format == "csv"
        } else if let accept = request.headers[.accept], accept.contains("text/csv") {
            parameters.csv = true
        }
        if let text = query["layout"] {
            // Like agg, it shapes bucketed JSON only: without bucket, or in CSV, it changes nothing.
            guard let layout = HistoryFormat.BucketLayout(rawValue: String(text)) else {
                return .failure(Invalid("layout", "must be rows or series"))
            }
            parameters.layout = layout
        }
        return .success(parameters)
    }

    struct Invalid: Error {
        let parameter: String
        let message: String
        init(_ parameter: String, _ message: String) {
            self.parameter = parameter
            self.message = message
        }

        /// The 422 that answers it.
        var answer: APIError {
            APIError.invalid(location: ["query", parameter], message: message, type: "value_error")
        }
    }

    /// `15m` and the like, in milliseconds.
    static func bucketWidth(_ text: String) -> Int64? {
        let digits = text.dropLast()
        guard let unit = text.last, (1...6).contains(digits.count), digits.allSatisfy(isDigit),
            !digits.hasPrefix("0"), let count = Int64(digits)
        else { return nil }
        let factor: Int64
        switch unit {
        case "s": factor = 1000
        case "m": factor = 60_000
        case "h": factor = 3_600_000
        case "d": factor = 86_400_000
        default: return nil
        }
        let (width, overflow) = count.multipliedReportingOverflow(by: factor)
        return overflow ? nil : width
    }

    private static func answer(
        _ request: Request,
        _ context: APIRequestContext,
        timeSeries: TimeSeriesStore,
        _ cluster: ClusterHistory?,
        idParameter: String,
        select: (Int64) async throws -> EventQuery
    ) async throws -> Response {
        let id: Int64
        do throws(ResourceCoding.Invalid) {
            id = try ResourceRoutes<Charger>.pathID(idParameter, context)
        } catch {
            throw APIError(error)
        }
        let parameters: Parameters
        switch self.parameters(request) {
        case .failure(let invalid):
            throw invalid.answer
        case .success(let checked): parameters = checked
        }
        var query: EventQuery
        do {
            query = try await select(id)
        } catch let error as RelationalStoreError where error.code == .notFound {
            throw APIError.detail(error.description, status: .notFound)
        }
        query.kinds = [.sample]
        query.from = parameters.from
        query.to = parameters.to
        query.measurands = parameters.measurands
        query.phases = parameters.phases
        if let connectorID = parameters.connectorID { query.connectorID = connectorID }
        query.limit = parameters.limit
        query.cursor = parameters.cursor
        if let cluster {
            return try await clusterAnswer(query, parameters, cluster, logger: context.logger)
        }
        if let bucket = parameters.bucket {
            let bucketQuery = query
            guard parameters.csv else {
                return try await bucketsJSON(
                    bucketQuery,
                    bucket: bucket,
                    aggregate: parameters.aggregate,
                    layout: parameters.layout,
                    timeSeries: timeSeries
                )
            }
            let read = try await offloaded { () throws -> Result<[AggregateBucket], Invalid> in
                do {
                    try checkBucketCount(bucketQuery, bucket: bucket, timeSeries: timeSeries)
                } catch let invalid as Invalid {
                    return .failure(invalid)
                }
                return .success(try timeSeries.aggregate(bucketQuery, bucketMilliseconds: bucket))
            }
            switch read {
            case .failure(let invalid):
                throw invalid.answer
            case .success(let buckets):
                return csvResponse(
                    HistoryFormat.aggregateCSV(
                        buckets,
                        aggregate: parameters.aggregate,
                        transactionID: query.transactionID
                    )
                )
            }
        }
        if parameters.csv, !parameters.limitGiven {
            return streamedCSV(query, timeSeries: timeSeries)
        }
        let pageQuery = query
        let page = try await offloaded { try timeSeries.query(pageQuery) }
        return parameters.csv
            ? csvResponse(HistoryFormat.rowsCSV(page.rows))
            : APIJSONEncoder.response(HistoryFormat.rowsJSON(page.rows, nextCursor: page.nextCursor))
    }

    /// Runs a time-series read (file reads and decompression, milliseconds for a month) on
    /// NIO's blocking thread pool, not on a thread of Swift's cooperative pool, whose two
    /// threads every other request and the ingest's database work share.
    static func offloaded<Result: Sendable>(_ read: @escaping @Sendable () throws -> Result) async throws -> Result {
        try await NIOThreadPool.singleton.runIfActive(read)
    }

    /// CSV of the whole range, written page by page (`maximumLimit` rows) as it is read,
    /// from one snapshot whose pages each start where the previous one ended: a month of
    /// samples never sits in memory, and the cost is linear in the rows written.
    private static func streamedCSV(_ query: EventQuery, timeSeries: TimeSeriesStore) -> Response {
        var paged = query
        paged.limit = maximumLimit
        let first = paged
        return Response(
            status: .ok,
            headers: [.contentType: "text/csv; charset=utf-8"],
            body: ResponseBody { writer in
                let pager = try await offloaded { timeSeries.pages(first) }
                var header = true
                while let page = try await offloaded({ try pager.next() }) {
                    try await writer.write(ByteBuffer(bytes: HistoryFormat.rowsCSV(page.rows, header: header)))
                    header = false
                }
                try await writer.finish(nil)
            }
        )
    }

    static func csvResponse(_ bytes: [UInt8]) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/csv; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }
}
