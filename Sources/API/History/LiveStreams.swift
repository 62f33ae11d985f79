import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Protocol
import Relational
import ServiceLifecycle
import Synchronization
import TimeSeries

/// Live streams of a charger's or a site's samples and status changes, as Server-Sent Events,
/// sent as the rows are acknowledged to the charger (committed to the time-series store).
///
/// Every event's id says how far the client has read: `CURSOR@EPOCH-NEXT`, where CURSOR is the
/// history cursor (`next_cursor` of the meter history) of the latest-dated row sent so far, and
/// EPOCH-NEXT the store's opening and the position in commit order of the next row. A client
/// that reconnects with `Last-Event-ID` gets, in this order:
/// - **exact**: the rows committed after NEXT, from the store's memory tables, when the store
///   is the same opening and still holds them there (the last minutes; see README); no row is
///   missed or repeated, late-dated ones included;
/// - **history**: otherwise (a restart, or rows already in segments), the rows dated after
///   CURSOR, from the history; a row dated before CURSOR that arrived while the client was away
///   is not among them. A plain history cursor as `Last-Event-ID` starts here too, so a client
///   can open the stream where its history read ended;
/// - then live rows, from the same snapshot on: none is missed or repeated at the seam.
///
/// A client more than `OCPP_STREAM_BUFFER_ROWS` rows behind is sent `event: dropped` and the
/// stream ends (it may reconnect with its last id); a shutting-down server sends `event: end`.
enum LiveStreams {
    /// How often an idle stream sends a comment, so proxies keep it and a gone client is noticed.
    static let defaultHeartbeat: Duration = .seconds(15)
    /// A stream writes at most this often: rows committed meanwhile wait in its buffer and go
    /// out in one write. A busy charger's rows come in every group commit (every few
    /// milliseconds); each wake and write of a stream costs far more than its rows' text (the
    /// stream benchmark: 1,000 streams kept ingest at 0.30 of its rate writing every 0.1 s,
    /// 0.60 to 0.70 writing every second), and a chart updated once a second is live enough.
    static let batchInterval: Duration = .seconds(1)
    /// The streams' shared clock. Streams write on ticks one ``batchInterval`` apart, in
    /// ``tickPhases`` groups spread evenly over the interval (a stream's group by the order it
    /// opened in). Within a group the wakes come together, run one after the other on threads
    /// that are awake anyway, and their writes reach the event loops together; spread over the
    /// interval one by one, each wake costs a thread's wake-up (the stream benchmark's profile:
    /// thread switches were a sixth of what streams cost). Split into groups, a tick's writes
    /// do not all land on the event loops at once, where they held up the chargers' answers
    /// (one burst a second: p99 ingest latency 90-110 ms with 1,000 streams, 60-75 without).
    static let tickOrigin = ContinuousClock.now
    static let tickPhases = 10
    private static let openedStreams = Atomic<Int>(0)

    /// The tick group of the next stream to open.
    static func nextTickPhase() -> Int {
        openedStreams.add(1, ordering: .relaxed).oldValue % tickPhases
    }

    /// The first tick of group `phase` after `instant`.
    static func tick(after instant: ContinuousClock.Instant, phase: Int = 0) -> ContinuousClock.Instant {
        let origin = tickOrigin + batchInterval * (Double(phase % tickPhases) / Double(tickPhases))
        let elapsed = (instant - origin) / batchInterval
        return origin + batchInterval * (elapsed.rounded(.down) + 1)
    }

    /// Rows read from the history per page while catching up.
    static let replayPageRows = 1000

    /// How often a stream checks that its caller's token is still valid (revoked, expired):
    /// at most this often, when it wakes for rows or for a heartbeat.
    static let tokenRecheck: Duration = .seconds(5)

    /// How often a site's or the fleet's stream asks which chargers it follows (chargers moved
    /// to or from the site, registered or removed): at most this often, when it wakes for rows
    /// or for a heartbeat. A charger's rows are sent from the check that finds it on.
    static let chargersRecheck: Duration = .seconds(10)

