import Ingest
import Testing

@Suite("Charge point id")
struct ChargePointIDTests {
    @Test("Path segments are URL-decoded and validated")
    func decoding() throws {
        #expect(try ChargePointID(pathSegment: "CP-001").rawValue == "CP-001")
        #expect(try ChargePointID(pathSegment: "DE%2ABC%3A123").rawValue == "DE*BC:123")
        #expect(try ChargePointID(pathSegment: Substring(String(repeating: "x", count: 48))).rawValue.count == 48)
    }

    @Test(
        "Bad ids are refused",
        arguments: [
            "", "a%2Fb", "a%20b", "a%zz", "a%4", "tab%09", String(repeating: "x", count: 49), "%C3%28", "quote%22",
        ]
    )
    func refused(segment: String) {
        #expect(throws: ChargePointIDError.self) { try ChargePointID(pathSegment: Substring(segment)) }
    }
}
