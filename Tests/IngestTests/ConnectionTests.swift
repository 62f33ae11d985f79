import Foundation
import NIOCore
import NIOPosix
import NIOWebSocket
import Relational
import TestSupport
import Testing

@testable import Ingest

/// The connection layer: subprotocols, ids, faults, replacement, limits, liveness.
@Suite("Connections")
struct ConnectionTests {
    @Test("Malformed messages get the right CALLERROR and the connection stays usable")
    func faults() async throws {
        let server = try await IngestTestServer.start()
        let charger = try await server.connect("CP-FAULT")
        let cases: [(String, String)] = [
            (#"[2,"f1","MeterValues",{"connectorId":"one","meterValue":[]}]"#, "TypeConstraintViolation"),
            (#"[2,"f2","NoSuchAction",{}]"#, "NotImplemented"),
            (#"[2,"f3","Reset",{"type":"Hard"}]"#, "NotSupported"),
            (#"[2,"f4","BootNotification",{"chargePointModel":"M"}]"#, "OccurenceConstraintViolation"),
            (
                #"[2,"f5","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Dancing"}]"#,
                "PropertyConstraintViolation"
            ),
            (#"[2,"f6","Heartbeat",{}"#, "FormationViolation"),
        ]
        for (frame, code) in cases {
            try await charger.send(frame)
            let answer = try parse(try await charger.nextText())
            #expect(answer[0] as? Int == 4, "\(frame)")
            #expect(answer[2] as? String == code, "\(frame)")
            #expect((answer[3] as? String)?.isEmpty == false, "\(frame)")
        }
        // Not JSON at all: no unique id to answer; logged, and nothing else happens.
        try await charger.send("this is not json")
        let heartbeat = try await charger.call("ok", "Heartbeat", "{}")
        #expect(heartbeat[0] as? Int == 3)
        #expect(heartbeat[1] as? String == "ok")
        await charger.close()
        await server.stop()
    }

    @Test("ocpp1.6 is selected; no subprotocol is accepted unless required; others are refused")
    func subprotocols() async throws {
        let server = try await IngestTestServer.start()
        let offered = try await TestChargePoint.connect(
            port: server.port,
            path: "/ocpp/CP-SUB",
            subprotocols: ["ocpp2.0.1", "ocpp1.6"]
        )
        #expect(offered.subprotocol == "ocpp1.6")
        await offered.close()
        let none = try await TestChargePoint.connect(port: server.port, path: "/ocpp/CP-NONE", subprotocols: [])
        #expect(none.subprotocol == nil)
        #expect(try await none.call("1", "Heartbeat", "{}")[0] as? Int == 3)
        await none.close()
        await #expect(throws: TestChargePoint.UpgradeRefused.self) {
            _ = try await TestChargePoint.connect(port: server.port, path: "/ocpp/CP-X", subprotocols: ["ocpp2.0.1"])
        }
        let refusal = try await rawHTTP(
            port: server.port,
            "GET /ocpp/CP-X HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                + "Sec-WebSocket-Protocol: ocpp2.0.1\r\n\r\n"
        )
        #expect(refusal.hasPrefix("HTTP/1.1 400"))
        #expect(refusal.contains("do not include ocpp1.6"))
        await server.stop()

        let strict = try await IngestTestServer.start(IngestConfiguration(requireSubprotocol: true))
        await #expect(throws: TestChargePoint.UpgradeRefused.self) {
            _ = try await TestChargePoint.connect(port: strict.port, path: "/ocpp/CP-NONE", subprotocols: [])
        }
        await strict.stop()
    }

    @Test("Bad charge point ids are refused before the upgrade, with the reason")
    func badIDs() async throws {
        let server = try await IngestTestServer.start()
        for path in ["/ocpp/bad%20id", "/ocpp/", "/ocpp/" + String(repeating: "x", count: 49), "/ocpp/a%2Fb"] {
            let response = try await rawHTTP(
                port: server.port,
                "GET \(path) HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    + "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
            )
            #expect(response.hasPrefix("HTTP/1.1 400"), "\(path): \(response)")
            #expect(response.contains("\"detail\""), "\(path)")
        }
        // URL-decoded: %2D is '-'.
        let decoded = try await TestChargePoint.connect(port: server.port, path: "/ocpp/CP%2D7")
        _ = try await decoded.call("1", "Heartbeat", "{}")
        #expect(server.ingest.connectedChargePoints.map(\.chargePointID.rawValue) == ["CP-7"])
        await decoded.close()
        // A plain GET of the endpoint says how to use it.
        let plain = try await rawHTTP(
            port: server.port,
            "GET /ocpp/CP-1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        #expect(plain.hasPrefix("HTTP/1.1 426"))
        await server.stop()
    }

    @Test("An upgrade asked for after a connection's first request is answered, then the connection closes")
    func upgradeAfterFirstRequest() async throws {
        let server = try await IngestTestServer.start()
        let upgrade =
            "GET /ocpp/CP-1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            + "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
        // Only a connection's first request may upgrade. The HTTP decoder reads nothing after an
        // upgrade request, so a connection left open would hang on the next request (as a load
        // balancer that reuses connections would find): the answer says why and closes it.
        let started = ContinuousClock.now
        let answers = try await rawHTTP(
            port: server.port,
            "GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + upgrade + "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        #expect(ContinuousClock.now - started < .seconds(10), "the connection was left open")
        #expect(answers.hasPrefix("HTTP/1.1 200"))
        #expect(answers.contains("HTTP/1.1 426"))
        #expect(answers.lowercased().contains("connection: close"))
        #expect(answers.components(separatedBy: "HTTP/1.1 ").count == 3, "\(answers)")
        await server.stop()
    }

    @Test("A second connection with the same id replaces the first, which is closed")
    func replacement() async throws {
        let server = try await IngestTestServer.start()
        let first = try await server.connect("CP-DUP")
        _ = try await first.call("1", "Heartbeat", "{}")
        let second = try await server.connect("CP-DUP")
        #expect(try await first.next() == .close(code: 1008))
        #expect(try await first.next() == .disconnected)
        #expect(try await second.call("2", "Heartbeat", "{}")[0] as? Int == 3)
        try await server.eventually("only the new connection is registered") {
            server.ingest.connectedChargePoints.count == 1
        }
        await second.close()
        try await server.eventually("the charger is gone from the registry") {
            server.ingest.connectedChargePoints.isEmpty
        }
        await server.stop()
    }

    @Test("Fragmented messages are reassembled; oversized ones close the connection with 1009")
    func limits() async throws {
        let server = try await IngestTestServer.start(IngestConfiguration(maximumMessageSize: 4096))
        let charger = try await server.connect("CP-BIG")
        let message = #"[2,"frag","DataTransfer",{"vendorId":"v","data":"\#(String(repeating: "d", count: 3000))"}]"#
        let bytes = Array(message.utf8)
        let parts = stride(from: 0, to: bytes.count, by: 1000).map { Array(bytes[$0..<min($0 + 1000, bytes.count)]) }
        for (index, part) in parts.enumerated() {
            try await charger.send(
                WebSocketFrame(
                    fin: index == parts.count - 1,
                    opcode: index == 0 ? .text : .continuation,
                    data: ByteBuffer(bytes: part)
                )
            )
        }
        let answer = try parse(try await charger.nextText())
        #expect(answer[1] as? String == "frag")
        #expect(answer[0] as? Int == 3)

        // Larger than the limit in fragments...
        let big = Array(repeating: UInt8(ascii: "x"), count: 3000)
        try await charger.send(WebSocketFrame(fin: false, opcode: .text, data: ByteBuffer(bytes: big)))
        try await charger.send(WebSocketFrame(fin: true, opcode: .continuation, data: ByteBuffer(bytes: big)))
        #expect(try await charger.next() == .close(code: 1009))

        // ... and in one frame.
        let other = try await server.connect("CP-BIG2")
        try await other.send(String(repeating: "y", count: 5000))
        #expect(try await other.next() == .close(code: 1009))
        await server.stop()
    }

    @Test("Unmasked frames and oversized control frames close the connection with 1002; others go on")
    func frameFaults() async throws {
        let server = try await IngestTestServer.start()
        // A client's frame without a mask (RFC 6455, 5.1), written past the test client's masking.
        let unmasked = try await server.connect("CP-NOMASK")
        try await unmasked.channel.writeAndFlush(
            WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: #"[2,"u1","Heartbeat",{}]"#))
        )
        #expect(try await unmasked.next() == .close(code: 1002))

        // A ping longer than a control frame may be (RFC 6455, 5.5).
        let longPing = try await server.connect("CP-LONGPING")
        try await longPing.send(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer(repeating: 0x70, count: 126)))
        #expect(try await longPing.next() == .close(code: 1002))

        // Neither affects another charger.
        let other = try await server.connect("CP-FINE")
        let answer = try await other.call("h1", "Heartbeat", "{}")
        #expect(answer[0] as? Int == 3)
        await other.close()
        await server.stop()
    }

    @Test("Pings on real sockets: a charger that never answers is disconnected")
    func liveness() async throws {
        // The timing (when pings go out, that answers keep a charger, the exact limit) is
        // tested in virtual time (ConnectionHandlerTests.liveness); here only that a silent
        // charger goes, however late on a busy machine.
        let server = try await IngestTestServer.start(IngestConfiguration(pingInterval: 1, missedPongLimit: 1))
        let healthy = try await server.connect("CP-ALIVE")
        let silent = try await server.connect("CP-SILENT", answerPings: false)
        // Generous: in CI the whole suite runs at once on two cores (one run waited over 60 s).
        #expect(try await silent.next(timeout: .seconds(150)) == .disconnected)
        try await server.eventually(timeout: .seconds(60), "the silent charger is gone from the registry") {
            !server.ingest.connectedChargePoints.map(\.chargePointID.rawValue).contains("CP-SILENT")
        }
        await healthy.close()
        await server.stop()
    }

    @Test("A connection that never completes its request is closed after the handshake timeout")
    func handshakeTimeout() async throws {
        // The exact deadline is tested in virtual time (ConnectionHandlerTests.handshakeTimeout).
        let server = try await IngestTestServer.start(IngestConfiguration(handshakeTimeout: 1))
        let started = ContinuousClock.now
        let response = try await rawHTTP(port: server.port, "GET /ocpp/CP-SLOW HTTP/1.1\r\nHost: x\r\n")
        #expect(response.isEmpty)
        // Well before the client gives up at 30 s, with room for a busy machine.
        #expect(ContinuousClock.now - started < .seconds(20))
        await server.stop()
    }

    @Test("Unknown chargers: pending registers them as Pending; reject refuses everything but Boot")
    func unknownChargerPolicies() async throws {
        let pending = try await IngestTestServer.start(IngestConfiguration(unknownChargers: .pending))
        let newcomer = try await pending.connect("CP-NEW")
        let boot = try await newcomer.call(
            "1",
            "BootNotification",
            #"{"chargePointVendor":"V","chargePointModel":"M"}"#
        )
        #expect(try object(boot[2])["status"] as? String == "Pending")
        #expect(try await pending.relational.charger(chargePointID: "CP-NEW")?.registrationStatus == "Pending")
        await newcomer.close()
        await pending.stop()

        let strict = try await IngestTestServer.start(IngestConfiguration(unknownChargers: .reject))
        let stranger = try await strict.connect("CP-STRANGER")
        let refused = try await stranger.call(
            "1",
            "BootNotification",
            #"{"chargePointVendor":"V","chargePointModel":"M"}"#
        )
        #expect(try object(refused[2])["status"] as? String == "Rejected")
        #expect(try await strict.relational.charger(chargePointID: "CP-STRANGER") == nil)
        let data = try await stranger.call(
            "2",
            "MeterValues",
            #"{"connectorId":1,"meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":"1"}]}]}"#
        )
        #expect(data[0] as? Int == 4)
        #expect(data[2] as? String == "SecurityError")
        await stranger.close()
        // A charger the database knows is accepted under the same policy.
        _ = try await strict.relational.registerCharger(
            chargePointID: "CP-KNOWN",
            boot: .init(vendor: "V", model: "M"),
            registrationStatus: "Accepted",
            at: Date()
        )
        let known = try await strict.connect("CP-KNOWN")
        let accepted = try await known.call(
            "1",
            "BootNotification",
            #"{"chargePointVendor":"V","chargePointModel":"M"}"#
        )
        #expect(try object(accepted[2])["status"] as? String == "Accepted")
        await known.close()
        await strict.stop()
    }
}

/// Sends `request` on a new TCP connection and returns everything the server sent until it
/// closed the connection (or 10 seconds passed). The blocking socket calls run on a thread
/// of their own: blocking one of the few threads that run tasks would stall the server.
func rawHTTP(port: Int, _ request: String) async throws -> String {
    try await onOwnThread { try blockingRawHTTP(port: port, request) }
}

/// Sends `request` and reads until the server closes; with `stopAfterUpgrade`, also stops after
/// the head of a 101 answer (the server keeps an accepted WebSocket open).
func blockingRawHTTP(port: Int, _ request: String, stopAfterUpgrade: Bool = false) throws -> String {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard socket >= 0 else { throw TestFailure("socket() failed") }
    defer { Glibc.close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard connected == 0 else { throw TestFailure("connect() failed") }
    var timeout = timeval(tv_sec: 30, tv_usec: 0)
    setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    _ = request.withCString { send(socket, $0, strlen($0), 0) }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        if stopAfterUpgrade {
            let text = String(decoding: received, as: UTF8.self)
            if text.hasPrefix("HTTP/1.1 101"), text.contains("\r\n\r\n") { break }
        }
        let count = recv(socket, &buffer, buffer.count, 0)
        if count <= 0 { break }
        received += buffer[0..<count]
    }
    return String(decoding: received, as: UTF8.self)
}
