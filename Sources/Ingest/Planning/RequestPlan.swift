import Foundation
import Protocol
import Relational
import TimeSeries

/// What a charger's request does, as ``RequestPlanner`` decides it: either everything is
/// decided, or the database must be asked first.
///
/// Both the WebSocket handler and the HTTP relay execute a plan the same way, in this
/// order: the database steps (each outcome goes back to the planner), then the rows are made
/// durable in the time-series store, then the relational effects are handed to the
/// coalescer, and then the answer is sent. The coalesced effects are current state, not
/// history: when the durable write fails (or the store refuses the rows for a series limit)
/// the charger is answered with a CALLERROR and nothing of the message changes; a retry
/// applies them (the latest timestamp wins).
enum RequestPlan: Sendable {
    /// Nothing more to ask: answer, rows and effects.
    case decided(PlannedResult)
    /// The database must do this first; its outcome goes to
    /// ``RequestPlanner/advance(_:after:chargePointID:now:configuration:)``.
    case database(DatabaseStep)
}

/// A decided request.
struct PlannedResult: Sendable {
    /// What the charger is answered, once the rows are durable.
    var answer: PlannedAnswer
    /// What must be durable before the answer (never any with an error answer).
    var rows: PlannedRows = .none
    /// The coalesced relational updates, applied before the rows are handed to the writer.
    var effects: [RelationalEffect] = []
    /// A call the server sends the charger once the answer is written.
    var followUp: FollowUpCall?
    /// Why the request was refused, for the log (the charger's answer cannot say).
    var refusalReason: String?
    /// The limit that refused it, counted in `ocpp_requests_refused_total`.
    var limit: RequestLimit?
}

/// A call to the charger that follows the answer to its request.
enum FollowUpCall: Sendable {
    /// The signed certificate chain, after SignCertificate was answered Accepted.
    case certificateSigned(CertificateSignedRequest)

    /// The answer instead of the planned one when there is no connection to send the call
    /// over (a message relayed over HTTP from a charger not connected here).
    var answerWithoutConnection: any OCPPPayload {
        switch self {
        case .certificateSigned: return SignCertificateResponse(status: .rejected)
        }
    }
}

/// The answer to a request.
enum PlannedAnswer: Sendable {
    /// A CALLRESULT with this payload; `isEmpty` when it encodes as `{}`.
    case result(any OCPPPayload, isEmpty: Bool)
    /// A CALLERROR.
    case error(OCPPErrorCode, description: String)
}

/// The time-series rows a request leaves.
enum PlannedRows: Sendable {
    case none
    case rows([EventRow])
    /// The rows of a MeterValues request: ``EventRows`` builds them with the executor's series
    /// cache (the WebSocket keeps one per connection; the rows are the same either way).
    case meterValues(MeterValuesRequest)
}

/// A relational update that goes through the coalescer (no acknowledgement waits for it).
enum RelationalEffect: Sendable, Hashable {
    /// A connector's current status.
    case connectorStatus(ConnectorStatusUpdate)
    /// A charger's last-seen time.
    case seen(chargePointID: String, at: Date)
}

/// Database work a plan needs before it can be decided.
enum DatabaseStep: Sendable, Hashable {
    /// Register the unknown charger with this status (one registered meanwhile keeps its own)
    /// and read back its status.
    case register(RegistrationStatus)
    /// Record the boot: update a known charger, register or leave out an unknown one.
    case boot(BootNotificationRequest, unknownCharger: UnknownChargerRule)
    /// Look up the id tag (through the authorization cache).
    case authorize(idTag: String)
    /// Look up the id tag and start (or find the identical) session.
    case startTransaction(StartTransactionRequest, unknownCharger: UnknownChargerRule)
    /// Stop the session (or record the unmatched stop) and look up the id tag, if any.
    case stopTransaction(StopTransactionRequest, unknownCharger: UnknownChargerRule)
    /// Not the database's: sign the charger's certificate request with the charger CA. An RSA
    /// key takes milliseconds of CPU, so it runs off the event loop like the database's steps
    /// (a fleet renewing its certificates together would otherwise stall its connections).
    case signCertificate(csr: String)
}

/// What the database answered a ``DatabaseStep``.
enum DatabaseOutcome: Sendable, Hashable {
    /// The charger's registration, as stored now.
    case registered(ChargerKnowledge)
    /// The charger's registration status after its boot; `nil`: unknown and not registered.
    case booted(RegistrationStatus?)
    /// The id tag's card, if there is one.
    case authorized(IDTagAuthorization?)
    /// The session's transactionId and the id tag's card.
    case started(transactionID: Int, IDTagAuthorization?)
    /// The stopped session's connector (0 for an unmatched stop) and the id tag's card.
    case stopped(connectorID: Int, IDTagAuthorization?)
    /// The chain the charger CA signed.
    case signed([String])
    /// The charger CA refused the certificate request, for this reason (for the log).
    case signingRefused(String)
    /// The charger is not registered and the policy keeps it so.
    case notRegistered
    /// The database refuses a value the request carries (an empty idTag, a NUL character, a
    /// negative connector id): retrying cannot help.
    case unstorable(String)
    /// The database failed; the charger should retry.
    case unavailable
}
