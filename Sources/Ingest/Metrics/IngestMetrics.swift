import CoreMetrics
import Metrics
import Protocol
import Synchronization

/// The ingest front end's metrics (swift-metrics; the server exports them for Prometheus at
/// `/metrics`). Handles are created once: the hot path only increments.
final class IngestMetrics: Sendable {
    let connectedChargers: Meter
    let connectionsOpened: Counter
    let connectionsRefused: Counter
    let queueDepth: Recorder
    let batchItems: Recorder
    let batchRows: Recorder
    let writeLatency: Timer
    let writeFailures: Counter
    let backpressurePauses: Counter
    let relationalFlushFailures: Counter
    let relationalRowsRefused: Counter
    /// Binary WebSocket messages holding OCPP-J text, handled as text messages are.
    let binaryMessages: Counter
    private let factory: any MetricsFactory
    private let messages: [OCPPAction: Counter]
    private let errors = Mutex<[String: Counter]>([:])
    private let calls = Mutex<[String: Counter]>([:])
    private let authenticationFailures = Mutex<[String: Counter]>([:])
    private let refusals: [RequestLimit: Counter]

    /// - Parameter factory: Where the metrics go: the process's metrics system, or a test's.
    init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        connectedChargers = Meter(label: "ocpp_connected_chargers", factory: factory)
        connectionsOpened = Counter(label: "ocpp_connections_total", factory: factory)
        connectionsRefused = Counter(label: "ocpp_connections_refused_total", factory: factory)
        queueDepth = Recorder(label: "ocpp_ingest_queue_depth", aggregate: false, factory: factory)
        batchItems = Recorder(label: "ocpp_ingest_batch_messages", factory: factory)
        batchRows = Recorder(label: "ocpp_ingest_batch_rows", factory: factory)
        writeLatency = Timer(label: "ocpp_ingest_write_seconds", factory: factory)
        writeFailures = Counter(label: "ocpp_ingest_write_failures_total", factory: factory)
        backpressurePauses = Counter(label: "ocpp_ingest_backpressure_pauses_total", factory: factory)
        relationalFlushFailures = Counter(label: "ocpp_relational_flush_failures_total", factory: factory)
        relationalRowsRefused = Counter(label: "ocpp_relational_rows_refused_total", factory: factory)
        binaryMessages = Counter(label: "ocpp_binary_messages_total", factory: factory)
        var messages: [OCPPAction: Counter] = [:]
        for action in OCPPAction.allCases where action.isSentByChargePoint {
            messages[action] = Counter(
                label: "ocpp_messages_total",
                dimensions: [("action", action.rawValue)],
                factory: factory
            )
        }
        self.messages = messages
        var refusals: [RequestLimit: Counter] = [:]
        for limit in RequestLimit.allCases {
            refusals[limit] = Counter(
                label: "ocpp_requests_refused_total",
                dimensions: [("reason", limit.rawValue)],
                factory: factory
            )
        }
        self.refusals = refusals
    }

    /// Counts one request refused by a limit (answered with a CALLERROR, nothing stored).
    func refused(by limit: RequestLimit) {
        refusals[limit]?.increment()
    }

    /// Counts one CALL received from a charger.
    func received(_ action: OCPPAction) {
        messages[action]?.increment()
    }

    /// Counts one CALLERROR sent to a charger.
    func sentCallError(_ code: OCPPErrorCode) {
        counter(in: errors, label: "ocpp_callerrors_total", dimension: ("code", code.rawValue)).increment()
    }

    /// Counts one call to a charger by its outcome (`confirmed`, `callerror`, `timeout`, `closed`, `refused`).
    func call(outcome: String) {
        counter(in: calls, label: "ocpp_calls_to_chargers_total", dimension: ("outcome", outcome)).increment()
    }

    /// Counts one charger refused at the upgrade by its authentication (a fixed reason word,
    /// see ``ChargerAuthentication``).
    func authenticationFailed(reason: String) {
        counter(
            in: authenticationFailures,
            label: "ocpp_charger_auth_failures_total",
            dimension: ("reason", reason)
        ).increment()
    }

    private func counter(
        in box: borrowing Mutex<[String: Counter]>,
        label: String,
        dimension: (String, String)
    ) -> Counter {
        box.withLock { counters in
            if let counter = counters[dimension.1] { return counter }
            let counter = Counter(label: label, dimensions: [dimension], factory: factory)
            counters[dimension.1] = counter
            return counter
        }
    }
}
