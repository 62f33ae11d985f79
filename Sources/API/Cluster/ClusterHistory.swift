import Foundation
import Hummingbird
import Ingest
import Logging
import NIOCore
import Relational
import TimeSeries

/// A charger's history in a cluster, whichever node is asked: each node's store holds only
/// what that node ingested, so a query gathers from every node that held the charger in the
/// range (by `charger_residency`), in parallel, and merges what they answer
/// (``ClusterHistoryMerge``).
///
/// Nodes answer each other at `GET /cluster/v1/history` (``ClusterHistoryRequest``'s
/// parameters, the cluster secret in `X-Cluster-Secret`, 401 without it) from their own
/// store only, never asking further. A node that held part of the range but cannot answer
/// (its lease lapsed, no connection, no answer within ``peerTimeout``, an unusable answer) is
/// named in the answer's `incomplete_nodes`; the rest is answered.
struct ClusterHistory: Sendable {
    /// How long a peer may take to answer.
    static let peerTimeout: TimeAmount = .seconds(10)
    /// The largest answer read from a peer: a page of 10,000 rows takes about 1 MiB, the most
    /// buckets an answer may hold (``MeterHistory/maximumBuckets``) about 12 MiB.
    static let maximumAnswerSize = 32 << 20
    /// How far a charger's timestamps may lie from its node's clock when no
    /// `OCPP_TIMESTAMP_PAST_DAYS`/`OCPP_TIMESTAMP_FUTURE_HOURS` window is set (their defaults).
    static let defaultWindow = TimestampWindow(pastDays: 30, futureHours: 24)
    /// The internal route.
    static let path = "\(ClusterForwarder.internalPrefix)/history"

    let forwarder: ClusterForwarder
    let timeSeries: TimeSeriesStore
    let window: TimestampWindow
    let timeout: TimeAmount

    init(forwarder: ClusterForwarder, timeSeries: TimeSeriesStore, timeout: TimeAmount = Self.peerTimeout) {
        self.forwarder = forwarder
        self.timeSeries = timeSeries
        window = timeSeries.options.timestampWindow ?? Self.defaultWindow
        self.timeout = timeout
    }

    var nodeID: String { forwarder.settings.nodeID }

    /// A node that may hold rows of the range: its id, and its URL while its lease holds.
    struct Holder: Sendable, Hashable {
        var nodeID: String
        var url: String?
    }

