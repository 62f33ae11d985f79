import Protocol
import Testing

@Suite("Call correlator")
struct CallCorrelatorTests {
    func uniqueID(of actions: [OCPPCallCorrelator.Action]) -> String? {
        for action in actions {
            if case .send(let uniqueID, _, _) = action { return uniqueID }
        }
        return nil
    }

    func payload(_ json: String) -> OCPPRawPayload {
        OCPPRawPayload(bytes: Array(json.utf8))
    }

    @Test("One call at a time: the second waits for the first's answer")
    func oneOutstanding() throws {
        var correlator = OCPPCallCorrelator(timeout: .seconds(5))
        let (first, sendFirst) = try correlator.enqueue(ResetRequest(type: .soft))
        let firstID = try #require(uniqueID(of: sendFirst))
        guard case .send(_, let frame, let timeout) = sendFirst[0] else {
            Issue.record("not sent")
            return
        }
        #expect(String(decoding: frame, as: UTF8.self) == #"[2,"\#(firstID)","Reset",{"type":"Soft"}]"#)
        #expect(timeout == .seconds(5))

        let (second, sendSecond) = try correlator.enqueue(ClearCacheRequest())
        #expect(sendSecond.isEmpty)
        #expect(correlator.waitingCount == 1)

        let answered = correlator.receivedResult(uniqueID: firstID, payload: payload(#"{"status":"Accepted"}"#))
        #expect(answered.first == .succeed(first, action: .reset, payload: payload(#"{"status":"Accepted"}"#)))
        let secondID = try #require(uniqueID(of: answered))
        #expect(secondID != firstID)
        #expect(correlator.outstandingUniqueID == secondID)

        let error = OCPPCallError(
            uniqueID: secondID,
            errorCode: "NotSupported",
            errorDescription: "no",
            errorDetails: []
        )
        let failed = correlator.receivedError(error)
        #expect(failed == [.fail(second, action: .clearCache, .callError(error))])
        #expect(correlator.outstandingUniqueID == nil)
    }

    @Test("Answers that match no outstanding call are discarded, and a stale timer does nothing")
    func unmatched() throws {
        var correlator = OCPPCallCorrelator()
        let (call, sent) = try correlator.enqueue(ClearCacheRequest())
        let id = try #require(uniqueID(of: sent))
        #expect(correlator.receivedResult(uniqueID: "made-up", payload: payload("{}")).count == 1)
        if case .discard(let discarded, _) = correlator.receivedResult(uniqueID: "made-up", payload: payload("{}"))[0] {
            #expect(discarded == "made-up")
        } else {
            Issue.record("not discarded")
        }
        #expect(correlator.timedOut(uniqueID: id) == [.fail(call, action: .clearCache, .timedOut)])
        // The late answer of a timed-out call matches nothing any more.
        let late = correlator.receivedResult(uniqueID: id, payload: payload(#"{"status":"Accepted"}"#))
        #expect(late.count == 1)
        if case .discard = late[0] {} else { Issue.record("late answer not discarded") }
        #expect(correlator.timedOut(uniqueID: id).isEmpty)
    }

    @Test("A timeout fails the call and sends the next; closing fails everything")
    func timeoutAndClose() throws {
        var correlator = OCPPCallCorrelator()
        let (first, sent) = try correlator.enqueue(GetLocalListVersionRequest())
        let (second, _) = try correlator.enqueue(ClearCacheRequest())
        let (third, _) = try correlator.enqueue(ResetRequest(type: .hard))
        let afterTimeout = correlator.timedOut(uniqueID: try #require(uniqueID(of: sent)))
        #expect(afterTimeout.first == .fail(first, action: .getLocalListVersion, .timedOut))
        #expect(uniqueID(of: afterTimeout) != nil)
        #expect(
            correlator.closed() == [
                .fail(second, action: .clearCache, .connectionClosed), .fail(third, action: .reset, .connectionClosed),
            ]
        )
        #expect(correlator.waitingCount == 0)
        #expect(correlator.outstandingUniqueID == nil)
    }

    @Test("The queue is bounded; unique ids are unique and within OCPP's 36 characters")
    func limits() throws {
        var correlator = OCPPCallCorrelator(queueLimit: 3, uniqueIDPrefix: "0123456789abcdef")
        var ids: Set<String> = []
        let (_, sent) = try correlator.enqueue(ClearCacheRequest())
        ids.insert(try #require(uniqueID(of: sent)))
        for _ in 0..<3 { _ = try correlator.enqueue(ClearCacheRequest()) }
        #expect(throws: OCPPCallCorrelator.QueueFull.self) { try correlator.enqueue(ClearCacheRequest()) }
        for _ in 0..<1_000 {
            let current = try #require(correlator.outstandingUniqueID)
            let actions = correlator.receivedResult(uniqueID: current, payload: payload(#"{"status":"Accepted"}"#))
            if let next = uniqueID(of: actions) {
                #expect(!ids.contains(next))
                ids.insert(next)
                #expect(next.utf8.count <= 36)
            }
            _ = try correlator.enqueue(ClearCacheRequest())
        }
        #expect(ids.count > 1_000)
    }
}