    static func register(
        on router: Router<APIRequestContext>,
        timeSeries: TimeSeriesStore,
        relational: RelationalStore,
        authenticator: APIAuthenticator?,
        heartbeat: Duration = defaultHeartbeat
    ) {
        /// Opens a stream of the rows of `chargePointIDs`' series of the request's `kind`;
        /// `chargers`, for a site's or the fleet's, tells which chargers it follows from now on.
        @Sendable func open(
            _ request: Request,
            _ chargePointIDs: Set<String>,
            kinds: Set<SeriesKey.Kind>,
            chargers: (@Sendable () async throws -> Set<String>)? = nil
        ) throws
            -> Response
        {
            let resume = try lastEventID(request)
            guard let subscription = timeSeries.subscribe(LiveFilter(chargePointIDs: chargePointIDs, kinds: kinds))
            else {
                throw APIError.detail(
                    "too many live streams are open (or the server is stopping); try again later",
                    status: .serviceUnavailable
                )
            }
            return response(
                subscription,
                resume: resume,
                heartbeat: heartbeat,
                revoked: authenticator.map { tokenCheck($0, request) },
                chargers: chargers
            )
        }
        /// `chargers`: the owner's chargers now; `follows`: whether they can change while the
        /// stream is open (a site's can, a charger's is itself).
        func stream<Entity: StoredEntity>(
            of type: Entity.Type,
            _ idParameter: String,
            follows: Bool = false,
            chargers: @escaping @Sendable (Entity) async throws -> [String]
        ) {
            router.get("/db/\(Entity.table)/:\(idParameter)/meter-values/stream") { request, context in
                try await APIError.mapping {
                    let id = try ResourceRoutes<Entity>.pathID(idParameter, context)
                    let kinds = try self.kinds(request)
                    let owner = try await relational.get(Entity.self, id: id, company: context.company)
                    var followed: (@Sendable () async throws -> Set<String>)?
                    if follows { followed = { Set(try await chargers(owner)) } }
                    return try open(request, Set(try await chargers(owner)), kinds: kinds, chargers: followed)
                }
            }
        }
        stream(of: Charger.self, "charger_id") { [$0.chargePointID] }
        stream(of: Site.self, "site_id", follows: true) { try await relational.chargePointIDs(site: $0.id) }
        // The fleet: every charger the caller may see, followed as chargers are registered.
        router.get("/db/meter-values/stream") { request, context in
            try await APIError.mapping {
                let kinds = try self.kinds(request)
                let company = context.company
                @Sendable func chargers() async throws -> Set<String> {
                    if let company {
                        try await relational.chargePointIDs(of: company)
                    } else {
                        try await relational.allChargePointIDs()
                    }
                }
                return try open(request, try await chargers(), kinds: kinds, chargers: chargers)
            }
        }
    }

    /// The row kinds a stream sends: `kind=sample` or `kind=status`; both without it.
    static func kinds(_ request: Request) throws(ResourceCoding.Invalid) -> Set<SeriesKey.Kind> {
        var kinds: Set<SeriesKey.Kind>?
        try QueryParameter.each(request.uri.queryParameters) { parameter throws(ResourceCoding.Invalid) in
            guard parameter.name == "kind" else {
                throw parameter.unknown(
                    "a live stream",
                    accepts: "kind (sample or status; resume with the Last-Event-ID header)"
                )
            }
            guard kinds == nil else { throw parameter.invalid("at most one kind; without it, both", "value_error") }
            switch parameter.text {
            case "sample": kinds = [.sample]
            case "status": kinds = [.status]
            default: throw parameter.invalid("a kind is 'sample' or 'status'", "enum")
            }
        }
        return kinds ?? [.sample, .status]
    }