    /// The nodes whose residency intervals of `chargePointID`, widened by the timestamp
    /// window, overlap `from..<to`, by node id.
    ///
    /// Rows carry the charger's timestamps, intervals the node's clock: a charger uploads what
    /// it buffered while offline when it reconnects (dated before the interval), and its clock
    /// may run ahead. An interval is therefore widened by the window the store regards as
    /// plausible (`OCPP_TIMESTAMP_PAST_DAYS` before its start, `OCPP_TIMESTAMP_FUTURE_HOURS`
    /// after its end); an open interval (connected now, or a node that died) has no end.
    func holders(of chargePointID: String, from: Int64?, to: Int64?) async throws(APIError) -> [Holder] {
        let residency: [ChargerResidencyRecord]
        let nodes: [ClusterNodeRecord]
        do {
            async let intervals = forwarder.relational.chargerResidency(chargePointID)
            async let registered = forwarder.relational.clusterNodes()
            (residency, nodes) = try await (intervals, registered)
        } catch let error as RelationalStoreError {
            throw APIError(error)
        } catch {
            throw APIError(RelationalStoreError(code: .unavailable, message: "\(error)"))
        }
        let before = Int64(window.pastDays) * 86_400_000
        let after = Int64(window.futureHours) * 3_600_000
        var holding = Set<String>()
        for interval in residency {
            let start = Self.milliseconds(interval.connectedAt) - before
            let end = interval.disconnectedAt.map { Self.milliseconds($0) + after } ?? .max
            if to.map({ start < $0 }) ?? true, from.map({ end >= $0 }) ?? true { holding.insert(interval.nodeID) }
        }
        let alive = Dictionary(nodes.filter(\.isAlive).map { ($0.nodeID, $0.url) }) { first, _ in first }
        return holding.sorted().map { Holder(nodeID: $0, url: alive[$0]) }
    }

    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
    }

    /// A merged page and the nodes missing from it.
    struct Page: Sendable {
        var rows: [EventRow]
        var nextCursor: ClusterCursor?
        var incompleteNodes: [String]
    }

    /// One page of `request`'s rows from `holders` (this node reads its own store).
    func page(_ request: ClusterHistoryRequest, holders: [Holder], logger: Logger) async throws -> Page {
        let timeSeries = self.timeSeries
        let (shards, incomplete) = try await gather(
            request,
            holders: holders,
            logger: logger,
            local: { try await MeterHistory.offloaded { try request.rows(from: timeSeries) } },
            read: { try $0.shard() }
        )
        let (rows, next) = ClusterHistoryMerge.page(shards, limit: request.limit, descending: request.descending)
        return Page(rows: rows, nextCursor: next, incompleteNodes: incomplete)
    }

    /// The buckets of `request` from `holders`, combined, or a 422 when they are too many.
    func buckets(
        _ request: ClusterHistoryRequest,
        holders: [Holder],
        logger: Logger
    ) async throws -> (buckets: [AggregateBucket], incompleteNodes: [String]) {
        let timeSeries = self.timeSeries
        let (answers, incomplete) = try await gather(
            request,
            holders: holders,
            logger: logger,
            local: { try await MeterHistory.offloaded { try request.buckets(from: timeSeries) } },
            read: { try $0.bucketAnswer() }
        )
        var parts: [[AggregateBucket]] = []
        for answer in answers {
            switch answer {
            case .failure(let tooMany): throw Self.tooManyBuckets(tooMany.count)
            case .success(let buckets): parts.append(buckets)
            }
        }
        let combined = ClusterHistoryMerge.buckets(parts)
        guard combined.count <= MeterHistory.maximumBuckets else { throw Self.tooManyBuckets(combined.count) }
        return (combined, incomplete)
    }

    static func tooManyBuckets(_ count: Int) -> APIError {
        APIError.invalid(
            location: ["query", "bucket"],
            message: "the answer would hold \(count) buckets, more than \(MeterHistory.maximumBuckets): "
                + "narrow from/to, widen the bucket or select measurands or phases",
            type: "value_error"
        )
    }

    /// Asks every holder at once: this node its own store, the others their internal route.
    /// - Returns: The parts of the nodes that answered, in node id order, and the ids of those
    ///   that did not.
    /// - Throws: What reading this node's own store throws.
    private func gather<Part: Sendable>(
        _ request: ClusterHistoryRequest,
        holders: [Holder],
        logger: Logger,
        local: @escaping @Sendable () async throws -> Part,
        read: @escaping @Sendable (ClusterHistoryAnswer) throws -> Part
    ) async throws -> (parts: [Part], incomplete: [String]) {
        let results = try await withThrowingTaskGroup(of: (Int, Part?).self) { group in
            for (index, holder) in holders.enumerated() {
                group.addTask {
                    if holder.nodeID == nodeID { return (index, try await local()) }
                    return (index, await ask(holder, request, logger: logger, read: read))
                }
            }
            var results = [Part?](repeating: nil, count: holders.count)
            for try await (index, part) in group { results[index] = part }
            return results
        }
        var parts: [Part] = []
        var incomplete: [String] = []
        for (holder, part) in zip(holders, results) {
            if let part { parts.append(part) } else { incomplete.append(holder.nodeID) }
        }
        return (parts, incomplete)
    }

    /// A peer's part, or `nil` (logged) when it cannot be had.
    private func ask<Part: Sendable>(
        _ holder: Holder,
        _ request: ClusterHistoryRequest,
        logger: Logger,
        read: @escaping @Sendable (ClusterHistoryAnswer) throws -> Part
    ) async -> Part? {
        var metadata: Logger.Metadata = ["node_id": "\(holder.nodeID)", "charge_point_id": "\(request.chargePointID)"]
        guard let text = holder.url else {
            logger.warning(
                "A node that held the charger is not in the cluster now: history is incomplete",
                metadata: metadata
            )
            return nil
        }
        metadata["node_url"] = "\(text)"
        let url: ClusterNodeURL
        do {
            url = try ClusterNodeURL(text)
        } catch {
            metadata["error"] = "\(error)"
            logger.warning(
                "A node that held the charger has an unusable URL: history is incomplete",
                metadata: metadata
            )
            return nil
        }
        let answer: PeerAnswer
        do {
            answer = try await forwarder.client.get(
                url,
                path: "\(Self.path)?\(request.queryString)",
                headers: [(ClusterSettings.secretHeader, forwarder.settings.secret.text)],
                timeout: timeout,
                maximumAnswerSize: Self.maximumAnswerSize
            )
        } catch {
            metadata["error"] = "\(error)"
            logger.warning("A node that held the charger did not answer for its history", metadata: metadata)
            return nil
        }
        guard answer.status == 200 else {
            metadata["status"] = "\(answer.status)"
            if answer.status == 401 {
                logger.error(
                    "A node refused this node's cluster secret: CLUSTER_SECRET differs between them",
                    metadata: metadata
                )
            } else {
                metadata["body"] = "\(String(decoding: answer.body.prefix(300), as: UTF8.self))"
                logger.warning("A node refused a history query", metadata: metadata)
            }
            return nil
        }
        do {
            let body = answer.body
            return try await MeterHistory.offloaded {
                let decoded = try JSONDecoder().decode(ClusterHistoryAnswer.self, from: Data(body))
                return try read(decoded)
            }
        } catch {
            metadata["error"] = "\(error)"
            logger.warning("A node's history answer is unusable", metadata: metadata)
            return nil
        }
    }

    /// `GET /cluster/v1/history`: a peer's query, answered from this node's store only.
    func register(on router: Router<APIRequestContext>) {
        let timeSeries = self.timeSeries
        router.get("\(ClusterForwarder.internalPrefix)/history") { request, _ -> Response in
            try forwarder.checkSecret(request)
            let query: ClusterHistoryRequest
            do throws(ClusterHistoryRequest.Invalid) {
                query = try ClusterHistoryRequest(request.uri.queryParameters)
            } catch {
                throw APIError.detail("a history query from a peer: \(error.message)", status: .badRequest)
            }
            let bytes = try await MeterHistory.offloaded {
                let answer: ClusterHistoryAnswer
                if query.bucket == nil {
                    answer = ClusterHistoryAnswer(try query.rows(from: timeSeries))
                } else {
                    answer = ClusterHistoryAnswer(try query.buckets(from: timeSeries))
                }
                return try JSONEncoder().encode(answer)
            }
            return Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
            )
        }
    }
}
