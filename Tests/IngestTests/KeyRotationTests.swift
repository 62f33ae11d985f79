import Foundation
import Relational
import TestSupport
import Testing

@testable import Ingest

/// `POST /db/chargers/{charger_id}/authorization_key` for a connected charger: the key goes
/// to it with ChangeConfiguration(AuthorizationKey) first, and its answer decides what is
/// stored.
@Suite("Authorization key rotation")
struct KeyRotationTests {
    static let oldKey = try! AuthorizationKey(hex: "0123456789ABCDEF0123456789ABCDEF")

    /// A server with charger `id` in its database (holding ``oldKey``) and connected.
    static func connected(
        _ id: String,
        _ configuration: IngestConfiguration = IngestConfiguration(),
        backend: TestBackend = .sqlite
    ) async throws -> (IngestTestServer, TestChargePoint, Int64) {
        let server = try await IngestTestServer.start(configuration, backend: backend)
        let charger = try await server.relational.create(Charger.self, Charger.Fields(chargePointID: id))
        try await server.relational.setAuthorizationKey(
            AuthorizationKeyHash(key: oldKey),
            chargePointID: id,
            pending: false
        )
        let connection = try await server.connect(id)
        _ = try await connection.call("1", "Heartbeat", "{}")
        return (server, connection, charger.id)
    }

