import HummingbirdCore
import Testing
import TimeSeries

@testable import API

/// The internal history query's parameters, as one node writes them and another reads them.
@Suite("Cluster history request")
struct ClusterHistoryRequestTests {
    @Test("A request reads back from its query string as it was, whatever its text")
    func requestRoundTrip() throws {
        var request = ClusterHistoryRequest(
            chargePointID: "CP 1/é&x=y",
            kind: .status,
            query: EventQuery(
                connectorID: 2,
                transactionID: -7,
                measurands: ["a&b=c d+e", "Voltage"],
                phases: ["L1", "L2-N"],
                from: -5,
                to: 1_767_225_600_000,
                descending: true,
                limit: 17,
                cursor: EventCursor(timestamp: 99, seriesID: 4_294_967_295, transactionID: 3)
            ),
            eventTypes: ["DataTransfer", "Firmware Status&"],
            bucket: 60_000
        )
        #expect(try ClusterHistoryRequest(URI("/h?" + request.queryString).queryParameters) == request)
        request = ClusterHistoryRequest(chargePointID: "CP", kind: .sample, query: EventQuery(limit: 1))
        #expect(try ClusterHistoryRequest(URI("/h?" + request.queryString).queryParameters) == request)
        for bad in [
            "kind=sample&limit=5", "charge_point_id=CP&kind=x&limit=5", "charge_point_id=CP&kind=sample",
            "charge_point_id=CP&kind=sample&limit=5&after=1.x", "charge_point_id=CP&kind=sample&limit=5&bucket=0",
        ] {
            #expect(throws: ClusterHistoryRequest.Invalid.self, "\(bad)") {
                try ClusterHistoryRequest(URI("/h?" + bad).queryParameters)
            }
        }
    }
}
