import Protocol
import Testing

/// Every one of the 78 official schemas, driven from the schema files themselves.
@Suite("Schema conformance")
struct SchemaConformanceTests {
    @Test("schemas/ocpp16 holds all 78 schemas of OCPP 1.6 and its security extension")
    func allSchemasPresent() throws {
        #expect(Schema.allNames.count == 78)
        #expect(OCPPAction.allCases.count == 39)
        for action in OCPPAction.allCases {
            #expect(Schema.allNames.contains(action.rawValue))
            #expect(Schema.allNames.contains(action.rawValue + "Response"))
        }
    }

    @Test("A valid payload round-trips", arguments: Schema.allNames)
    func validPayloadRoundTrips(schemaName: String) throws {
        let schema = try Schema.load(schemaName)
        for variant in 0..<3 {
            for full in [true, false] {
                let payload = schema.root.instance(variant: variant, full: full)
                let decoded: (value: any OCPPPayload, unknownProperties: [String])
                do {
                    decoded = try decodePayload(schema.payloadType, payload.serialized(), options: .strict)
                } catch {
                    Issue.record("\(schemaName) variant \(variant) rejected: \(error) for \(payload)")
                    continue
                }
                #expect(decoded.unknownProperties.isEmpty)
                let encoded = decoded.value.encoded()
                #expect(try TestJSON.parse(encoded) == payload, "\(schemaName) variant \(variant)")
                // What we write is itself valid against the schema.
                #expect(throws: Never.self) { try decoded.value.validate() }

                // The REST API's snake_case spelling round-trips to the same value.
                let snake = decoded.value.encoded(keyStyle: .snakeCase)
                let again = try decodePayload(
                    schema.payloadType,
                    snake,
                    options: OCPPDecodingOptions(unknownProperties: .reject, keyStyle: .snakeCase)
                )
                #expect(again.value.encoded() == encoded, "\(schemaName) snake_case")
            }
        }
    }

    @Test("Every boundary value the schema allows is accepted", arguments: Schema.allNames)
    func boundaryValuesAccepted(schemaName: String) throws {
        let schema = try Schema.load(schemaName)
        for (what, payload) in schema.boundaryPayloads() {
            do {
                _ = try decodePayload(schema.payloadType, payload.serialized(), options: .strict)
            } catch {
                Issue.record("\(schemaName): \(what) rejected: \(error)")
            }
        }
    }

    @Test("Each violation of each constraint gets its OCPP-J error code and path", arguments: Schema.allNames)
    func violationsRejected(schemaName: String) throws {
        let schema = try Schema.load(schemaName)
        let violations = schema.violations()
        // Every schema states at least additionalProperties: false on its root.
        #expect(!violations.isEmpty)
        for violation in violations {
            let bytes = violation.payload.serialized()
            do {
                _ = try decodePayload(schema.payloadType, bytes, options: .strict)
                Issue.record("\(schemaName): \(violation) was accepted: \(violation.payload)")
            } catch {
                #expect(error.code.rawValue == violation.code, "\(schemaName): \(violation): got \(error)")
                #expect(error.location == violation.location, "\(schemaName): \(violation): got \(error)")
            }
            if violation.strictOnly {
                // Lenient mode (the default) accepts and reports unknown properties.
                do {
                    let decoded = try decodePayload(schema.payloadType, bytes, options: .lenient)
                    #expect(decoded.unknownProperties.count == 1)
                    #expect(decoded.unknownProperties.first?.hasSuffix(".vendorExtension") == true)
                } catch {
                    Issue.record("\(schemaName): lenient mode rejected \(violation): \(error)")
                }
            }
        }
    }

    @Test("A CALL of every action decodes on the receiving side only", arguments: OCPPAction.allCases)
    func callDirection(action: OCPPAction) throws {
        let schema = try Schema.load(action.rawValue)
        let payload = schema.root.instance(variant: 0, full: true)
        let frame = TestJSON.array([.number(2), .string("id-1"), .string(action.rawValue), payload]).serialized()

        func check<Request: OCPPIncomingRequest>(_ side: Request.Type, accepts: Bool) throws {
            let result = Result { () throws(OCPPFrameError) in
                try OCPPFrameDecoder.decode(frame, as: side, options: .strict)
            }
            switch result {
            case .success(.call(let uniqueID, let request, _)):
                #expect(accepts, "\(action) should be refused by \(side)")
                #expect(uniqueID == "id-1")
                #expect(request.action == action)
                #expect(try TestJSON.parse(request.payload.encoded()) == payload)
            case .success(let other):
                Issue.record("not decoded as a CALL: \(other)")
            case .failure(let error):
                #expect(!accepts, "\(action) refused by \(side): \(error)")
                #expect(error.error.code == .notSupported)
                #expect(error.uniqueID == "id-1")
            }
        }
        try check(ChargePointRequest.self, accepts: action.isSentByChargePoint)
        try check(CentralSystemRequest.self, accepts: action.isSentByCentralSystem)
    }
}
