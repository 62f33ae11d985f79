/// The Central System's side of the calls it makes to one Charge Point, as a pure state
/// machine: OCPP-J allows one outstanding CALL per connection, so calls queue; each answer
/// (CALLRESULT or CALLERROR) is matched to the outstanding call by unique id; timeouts and the
/// connection closing are inputs. It performs no I/O: every input returns the actions for the
/// connection handler to carry out (write a frame, start a timer, answer a waiting caller).
public struct OCPPCallCorrelator: Sendable {
    /// The caller's handle on one call.
    public struct CallID: Sendable, Hashable, CustomStringConvertible {
        let value: UInt64
        public var description: String { "call-\(value)" }
    }

    /// Why a call got no confirmation.
    public enum CallFailure: Error, Sendable, Hashable {
        /// The Charge Point answered with a CALLERROR.
        case callError(OCPPCallError)
        /// No answer within the timeout.
        case timedOut
        /// The connection closed before the answer.
        case connectionClosed
    }

    /// What the connection handler must do.
    public enum Action: Sendable, Hashable {
        /// Write `frame` (a CALL) and start a timer that reports ``OCPPCallCorrelator/timedOut(uniqueID:)`` after `timeout`.
        case send(uniqueID: String, frame: [UInt8], timeout: Duration)
        /// The call got its confirmation: decode `payload` as `action`'s response type.
        case succeed(CallID, action: OCPPAction, payload: OCPPRawPayload)
        /// The call failed.
        case fail(CallID, action: OCPPAction, CallFailure)
        /// An answer matched no outstanding call (late, duplicate or made up): log it.
        case discard(uniqueID: String, reason: String)
    }

    /// A call refused before it was queued.
    public struct QueueFull: Error, Sendable, Hashable, CustomStringConvertible {
        public let limit: Int
        public var description: String { "\(limit) calls are already waiting for this charge point" }
    }

    private struct Call: Sendable {
        let id: CallID
        let uniqueID: String
        let action: OCPPAction
        let frame: [UInt8]
    }

    private var outstanding: Call?
    private var waiting: [Call] = []
    private var waitingStart = 0
    private var nextCall: UInt64 = 1
    private let uniqueIDPrefix: String
    /// How long the Charge Point has to answer a call.
    public let timeout: Duration
    /// How many calls may wait behind the outstanding one.
    public let queueLimit: Int

    /// - Parameters:
    ///   - timeout: How long the Charge Point has to answer each call.
    ///   - queueLimit: How many calls may wait behind the outstanding one.
    ///   - uniqueIDPrefix: Starts every unique id (at most 16 characters), so ids stay unique
    ///     across connections when it names the connection.
    public init(timeout: Duration = .seconds(30), queueLimit: Int = 64, uniqueIDPrefix: String = "cs") {
        precondition(uniqueIDPrefix.utf8.count <= 16, "unique id prefix too long for OCPP's 36 characters")
        self.timeout = timeout
        self.queueLimit = queueLimit
        self.uniqueIDPrefix = uniqueIDPrefix
    }

    /// The unique id of the call on the wire, if one is.
    public var outstandingUniqueID: String? { outstanding?.uniqueID }

    /// Calls waiting behind the outstanding one.
    public var waitingCount: Int { waiting.count - waitingStart }

    /// Queues a call: sent at once when none is outstanding, otherwise after those before it.
    /// - Returns: The call's handle and the actions to carry out.
    /// - Throws: ``QueueFull`` when `queueLimit` calls already wait.
    public mutating func enqueue<Request: OCPPRequest>(_ request: Request) throws(QueueFull) -> (CallID, [Action]) {
        if outstanding != nil && waitingCount >= queueLimit { throw QueueFull(limit: queueLimit) }
        let id = CallID(value: nextCall)
        let uniqueID = "\(uniqueIDPrefix)-\(nextCall)"
        nextCall += 1
        let call = Call(
            id: id,
            uniqueID: uniqueID,
            action: Request.action,
            frame: OCPPFrameEncoder.call(uniqueID: uniqueID, request: request)
        )
        guard outstanding == nil else {
            waiting.append(call)
            return (id, [])
        }
        outstanding = call
        return (id, [.send(uniqueID: uniqueID, frame: call.frame, timeout: timeout)])
    }

    /// A CALLRESULT arrived.
    public mutating func receivedResult(uniqueID: String, payload: OCPPRawPayload) -> [Action] {
        guard let call = outstanding, call.uniqueID == uniqueID else {
            return [.discard(uniqueID: uniqueID, reason: "CALLRESULT for no outstanding call")]
        }
        return [.succeed(call.id, action: call.action, payload: payload)] + sendNext()
    }

    /// A CALLERROR arrived.
    public mutating func receivedError(_ error: OCPPCallError) -> [Action] {
        guard let call = outstanding, call.uniqueID == error.uniqueID else {
            return [.discard(uniqueID: error.uniqueID, reason: "CALLERROR for no outstanding call")]
        }
        return [.fail(call.id, action: call.action, .callError(error))] + sendNext()
    }

    /// The timer of a sent call fired.
    public mutating func timedOut(uniqueID: String) -> [Action] {
        // A timer of a call already answered is stale: nothing to do.
        guard let call = outstanding, call.uniqueID == uniqueID else { return [] }
        return [.fail(call.id, action: call.action, .timedOut)] + sendNext()
    }

    /// The connection closed: every call fails.
    public mutating func closed() -> [Action] {
        var actions: [Action] = []
        if let call = outstanding {
            actions.append(.fail(call.id, action: call.action, .connectionClosed))
        }
        for call in waiting[waitingStart...] {
            actions.append(.fail(call.id, action: call.action, .connectionClosed))
        }
        outstanding = nil
        waiting = []
        waitingStart = 0
        return actions
    }

    private mutating func sendNext() -> [Action] {
        outstanding = nil
        guard waitingStart < waiting.count else { return [] }
        let call = waiting[waitingStart]
        waitingStart += 1
        if waitingStart > 32 && waitingStart * 2 > waiting.count {
            waiting.removeFirst(waitingStart)
            waitingStart = 0
        }
        outstanding = call
        return [.send(uniqueID: call.uniqueID, frame: call.frame, timeout: timeout)]
    }
}