    /// Why the caller's token no longer opens the API (`nil`: it still does). A database that
    /// cannot be asked does not end the stream; the next check asks again.
    static func tokenCheck(_ authenticator: APIAuthenticator, _ request: Request) -> @Sendable () async -> String? {
        let header = request.headers[.authorization]
        return {
            do {
                _ = try await authenticator.principal(bearer: try AuthenticationMiddleware.bearerToken(header))
                return nil
            } catch let error as APIAuthenticationError {
                return error.reason
            } catch {
                return nil
            }
        }
    }

    static func response(
        _ subscription: LiveSubscription,
        resume: Position?,
        heartbeat: Duration,
        revoked: (@Sendable () async -> String?)?,
        chargers: (@Sendable () async throws -> Set<String>)? = nil
    ) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-store"
        // nginx buffers responses unless told not to.
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        return Response(
            status: .ok,
            headers: headers,
            body: ResponseBody { writer in
                var stream = EventStream(subscription: subscription)
                try await withGracefulShutdownHandler {
                    try await stream.run(
                        resume: resume,
                        heartbeat: heartbeat,
                        revoked: revoked,
                        chargers: chargers,
                        writer: &writer
                    )
                } onGracefulShutdown: {
                    subscription.finish(.closed)
                }
                try await writer.finish(nil)
            }
        )
    }

    /// One client's stream: what it has been sent, and the events' bytes.
    struct EventStream {
        let subscription: LiveSubscription
        /// The latest-dated row sent (or where the stream started).
        var cursor: EventCursor?
        /// The position of the next row, once the stream is exact (`nil` while catching up
        /// from the history, whose rows have no position).
        var next: UInt64?
        var series = HistoryFormat.SeriesText(json: true)
        var prefixes: [String: [UInt8]] = [:]
        var lastPrefix: (chargePointID: String, bytes: [UInt8])?
        var epochText: [UInt8] = []
        /// The sample rows of the `samples` event being gathered.
        var batch = SampleBatch()
        /// The start of a `samples` event's group, by series id: charger and series fields.
        var groupHeads: [UInt32: [UInt8]] = [:]
        /// Series keys by id, as live rows name them.
        var keys: [UInt32: SeriesKey] = [:]

        init(subscription: LiveSubscription) {
            self.subscription = subscription
        }

        var id: Position { Position(cursor: cursor, epoch: next.map { _ in subscription.epoch }, next: next) }

        mutating func run(
            resume: Position?,
            heartbeat: Duration,
            revoked: (@Sendable () async -> String?)?,
            chargers: (@Sendable () async throws -> Set<String>)?,
            writer: inout any ResponseBodyWriter
        ) async throws {
            var output: [UInt8] = []
            HistoryFormat.append("retry: 3000\n\n", to: &output)
            let subscription = subscription
            let recent: [LiveRow]? =
                if let resume, resume.epoch == subscription.epoch, let from = resume.next {
                    try await MeterHistory.offloaded { subscription.recent(from: from) }
                } else {
                    nil
                }
            if let resume, let from = resume.next, let rows = recent {
                cursor = resume.cursor
                next = from
                event("ready", #"{"replay":"exact"}"#, to: &output)
                try await write(rows, output: &output, writer: &writer)
            } else if let resumeCursor = resume?.cursor {
                cursor = resumeCursor
                event("ready", #"{"replay":"history"}"#, to: &output)
                try await flush(&output, writer: &writer)
                let pager = subscription.history(
                    EventQuery(
                        chargePointIDs: subscription.filter.chargePointIDs,
                        kinds: subscription.filter.kinds,
                        limit: LiveStreams.replayPageRows,
                        cursor: resumeCursor
                    )
                )
                while let page = try await MeterHistory.offloaded({ try pager.next() }) {
                    for row in page.rows { add(row, to: &output) }
                    closeBatch(to: &output)
                    try await flush(&output, writer: &writer)
                }
            } else {
                // A new stream (or one whose place is lost): live rows from now on. Its history
                // cursor is the latest-dated row stored before it opened, so that a resume after
                // a restart catches up from the history after that.
                let mode = resume == nil ? "none" : "lost"
                let filter = subscription.filter
                let latest = try await MeterHistory.offloaded {
                    try subscription.history(
                        EventQuery(
                            chargePointIDs: filter.chargePointIDs,
                            kinds: filter.kinds,
                            descending: true,
                            limit: 1
                        )
                    ).next()?.rows.first
                }
                cursor = latest.map(historyCursor)
                next = subscription.start
                event("ready", #"{"replay":"\#(mode)"}"#, to: &output)
            }
            // Every row before the start is sent (or is not the stream's): the id now says so.
            next = max(next ?? 0, subscription.start)
            comment("caught up", to: &output, withID: true)
            try await flush(&output, writer: &writer)
            var checked = ContinuousClock.now
            var chargersChecked = ContinuousClock.now
            var written = ContinuousClock.now
            let phase = LiveStreams.nextTickPhase()
            while true {
                // Right after a write, let rows gather for the rest of the interval.
                let gathered = LiveStreams.tick(after: written, phase: phase)
                if gathered > ContinuousClock.now { try? await Task.sleep(until: gathered) }
                let woke = await subscription.next(wakingAfter: heartbeat)
                written = ContinuousClock.now
                if let revoked, ContinuousClock.now - checked >= LiveStreams.tokenRecheck {
                    checked = ContinuousClock.now
                    if let reason = await revoked() {
                        let detail = "the token no longer opens the API (\(reason)); the stream ends"
                        var data: [UInt8] = []
                        HistoryFormat.append(#"{"detail":"#, to: &data)
                        HistoryFormat.appendJSONString(detail, to: &data)
                        HistoryFormat.append("}", to: &data)
                        self.event("end", String(decoding: data, as: UTF8.self), to: &output)
                        try await flush(&output, writer: &writer)
                        return
                    }
                }
                if let chargers, ContinuousClock.now - chargersChecked >= LiveStreams.chargersRecheck {
                    chargersChecked = ContinuousClock.now
                    // A database that cannot be asked leaves the chargers as they were.
                    if let current = try? await chargers(), current != subscription.filter.chargePointIDs {
                        subscription.follow(current)
                    }
                }
                switch woke {
                case .rows(let rows):
                    try await write(rows, output: &output, writer: &writer)
                case .idle:
                    comment("keep-alive", to: &output, withID: false)
                    try await flush(&output, writer: &writer)
                case .overflowed:
                    event(
                        "dropped",
                        #"{"detail":"this client fell more rows behind than the server buffers; reconnect with the last event id to resume"}"#,
                        to: &output
                    )
                    try await flush(&output, writer: &writer)
                    return
                case .closed:
                    event(
                        "end",
                        #"{"detail":"the server is stopping; reconnect with the last event id to resume"}"#,
                        to: &output
                    )
                    try await flush(&output, writer: &writer)
                    return
                }
            }
        }

        private mutating func write(
            _ rows: some Sequence<LiveRow>,
            output: inout [UInt8],
            writer: inout any ResponseBodyWriter
        )
            async throws
        {
            for row in rows {
                add(row, to: &output)
                if output.count >= 1 << 16 { try await flush(&output, writer: &writer) }
            }
            closeBatch(to: &output)
            try await flush(&output, writer: &writer)
        }

        /// Counts a row as sent: the id's cursor and position move past it. `cursor`: the live
        /// row's; `nil` for a history row (its order is the history's, so its own cursor is the
        /// latest-dated yet).
        mutating func advance(past row: EventRow, cursor rowCursor: EventCursor?, position: UInt64?) {
            advance(cursor: rowCursor ?? historyCursor(row), position: position)
        }

        mutating func advance(cursor rowCursor: EventCursor, position: UInt64?) {
            if let position { next = position + 1 }
            if let current = cursor {
                if current.precedes(rowCursor.timestamp, rowCursor.seriesID, rowCursor.transactionID) {
                    cursor = rowCursor
                }
            } else {
                cursor = rowCursor
            }
        }

        /// A status row's own event (the row has been counted as sent).
        mutating func statusEvent(_ row: EventRow, seriesID: UInt32?, to output: inout [UInt8]) {
            appendID(to: &output)
            output.append(contentsOf: prefix(row.series))
            HistoryFormat.appendRowFields(row, seriesID: seriesID, series: &series, to: &output)
            if case .status(let status) = row.value {
                func field(_ name: String, _ value: String?) {
                    HistoryFormat.append(",\"\(name)\":", to: &output)
                    if let value {
                        HistoryFormat.appendJSONString(value, to: &output)
                    } else {
                        HistoryFormat.append("null", to: &output)
                    }
                }
                field("error_code", status.errorCode)
                field("info", status.info)
                field("vendor_id", status.vendorID)
                field("vendor_error_code", status.vendorErrorCode)
            }
            HistoryFormat.append("}\n\n", to: &output)
        }

        /// A history row's cursor. History rows come with their series' key, not its id: the
        /// page's own cursor order is (timestamp, series id, transaction).
        func historyCursor(_ row: EventRow) -> EventCursor {
            EventCursor(
                timestamp: row.timestamp,
                seriesID: subscription.seriesID(of: row.series) ?? 0,
                transactionID: row.transactionID
            )
        }

        /// `id: ...` and its line end, as ``id``'s text, written as bytes: a busy stream writes
        /// one per row.
        mutating func appendID(to output: inout [UInt8]) {
            HistoryFormat.append("id: ", to: &output)
            if let cursor {
                HistoryFormat.appendInteger(cursor.timestamp, to: &output)
                output.append(UInt8(ascii: "."))
                HistoryFormat.appendInteger(Int64(cursor.seriesID), to: &output)
                if let transaction = cursor.transactionID {
                    output.append(UInt8(ascii: "."))
                    HistoryFormat.appendInteger(Int64(transaction), to: &output)
                }
            }
            if let next {
                if epochText.isEmpty { epochText = Array(String(subscription.epoch, radix: 16).utf8) }
                output.append(UInt8(ascii: "@"))
                output.append(contentsOf: epochText)
                output.append(UInt8(ascii: "-"))
                if next <= UInt64(Int64.max) {
                    HistoryFormat.appendInteger(Int64(next), to: &output)
                } else {
                    HistoryFormat.append(String(next), to: &output)
                }
            }
            output.append(UInt8(ascii: "\n"))
        }

        /// `event: status` and the start of the data up to the row's fields, per charger.
        private mutating func prefix(_ key: SeriesKey) -> [UInt8] {
            if let last = lastPrefix, last.chargePointID == key.chargePointID { return last.bytes }
            let bytes =
                prefixes[key.chargePointID]
                ?? {
                    var bytes: [UInt8] = []
                    HistoryFormat.append("event: status\ndata: {\"charge_point_id\":", to: &bytes)
                    HistoryFormat.appendJSONString(key.chargePointID, to: &bytes)
                    bytes.append(UInt8(ascii: ","))
                    if prefixes.count >= 10_000 { prefixes.removeAll() }
                    prefixes[key.chargePointID] = bytes
                    return bytes
                }()
            lastPrefix = (key.chargePointID, bytes)
            return bytes
        }

        private func event(_ name: String, _ data: String, to output: inout [UInt8]) {
            HistoryFormat.append("id: " + id.text + "\nevent: " + name + "\ndata: " + data + "\n\n", to: &output)
        }

        private func comment(_ text: String, to output: inout [UInt8], withID: Bool) {
            if withID {
                // An event with an id and no data: the browser keeps the id, dispatches nothing.
                HistoryFormat.append("id: " + id.text + "\n: " + text + "\n\n", to: &output)
            } else {
                HistoryFormat.append(": " + text + "\n\n", to: &output)
            }
        }

        private func flush(_ output: inout [UInt8], writer: inout any ResponseBodyWriter) async throws {
            guard !output.isEmpty else { return }
            try await writer.write(ByteBuffer(bytes: output))
            output.removeAll(keepingCapacity: true)
        }
    }
}
