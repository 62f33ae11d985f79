import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import TestSupport

/// One Server-Sent Event as a browser's EventSource parses it (WHATWG HTML, 9.2): `id` is the
/// last event id after this event (ids persist across events that name none).
struct ServerSentEvent: Sendable, Equatable {
    var type: String
    var data: String
    var id: String

    /// `data` as a JSON object.
    var object: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] ?? [:]
    }
}

extension ServerSentEvent {
    /// The event as tests count them: a `samples` event is one `sample` event per row, whose
    /// object is the row as the meter history writes it (with `charge_point_id`); others as
    /// they are.
    var rows: [ServerSentEvent] {
        guard type == "samples" else { return [self] }
        guard let batch = object["series"] as? [[String: Any]] else {
            return [ServerSentEvent(type: "malformed samples", data: data, id: id)]
        }
        var rows: [ServerSentEvent] = []
        for group in batch {
            var fields = group
            fields["rows"] = nil
            for row in group["rows"] as? [[Any]] ?? [] {
                var object = fields
                object["timestamp"] = row.first
                object["value"] = row.count > 1 ? row[1] : nil
                object["transaction_id"] = row.count > 2 ? row[2] : nil
                if row.count > 3 { object["raw"] = row[3] }
                let text = (try? JSONSerialization.data(withJSONObject: object)).map {
                    String(decoding: $0, as: UTF8.self)
                }
                rows.append(ServerSentEvent(type: "sample", data: text ?? "{}", id: id))
            }
        }
        return rows
    }
}

/// A client of a live stream over a real connection: the answer's head, then events as they
/// arrive, parsed as the SSE standard says (comments ignored, an id-only event updates the id),
/// a `samples` event handed out row by row (``ServerSentEvent/rows``).
final class EventStreamClient: Sendable {
    let status: Int
    let headers: [(String, String)]
    /// The body of a non-200 answer.
    let body: String
    private let channel: any Channel
    private let events: AsyncStream<ServerSentEvent>
    private let reader: Task<Void, Never>
    private let lastID: NIOLockedValueBox<String>
    private let received: NIOLockedValueBox<[ServerSentEvent]>

    /// Every event as it came on the wire (`samples` events whole), so far.
    var wireEvents: [ServerSentEvent] { received.withLockedValue { $0 } }

    private init(
        status: Int,
        headers: [(String, String)],
        body: String,
        channel: any Channel,
        events: AsyncStream<ServerSentEvent>,
        reader: Task<Void, Never>,
        lastID: NIOLockedValueBox<String>,
        received: NIOLockedValueBox<[ServerSentEvent]>
    ) {
        self.received = received
        self.status = status
        self.headers = headers
        self.body = body
        self.channel = channel
        self.events = events
        self.reader = reader
        self.lastID = lastID
    }

    /// Opens `path` with `Last-Event-ID: lastEventID` when given.
    static func open(
        port: Int,
        _ path: String,
        lastEventID: String? = nil,
        token: String? = nil
    ) async throws
        -> EventStreamClient
    {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(60))
            .connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: port)) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel
                    )
                }
            }
        var headers = HTTPHeaders([("Host", "127.0.0.1:\(port)"), ("Accept", "text/event-stream")])
        if let lastEventID { headers.add(name: "Last-Event-ID", value: lastEventID) }
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        let request = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        let lastID = NIOLockedValueBox(lastEventID ?? "")
        let received = NIOLockedValueBox<[ServerSentEvent]>([])
        let (heads, headContinuation) = AsyncStream<(Int, [(String, String)], String)>.makeStream()
        let (events, continuation) = AsyncStream<ServerSentEvent>.makeStream()
        let reader = Task {
            try? await channel.executeThenClose { inbound, outbound in
                try await outbound.write(.head(request))
                try await outbound.write(.end(nil))
                var parser = Parser(lastID: lastEventID ?? "")
                var status = 0
                var fields: [(String, String)] = []
                var body = ""
                for try await part in inbound {
                    switch part {
                    case .head(let head):
                        status = Int(head.status.code)
                        fields = head.headers.map { ($0.name, $0.value) }
                        if status == 200 {
                            headContinuation.yield((status, fields, ""))
                            headContinuation.finish()
                        }
                    case .body(let buffer) where status == 200:
                        for event in parser.feed(String(buffer: buffer)) {
                            lastID.withLockedValue { $0 = event.id }
                            received.withLockedValue { $0.append(event) }
                            for row in event.rows { continuation.yield(row) }
                        }
                    case .body(let buffer):
                        body += String(buffer: buffer)
                    case .end:
                        headContinuation.yield((status, fields, body))
                        return
                    }
                }
            }
            headContinuation.finish()
            continuation.finish()
        }
        var iterator = heads.makeAsyncIterator()
        guard let (status, fields, body) = await iterator.next() else {
            throw TestFailure("the stream's answer has no head")
        }
        return EventStreamClient(
            status: status,
            headers: fields,
            body: body,
            channel: channel.channel,
            events: events,
            reader: reader,
            lastID: lastID,
            received: received
        )
    }

    /// The header `name` of the answer.
    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    /// The id a reconnecting EventSource would send.
    var lastEventID: String { lastID.withLockedValue { $0 } }

    /// The next events until `count` have come, or those that came when the stream ends or
    /// `timeout` passes.
    func next(_ count: Int, timeout: Duration = .seconds(30)) async -> [ServerSentEvent] {
        let events = self.events
        let collected = NIOLockedValueBox<[ServerSentEvent]>([])
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                var got = 0
                for await event in events {
                    collected.withLockedValue { $0.append(event) }
                    got += 1
                    if got == count { break }
                }
            }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        return collected.withLockedValue { $0 }
    }

    /// Every event until the server ends the stream.
    func rest(timeout: Duration = .seconds(30)) async -> [ServerSentEvent] {
        await next(Int.max, timeout: timeout)
    }

    func close() async {
        try? await channel.close()
        reader.cancel()
    }

    /// The SSE parser: lines, fields, dispatch at an empty line.
    struct Parser {
        var lastID: String
        var pending = ""
        var type = ""
        var data: [String] = []

        init(lastID: String) { self.lastID = lastID }

        mutating func feed(_ text: String) -> [ServerSentEvent] {
            pending += text
            var events: [ServerSentEvent] = []
            while let newline = pending.firstIndex(of: "\n") {
                let line = String(pending[..<newline])
                pending = String(pending[pending.index(after: newline)...])
                if line.isEmpty {
                    defer {
                        type = ""
                        data = []
                    }
                    guard !data.isEmpty else { continue }
                    events.append(
                        ServerSentEvent(
                            type: type.isEmpty ? "message" : type,
                            data: data.joined(separator: "\n"),
                            id: lastID
                        )
                    )
                    continue
                }
                if line.hasPrefix(":") { continue }
                let field: Substring
                var value: Substring
                if let colon = line.firstIndex(of: ":") {
                    field = line[..<colon]
                    value = line[line.index(after: colon)...]
                    if value.hasPrefix(" ") { value = value.dropFirst() }
                } else {
                    field = line[...]
                    value = ""
                }
                switch field {
                case "event": type = String(value)
                case "data": data.append(String(value))
                case "id": lastID = String(value)
                default: break
                }
            }
            return events
        }
    }
}
