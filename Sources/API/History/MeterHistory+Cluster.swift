import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import TimeSeries

/// Meter history in a cluster: the same routes, answered from every node that holds part of
/// the charger's history (``ClusterHistory``), with `incomplete_nodes` in JSON and the
/// `OCPP-Incomplete-Nodes` header in CSV.
extension MeterHistory {
    /// The header naming the nodes a CSV answer lacks.
    static let incompleteNodesHeader = HTTPField.Name("OCPP-Incomplete-Nodes")!

    /// Answers `query` (one charger's samples, with the checked `parameters`) from the cluster.
    static func clusterAnswer(
        _ query: EventQuery,
        _ parameters: Parameters,
        _ cluster: ClusterHistory,
        logger: Logger
    ) async throws -> Response {
        guard let chargePointID = query.chargePointIDs?.first else {
            preconditionFailure("a charger's meter history names its charger")
        }
        let holders = try await cluster.holders(of: chargePointID, from: query.from, to: query.to)
        if let bucket = parameters.bucket {
            var request = ClusterHistoryRequest(
                chargePointID: chargePointID,
                kind: .sample,
                query: query,
                bucket: bucket
            )
            request.after = nil
            let (buckets, incomplete) = try await cluster.buckets(request, holders: holders, logger: logger)
            if parameters.csv {
                let csv = HistoryFormat.aggregateCSV(
                    buckets,
                    aggregate: parameters.aggregate,
                    transactionID: query.transactionID
                )
                return flagged(csvResponse(csv), incomplete)
            }
            return APIJSONEncoder.response(
                HistoryFormat.aggregateJSON(
                    buckets,
                    layout: parameters.layout,
                    aggregate: parameters.aggregate,
                    width: bucket,
                    transactionID: query.transactionID,
                    incompleteNodes: incomplete
                )
            )
        }
        let request = ClusterHistoryRequest(chargePointID: chargePointID, kind: .sample, query: query)
        if parameters.csv, !parameters.limitGiven {
            return try await streamedClusterCSV(request, holders: holders, cluster, logger: logger)
        }
        let page = try await cluster.page(request, holders: holders, logger: logger)
        if parameters.csv { return flagged(csvResponse(HistoryFormat.rowsCSV(page.rows)), page.incompleteNodes) }
        return APIJSONEncoder.response(
            HistoryFormat.rowsJSON(
                page.rows,
                nextCursor: page.nextCursor?.eventCursor,
                incompleteNodes: page.incompleteNodes
            )
        )
    }

    /// `response` with `OCPP-Incomplete-Nodes: id,id` when nodes are missing from it.
    static func flagged(_ response: Response, _ incompleteNodes: [String]) -> Response {
        var response = response
        if !incompleteNodes.isEmpty {
            response.headers[incompleteNodesHeader] = incompleteNodes.joined(separator: ",")
        }
        return response
    }

    /// The whole range as CSV, page by page across the nodes. The header names the nodes
    /// missing from the first page; later pages ask only the nodes that answered it, and if
    /// one of them fails the response is cut off (an error, not a silently shorter answer).
    private static func streamedClusterCSV(
        _ request: ClusterHistoryRequest,
        holders: [ClusterHistory.Holder],
        _ cluster: ClusterHistory,
        logger: Logger
    ) async throws -> Response {
        var paged = request
        paged.limit = maximumLimit
        paged.after = nil
        let first = try await cluster.page(paged, holders: holders, logger: logger)
        let answering = holders.filter { !first.incompleteNodes.contains($0.nodeID) }
        let query = paged
        let response = Response(
            status: .ok,
            headers: [.contentType: "text/csv; charset=utf-8"],
            body: ResponseBody { writer in
                var page = first
                var request = query
                var header = true
                while true {
                    try await writer.write(ByteBuffer(bytes: HistoryFormat.rowsCSV(page.rows, header: header)))
                    header = false
                    guard let next = page.nextCursor else { break }
                    request.after = next
                    page = try await cluster.page(request, holders: answering, logger: logger)
                    guard page.incompleteNodes.isEmpty else {
                        logger.error(
                            "A node stopped answering during a CSV history answer: the answer is cut off",
                            metadata: ["nodes": "\(page.incompleteNodes)"]
                        )
                        throw APIError.detail(
                            "nodes \(page.incompleteNodes.joined(separator: ", ")) stopped answering",
                            status: .badGateway
                        )
                    }
                }
                try await writer.finish(nil)
            }
        )
        return flagged(response, first.incompleteNodes)
    }
}

extension ClusterCursor {
    /// The cursor in the form a store's cursor is written in (`timestamp.digest[.transaction]`).
    var eventCursor: EventCursor {
        EventCursor(timestamp: timestamp, seriesID: digest, transactionID: transactionID)
    }
}