    /// Posts `body` for charger `chargerID`, answers the ChangeConfiguration the charger gets
    /// with `answer` (a CALLRESULT payload, or a whole frame when it starts with `[`; nil:
    /// no answer), and returns the HTTP response and the key the charger was sent.
    static func rotate(
        _ server: IngestTestServer,
        _ connection: TestChargePoint,
        _ chargerID: Int64,
        body: String?,
        answer: String?
    ) async throws -> (CommandEndpointTests.HTTPResponse, String) {
        let pending = Task {
            try await CommandEndpointTests.http(
                server.port,
                "POST",
                "/db/chargers/\(chargerID)/authorization_key",
                body: body
            )
        }
        let call = try parse(try await connection.nextText())
        #expect(call[0] as? Int == 2)
        #expect(call[2] as? String == "ChangeConfiguration")
        let payload = try object(call[3])
        #expect(payload["key"] as? String == "AuthorizationKey")
        let sent = try #require(payload["value"] as? String)
        if let answer {
            let uniqueID = call[1] as! String
            try await connection.send(answer.hasPrefix("[") ? answer : #"[3,"\#(uniqueID)",\#(answer)]"#)
        }
        return (try await pending.value, sent)
    }

    @Test("Accepted: the new key is pending, and the old and new key both work", arguments: TestBackend.allCases)
    func accepted(backend: TestBackend) async throws {
        let (server, connection, id) = try await Self.connected("CP-ROT", backend: backend)
        let newHex = "00112233445566778899AABBCCDDEEFF00112233"
        let (response, sent) = try await Self.rotate(
            server,
            connection,
            id,
            body: #"{"authorization_key":"\#(newHex.lowercased())"}"#,
            answer: #"{"status":"Accepted"}"#
        )
        #expect(response.status == 200, "\(response.body)")
        #expect(sent == newHex)
        let body = try object(response.json as Any)
        #expect(body["authorization_key"] as? String == newHex)
        #expect(body["pending"] as? Bool == true)
        #expect(body["change_configuration_status"] as? String == "Accepted")
        let credentials = try #require(try await server.relational.chargerCredentials(chargePointID: "CP-ROT"))
        #expect(credentials.match(password: Self.oldKey.bytes) == .current)
        #expect(credentials.match(password: try AuthorizationKey(hex: newHex).bytes) == .pending)
        #expect(credentials.match(password: newHex.utf8) == .pending)
        // Once the charger has authenticated with it, it is the only key.
        #expect(try await server.relational.promotePendingAuthorizationKey(chargePointID: "CP-ROT"))
        let promoted = try #require(try await server.relational.chargerCredentials(chargePointID: "CP-ROT"))
        #expect(promoted.match(password: Self.oldKey.bytes) == nil)
        #expect(promoted.match(password: newHex.utf8) == .current)
        await connection.close()
        await server.stop()
    }

    @Test("A generated key is the one sent; RebootRequired also keeps it as pending")
    func generatedAndRebootRequired() async throws {
        let (server, connection, id) = try await Self.connected("CP-GEN")
        let (response, sent) = try await Self.rotate(
            server,
            connection,
            id,
            body: nil,
            answer: #"{"status":"RebootRequired"}"#
        )
        #expect(response.status == 200, "\(response.body)")
        let body = try object(response.json as Any)
        #expect(body["authorization_key"] as? String == sent)
        #expect(sent.count == 40)
        #expect(body["pending"] as? Bool == true)
        #expect(body["change_configuration_status"] as? String == "RebootRequired")
        let credentials = try #require(try await server.relational.chargerCredentials(chargePointID: "CP-GEN"))
        #expect(credentials.match(password: try AuthorizationKey(hex: sent).bytes) == .pending)
        #expect(credentials.match(password: Self.oldKey.bytes) == .current)
        await connection.close()
        await server.stop()
    }

    @Test("Rejected, NotSupported and a CALLERROR store nothing: 409, 409, 502")
    func refused() async throws {
        let (server, connection, id) = try await Self.connected("CP-REF")
        for answer in [#"{"status":"Rejected"}"#, #"{"status":"NotSupported"}"#] {
            let (response, _) = try await Self.rotate(server, connection, id, body: nil, answer: answer)
            #expect(response.status == 409, "\(answer): \(response.body)")
            #expect(response.body.contains("nothing was stored"))
            #expect(!response.body.contains("authorization_key"))
        }
        let pending = Task {
            try await CommandEndpointTests.http(server.port, "POST", "/db/chargers/\(id)/authorization_key")
        }
        let call = try parse(try await connection.nextText())
        try await connection.send(#"[4,"\#(call[1] as! String)","NotImplemented","no security",{}]"#)
        let callError = try await pending.value
        #expect(callError.status == 502, "\(callError.body)")
        #expect(try object(callError.json as Any)["error_code"] as? String == "NotImplemented")
        let credentials = try #require(try await server.relational.chargerCredentials(chargePointID: "CP-REF"))
        #expect(credentials.pending == nil)
        #expect(credentials.match(password: Self.oldKey.bytes) == .current)
        await connection.close()
        await server.stop()
    }

    @Test("No answer in time: 504, and the key is kept as pending in case the charger applied it")
    func timedOut() async throws {
        let (server, connection, id) = try await Self.connected("CP-SLOW", IngestConfiguration(callTimeout: 1))
        let (response, sent) = try await Self.rotate(server, connection, id, body: nil, answer: nil)
        #expect(response.status == 504, "\(response.body)")
        #expect(!response.body.contains(sent))
        let credentials = try #require(try await server.relational.chargerCredentials(chargePointID: "CP-SLOW"))
        #expect(credentials.match(password: Self.oldKey.bytes) == .current)
        #expect(credentials.match(password: try AuthorizationKey(hex: sent).bytes) == .pending)
        await connection.close()
        await server.stop()
    }

    @Test("A charger that is not connected gets the key as its current one, without a call")
    func disconnected() async throws {
        let (server, connection, id) = try await Self.connected("CP-GONE")
        await connection.close()
        try await server.eventually("the charger is disconnected") {
            server.ingest.connection(try ChargePointID("CP-GONE")) == nil
        }
        let response = try await CommandEndpointTests.http(
            server.port,
            "POST",
            "/db/chargers/\(id)/authorization_key",
            body: #"{"authorization_key":"FFEEDDCCBBAA99887766554433221100"}"#
        )
        #expect(response.status == 200, "\(response.body)")
        let body = try object(response.json as Any)
        #expect(body["pending"] as? Bool == false)
        #expect(body["change_configuration_status"] is NSNull)
        let credentials = try #require(try await server.relational.chargerCredentials(chargePointID: "CP-GONE"))
        #expect(credentials.match(password: Self.oldKey.bytes) == nil)
        #expect(credentials.match(password: "FFEEDDCCBBAA99887766554433221100".utf8) == .current)
        await server.stop()
    }
}
