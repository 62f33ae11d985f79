import Foundation
import Ingest
import TestSupport
import Testing

/// A WebSocket upgrade carrying a browser `Origin` is refused unless the origin is allowed:
/// a page on another site cannot open a connection in a charger's name. Chargers send no
/// `Origin`, so they are unaffected.
@Suite("WebSocket origins")
struct OriginTests {
    static let allowed = "https://ops.example.com"

    static func upgrade(port: Int, id: String, origin: String?) async throws -> String {
        var request =
            "GET /ocpp/\(id) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            + "Sec-WebSocket-Protocol: ocpp1.6\r\n"
        if let origin { request += "Origin: \(origin)\r\n" }
        return try await rawUpgrade(port: port, request + "\r\n")
    }

    @Test("Upgrades from an unlisted Origin get 403 before the upgrade; listed ones and chargers connect")
    func origins() async throws {
        let server = try await IngestTestServer.start(IngestConfiguration(allowedOrigins: [Self.allowed]))
        do {
            let refused = try await Self.upgrade(port: server.port, id: "CP-ORIGIN-1", origin: "https://evil.example")
            #expect(refused.hasPrefix("HTTP/1.1 403"), "\(refused)")
            #expect(refused.contains("OCPP_ALLOWED_ORIGINS"))
            #expect(refused.contains("https://evil.example"))
            #expect(!refused.contains("Sec-WebSocket-Accept"))
            let null = try await Self.upgrade(port: server.port, id: "CP-ORIGIN-1", origin: "null")
            #expect(null.hasPrefix("HTTP/1.1 403"), "\(null)")
            let prefix = try await Self.upgrade(port: server.port, id: "CP-ORIGIN-1", origin: Self.allowed + ".evil")
            #expect(prefix.hasPrefix("HTTP/1.1 403"), "exact match only: \(prefix)")
            #expect(server.ingest.connection(try ChargePointID("CP-ORIGIN-1")) == nil)

            let listed = try await Self.upgrade(port: server.port, id: "CP-ORIGIN-2", origin: Self.allowed)
            #expect(listed.hasPrefix("HTTP/1.1 101"), "\(listed)")
            let charger = try await TestChargePoint.connect(port: server.port, id: "CP-ORIGIN-3")
            await charger.close()
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test("Without allowed origins every Origin is refused; chargers still connect")
    func noneAllowed() async throws {
        let server = try await IngestTestServer.start()
        do {
            let refused = try await Self.upgrade(port: server.port, id: "CP-ORIGIN-4", origin: "http://127.0.0.1:8000")
            #expect(refused.hasPrefix("HTTP/1.1 403"), "\(refused)")
            let charger = try await Self.upgrade(port: server.port, id: "CP-ORIGIN-5", origin: nil)
            #expect(charger.hasPrefix("HTTP/1.1 101"), "\(charger)")
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test("The decision: 403 for an unlisted origin, after the path check, before the id and subprotocol checks")
    func decision() throws {
        let id = try ChargePointID("CP-1")
        func decide(_ uri: String, _ origins: [String], _ allowed: Set<String> = [Self.allowed]) -> UpgradeDecision {
            UpgradeDecision(
                uri: uri,
                offeredSubprotocols: ["ocpp1.6"],
                requireSubprotocol: false,
                origins: origins,
                allowedOrigins: allowed
            )
        }
        #expect(decide("/ocpp/CP-1", []) == .accept(id, subprotocol: "ocpp1.6", offeredNone: false))
        #expect(decide("/ocpp/CP-1", [Self.allowed]) == .accept(id, subprotocol: "ocpp1.6", offeredNone: false))
        guard case .refuse(403, let reason) = decide("/ocpp/CP-1", ["https://evil.example\u{1B}[2J"]) else {
            Issue.record("an unlisted origin must be refused")
            return
        }
        #expect(!reason.contains("\u{1B}"), "the origin is escaped in the reason")
        guard case .refuse(403, _) = decide("/ocpp/CP-1", [Self.allowed, "https://evil.example"]) else {
            Issue.record("every Origin header must be allowed")
            return
        }
        guard case .refuse(403, _) = decide("/ocpp/a/b", ["https://evil.example"]) else {
            Issue.record("the origin is checked before the charge point id")
            return
        }
        guard case .refuse(404, _) = decide("/ws/CP-1", ["https://evil.example"]) else {
            Issue.record("other paths are still not the OCPP endpoint")
            return
        }
        guard case .refuse(403, _) = decide("/ocpp/CP-1", ["HTTPS://OPS.EXAMPLE.COM"]) else {
            Issue.record("origins match exactly")
            return
        }
    }
}

/// Sends `request` and reads the answer's head (the server keeps an accepted WebSocket open,
/// so reading stops at the blank line after the head).
func rawUpgrade(port: Int, _ request: String) async throws -> String {
    try await onOwnThread { try blockingRawHTTP(port: port, request, stopAfterUpgrade: true) }
}
