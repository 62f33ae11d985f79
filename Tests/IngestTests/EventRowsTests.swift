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

    @Test("The series cache gives each connector, transaction and attribute set its own key, whatever the order")
    func seriesCache() {
        var cache = SampleSeriesCache()
        let energy = SampledValue(value: "1")
        let power = SampledValue(value: "2", measurand: .powerActiveImport, unit: .w)
        let current = SampledValue(value: "3", measurand: .currentImport, phase: .l1, unit: .a)
        let messages: [(Int, Int?, [SampledValue])] = [
            (1, nil, [energy, power]), (2, nil, [energy, power]), (1, nil, [power, energy]),
            (1, 7, [energy, power, current]), (2, nil, [energy]), (1, 7, [current]), (1, nil, [energy, power]),
        ]
        for (connector, transaction, samples) in messages {
            let rows = EventRows.rows(
                of: Self.request(connector: connector, transaction: transaction, samples),
                chargePointID: "CP",
                cache: &cache
            )
            #expect(rows.count == samples.count)
            for (row, sample) in zip(rows, samples) {
                #expect(row.series.connectorID == connector)
                #expect(row.series.transactionID == transaction)
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
