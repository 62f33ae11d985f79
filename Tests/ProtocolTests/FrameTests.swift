import Protocol
import Testing

/// Hand-written faults of the OCPP-J RPC framing.
@Suite("Frames")
struct FrameTests {
    struct Fault: CustomStringConvertible, Sendable {
        let frame: String
        let code: OCPPErrorCode
        let uniqueID: String?
        var description: String { frame }
    }

    static let faults: [Fault] = [
        Fault(frame: "not json", code: .formationViolation, uniqueID: nil),
        Fault(frame: "", code: .formationViolation, uniqueID: nil),
        Fault(frame: #"{"messageTypeId": 2}"#, code: .formationViolation, uniqueID: nil),
        Fault(frame: "[]", code: .protocolError, uniqueID: nil),
        Fault(frame: "[2]", code: .protocolError, uniqueID: nil),
        Fault(frame: #"["2", "a", "Heartbeat", {}]"#, code: .formationViolation, uniqueID: nil),
        Fault(frame: #"[2, 17, "Heartbeat", {}]"#, code: .formationViolation, uniqueID: nil),
        Fault(frame: #"[7, "a", "Heartbeat", {}]"#, code: .formationViolation, uniqueID: "a"),
        Fault(frame: #"[2, "a"]"#, code: .protocolError, uniqueID: "a"),
        Fault(frame: #"[2, "a", "Heartbeat"]"#, code: .protocolError, uniqueID: "a"),
        Fault(frame: #"[2, "a", 5, {}]"#, code: .formationViolation, uniqueID: "a"),
        Fault(frame: #"[2, "a", "Heartbeat", "{}"]"#, code: .formationViolation, uniqueID: "a"),
        Fault(frame: #"[2, "a", "Heartbeat", []]"#, code: .formationViolation, uniqueID: "a"),
        Fault(frame: #"[2, "a", "Heartbeat", {}, {}]"#, code: .formationViolation, uniqueID: "a"),
        Fault(frame: #"[2, "a", "Heartbeat", {}] trailing"#, code: .formationViolation, uniqueID: "a"),
        Fault(frame: #"[2, "a", "Heartbeat", {}"#, code: .formationViolation, uniqueID: "a"),
        Fault(frame: #"[2, "a", "FlyToTheMoon", {}]"#, code: .notImplemented, uniqueID: "a"),
        Fault(frame: #"[2, "a", "Reset", {"type": "Hard"}]"#, code: .notSupported, uniqueID: "a"),
        Fault(frame: #"[2, "", "Heartbeat", {}]"#, code: .formationViolation, uniqueID: ""),
        Fault(
            frame: #"[2, "0123456789012345678901234567890123456", "Heartbeat", {}]"#,
            code: .formationViolation,
            uniqueID: "0123456789012345678901234567890123456"
        ),
        // A type error early in a payload that is not JSON at all is a formation fault.
        Fault(
            frame: #"[2, "a", "MeterValues", {"connectorId": "1", "meterValue": [}]"#,
            code: .formationViolation,
            uniqueID: "a"
        ),
        Fault(
            frame: #"[2, "a", "MeterValues", {"connectorId": "1", "meterValue": []}]"#,
            code: .typeConstraintViolation,
            uniqueID: "a"
        ),
        Fault(frame: #"[2, "a", "Authorize", {"idTag": "\ud800"}]"#, code: .formationViolation, uniqueID: "a"),
        Fault(frame: "[2, \"a\", \"Authorize\", {\"idTag\": \"x\u{01}\"}]", code: .formationViolation, uniqueID: "a"),
        Fault(frame: #"[3, "a"]"#, code: .protocolError, uniqueID: "a"),
        Fault(frame: #"[3, "a", 5]"#, code: .formationViolation, uniqueID: "a"),
        Fault(frame: #"[4, "a", "GenericError", "broken"]"#, code: .protocolError, uniqueID: "a"),
        Fault(frame: #"[4, "a", 1, "broken", {}]"#, code: .formationViolation, uniqueID: "a"),
    ]

    @Test("Frame faults get the right OCPP-J code, with the unique id when readable", arguments: faults)
    func frameFault(fault: Fault) {
        do {
            let frame = try OCPPFrameDecoder.decode(Array(fault.frame.utf8), as: ChargePointRequest.self)
            Issue.record("accepted: \(frame)")
        } catch {
            #expect(error.error.code == fault.code, "\(error)")
            #expect(error.uniqueID == fault.uniqueID, "\(error)")
        }
    }

    @Test("Invalid UTF-8 in a string is a formation fault")
    func invalidUTF8() {
        var bytes = Array(#"[2, "a", "Authorize", {"idTag": "x"#.utf8)
        bytes += [0xC3, 0x28]
        bytes += Array(#""}]"#.utf8)
        #expect {
            try OCPPFrameDecoder.decode(bytes, as: ChargePointRequest.self)
        } throws: { error in
            (error as? OCPPFrameError)?.error.code == .formationViolation
        }
    }

    @Test("The unique id's limit of 36 characters counts Unicode scalars, not bytes")
    func uniqueIDLength() throws {
        func decoded(_ id: String) -> Bool {
            (try? OCPPFrameDecoder.decode(Array(#"[2,"\#(id)","Heartbeat",{}]"#.utf8), as: ChargePointRequest.self))
                != nil
        }
        // 36 two-byte, three-byte and four-byte scalars: 72, 108 and 144 bytes.
        for scalar in ["é", "€", "😀"] {
            #expect(decoded(String(repeating: scalar, count: 36)), "\(scalar)")
            #expect(!decoded(String(repeating: scalar, count: 37)), "\(scalar)")
        }
        #expect(decoded(String(repeating: "a", count: 36)))
        #expect(!decoded(String(repeating: "a", count: 37)))
        // Scalars, not grapheme clusters: 19 characters of two scalars each are 38.
        #expect(!decoded(String(repeating: "e\u{301}", count: 19)))
        #expect(decoded(String(repeating: "e\u{301}", count: 18)))
        // An escaped scalar counts once.
        #expect(decoded(String(repeating: #"\u00e9"#, count: 36)))
    }

    @Test("A MeterValues CALL decodes with every attribute and the payload's escapes resolved")
    func meterValuesCall() throws {
        let text = """
             [2, "19223201", "MeterValues", {"connectorId": 1, "transactionId": 42, "meterValue": [
              {"timestamp": "2024-03-01T10:00:00+01:00", "sampledValue": [
                {"value": "0012.50", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
                {"value": "230.1", "measurand": "Voltage", "phase": "L1-N", "unit": "V", "context": "Sample.Clock",
                 "location": "Outlet", "format": "Raw"},
                {"value": "\\u0041B\\"C", "format": "SignedData"}]}]}]
            """
        let frame = try OCPPFrameDecoder.decode(Array(text.utf8), as: ChargePointRequest.self, options: .strict)
        guard case .call(let uniqueID, .meterValues(let request), let unknown) = frame else {
            Issue.record("not a MeterValues call: \(frame)")
            return
        }
        #expect(uniqueID == "19223201")
        #expect(unknown.isEmpty)
        #expect(request.connectorId == 1)
        #expect(request.transactionId == 42)
        let meterValue = try #require(request.meterValue.first)
        #expect(meterValue.timestamp.iso8601 == "2024-03-01T09:00:00.000Z")
        #expect(meterValue.sampledValue.map(\.value) == ["0012.50", "230.1", "AB\"C"])
        #expect(meterValue.sampledValue[0].measurand == .energyActiveImportRegister)
        #expect(meterValue.sampledValue[0].unit == .kWh)
        #expect(meterValue.sampledValue[1].phase == .l1N)
        #expect(meterValue.sampledValue[1].context == .sampleClock)
        #expect(meterValue.sampledValue[1].location == .outlet)
        #expect(meterValue.sampledValue[2].format == .signedData)
        #expect(meterValue.sampledValue[2].measurand == nil)
    }

    @Test("Vendor extras are accepted and reported in lenient mode, refused in strict mode")
    func unknownProperties() throws {
        let text = #"[2, "a", "Heartbeat", {"vendorInfo": {"nested": [1, {"deep": null}]}}]"#
        let frame = try OCPPFrameDecoder.decode(Array(text.utf8), as: ChargePointRequest.self)
        guard case .call(_, .heartbeat, let unknown) = frame else {
            Issue.record("not decoded: \(frame)")
            return
        }
        #expect(unknown == ["HeartbeatRequest.vendorInfo"])
        #expect {
            try OCPPFrameDecoder.decode(Array(text.utf8), as: ChargePointRequest.self, options: .strict)
        } throws: { error in
            let error = error as? OCPPFrameError
            return error?.error.code == .formationViolation && error?.error.location == "vendorInfo"
                && error?.uniqueID == "a"
        }
    }

    @Test("A deeply nested vendor extra is refused without exhausting the stack")
    func deepNesting() {
        let depth = 100_000
        let text =
            #"[2, "a", "Heartbeat", {"x": "# + String(repeating: "[", count: depth)
            + String(repeating: "]", count: depth) + "}]"
        #expect {
            try OCPPFrameDecoder.decode(Array(text.utf8), as: ChargePointRequest.self)
        } throws: { error in
            (error as? OCPPFrameError)?.error.code == .formationViolation
        }
    }

    @Test("CALLRESULT and CALLERROR frames decode; the result payload decodes as the pending call's confirmation")
    func resultAndError() throws {
        let result = try OCPPFrameDecoder.decode(
            Array(#"[3, "x1", {"currentTime": "2024-01-01T00:00:00Z"}]"#.utf8),
            as: CentralSystemRequest.self
        )
        guard case .callResult(let id, let payload) = result else {
            Issue.record("not a CALLRESULT")
            return
        }
        #expect(id == "x1")
        let heartbeat = try payload.decode(as: HeartbeatResponse.self)
        #expect(heartbeat.value.currentTime.iso8601 == "2024-01-01T00:00:00.000Z")

        let error = try OCPPFrameDecoder.decode(
            Array(#"[4, "x2", "NotSupported", "no \"reset\" here", {"detail": 1}]"#.utf8),
            as: CentralSystemRequest.self
        )
        guard case .callError(let callError) = error else {
            Issue.record("not a CALLERROR")
            return
        }
        #expect(callError.uniqueID == "x2")
        #expect(callError.code == .notSupported)
        #expect(callError.errorDescription == #"no "reset" here"#)
        #expect(try TestJSON.parse(callError.errorDetails) == TestJSON.object([("detail", .number(1))]))
    }

    @Test("Frames are encoded exactly")
    func encoding() {
        let call = OCPPFrameEncoder.call(uniqueID: "42", request: ResetRequest(type: .soft))
        #expect(String(decoding: call, as: UTF8.self) == #"[2,"42","Reset",{"type":"Soft"}]"#)

        let result = OCPPFrameEncoder.callResult(
            uniqueID: "7",
            payload: HeartbeatResponse(currentTime: OCPPTimestamp(millisecondsSince1970: 1_700_000_000_123))
        )
        #expect(String(decoding: result, as: UTF8.self) == #"[3,"7",{"currentTime":"2023-11-14T22:13:20.123Z"}]"#)

        let error = OCPPFrameEncoder.callError(
            uniqueID: "9",
            code: .propertyConstraintViolation,
            description: "bad \"value\"\n"
        )
        #expect(
            String(decoding: error, as: UTF8.self)
                == #"[4,"9","PropertyConstraintViolation","bad \"value\"\n",{}]"#
        )
    }

    @Test("A value a shared enumeration has but this message's schema lacks is refused (Hertz in StopTransaction)")
    func perMessageRestriction() throws {
        func stop(unit: String) -> [UInt8] {
            Array(
                """
                [2, "s", "StopTransaction", {"meterStop": 10, "timestamp": "2024-01-01T00:00:00Z", "transactionId": 5,
                 "transactionData": [{"timestamp": "2024-01-01T00:00:00Z", "sampledValue": [{"value": "50", "unit": "\(unit)"}]}]}]
                """.utf8
            )
        }
        _ = try OCPPFrameDecoder.decode(stop(unit: "Percent"), as: ChargePointRequest.self)
        #expect {
            try OCPPFrameDecoder.decode(stop(unit: "Hertz"), as: ChargePointRequest.self)
        } throws: { error in
            let error = (error as? OCPPFrameError)?.error
            return error?.code == .propertyConstraintViolation
                && error?.location == "transactionData[0].sampledValue[0].unit"
        }
        // MeterValues allows it.
        let meterValues =
            #"[2, "m", "MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": "2024-01-01T00:00:00Z", "sampledValue": [{"value": "50", "unit": "Hertz"}]}]}]"#
        _ = try OCPPFrameDecoder.decode(Array(meterValues.utf8), as: ChargePointRequest.self)
    }

    @Test("A decoding error becomes a CALLERROR that names the field")
    func errorDescription() throws {
        let text = #"[2, "a", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"}]"#
        do {
            _ = try OCPPFrameDecoder.decode(Array(text.utf8), as: ChargePointRequest.self)
            Issue.record("accepted")
        } catch {
            let reply = OCPPFrameEncoder.callError(uniqueID: try #require(error.uniqueID), error: error.error)
            let json = try TestJSON.parse(reply)
            #expect(json.arrayValue?[2] == .string("PropertyConstraintViolation"))
            #expect(json.arrayValue?[3].stringValue?.hasPrefix("status: 'Sleeping' is not an allowed value") == true)
        }
    }
}
