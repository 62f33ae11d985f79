import NIOCore
import NIOWebSocket
import Protocol
import Testing
import TimeSeries

@testable import Ingest

@Suite("Event rows")
struct EventRowsTests {
    static func request(connector: Int, transaction: Int?, _ samples: [SampledValue]) -> MeterValuesRequest {
        MeterValuesRequest(
            connectorId: connector,
            transactionId: transaction,
            meterValue: [MeterValue(timestamp: OCPPTimestamp(millisecondsSince1970: 1_000), sampledValue: samples)]
        )
    }

    @Test("The series cache gives each connector and attribute set its own key, whatever the order and session")
    func seriesCache() {
        var cache = SampleSeriesCache()
        let energy = SampledValue(value: "1")
        let power = SampledValue(value: "2", measurand: .powerActiveImport, unit: .w)
        let current = SampledValue(value: "3", measurand: .currentImport, phase: .l1, unit: .a)
        let messages: [(Int, Int?, [SampledValue])] = [
            (1, nil, [energy, power]), (2, nil, [energy, power]), (1, nil, [power, energy]),
            (1, 7, [energy, power, current]), (2, nil, [energy]), (1, 7, [current]), (1, nil, [energy, power]),
        ]
        var keys: [String: SeriesKey] = [:]
        for (connector, transaction, samples) in messages {
            let rows = EventRows.rows(
                of: Self.request(connector: connector, transaction: transaction, samples),
                chargePointID: "CP",
                cache: &cache
            )
            #expect(rows.count == samples.count)
            for (row, sample) in zip(rows, samples) {
                #expect(row.series.connectorID == connector)
                #expect(row.transactionID == transaction)
                // One series per connector and attributes, across sessions.
                let name = "\(connector) \(row.series.measurand ?? "") \(row.series.phase ?? "")"
                #expect(keys[name, default: row.series] == row.series)
                keys[name] = row.series
                #expect(row.series.measurand == (sample.measurand ?? .energyActiveImportRegister).rawValue)
                #expect(row.series.phase == sample.phase?.rawValue)
                #expect(row.series.unit == (sample.unit ?? .wh).rawValue)
                #expect(row.series.context == "Sample.Periodic")
                #expect(row.series.location == "Outlet")
                #expect(row.series.format == "Raw")
            }
        }
    }
}

extension EventRowsTests {
    @Test("Once the store names a message's series, its rows go by id; other attributes go by key again")
    func batchesByID() throws {
        var cache = SampleSeriesCache()
        var ids: [SeriesKey: UInt32] = [:]
        let energy = SampledValue(value: "1523456.7")
        let power = SampledValue(value: "7400", measurand: .powerActiveImport, unit: .w)
        let request = Self.request(connector: 1, transaction: nil, [energy, power])
        func batch(_ request: MeterValuesRequest) -> AppendBatch {
            EventRows.batch(of: request, chargePointID: "CP", cache: &cache) { ids[$0] }
        }
        // Unknown to the store: by key.
        guard case .keyed(let first) = batch(request) else {
            Issue.record("the first message went by id")
            return
        }
        #expect(first.map(\.value) == [.sample("1523456.7"), .sample("7400")])
        // The store has written them; the next message learns the ids (still by key), the one
        // after goes by id.
        for (index, row) in first.enumerated() { ids[row.series] = UInt32(10 + index) }
        guard case .keyed = batch(request) else {
            Issue.record("a message went by id before the cache had the ids")
            return
        }
        guard case .resolved(let resolved) = batch(request) else {
            Issue.record("a message whose series the store holds went by key")
            return
        }
        #expect(resolved.map(\.seriesID) == [10, 11])
        #expect(resolved.map(\.value) == [.sample("1523456.7"), .sample("7400")])
        #expect(resolved.allSatisfy { $0.timestamp == 1_000 })
        // Another transaction: the same series, by id, the rows carrying the transaction.
        guard case .resolved(let inSession) = batch(Self.request(connector: 1, transaction: 5, [energy, power])) else {
            Issue.record("a transaction's message did not go by the ids of its connector's series")
            return
        }
        #expect(inSession.map(\.seriesID) == [10, 11])
        #expect(inSession.allSatisfy { $0.transactionID == 5 })
        // A different sampled value in second place is a series the store does not hold.
        let current = SampledValue(value: "16", measurand: .currentImport, phase: .l1, unit: .a)
        guard case .keyed(let changed) = batch(Self.request(connector: 1, transaction: nil, [energy, current])) else {
            Issue.record("a message with a new series went by id")
            return
        }
        #expect(changed[1].series.measurand == "Current.Import")
    }
}

@Suite("Unmasking")
struct UnmaskTests {
    @Test("Eight bytes at a time gives what NIO's byte-by-byte unmasking gives, at every length")
    func agreesWithNIO() {
        for length in 0..<70 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let key = WebSocketMaskingKey([0x1F, 0xA2, 0x37, 0xC4])!
            var ours = ByteBuffer(bytes: bytes)
            var theirs = ours
            OCPPConnectionHandler.unmask(&ours, key)
            theirs.webSocketUnmask(key)
            #expect(ours == theirs, "length \(length)")
            OCPPConnectionHandler.unmask(&ours, key)
            #expect(Array(buffer: ours) == bytes, "length \(length)")
        }
    }
}
