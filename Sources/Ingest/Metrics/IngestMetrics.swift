import CoreMetrics
import Metrics
import NIOConcurrencyHelpers
import Protocol

/// The ingest front end's metrics (swift-metrics; the server exports them for Prometheus at
/// `/metrics`). Handles are created once: the hot path only increments.
final class IngestMetrics: Sendable {
    let connectedChargers = Meter(label: "ocpp_connected_chargers")
    let connectionsOpened = Counter(label: "ocpp_connections_total")
    let connectionsRefused = Counter(label: "ocpp_connections_refused_total")
    let queueDepth = Recorder(label: "ocpp_ingest_queue_depth", aggregate: false)
    let batchItems = Recorder(label: "ocpp_ingest_batch_messages")
    let batchRows = Recorder(label: "ocpp_ingest_batch_rows")
    let writeLatency = Timer(label: "ocpp_ingest_write_seconds")
    let writeFailures = Counter(label: "ocpp_ingest_write_failures_total")
    let backpressurePauses = Counter(label: "ocpp_ingest_backpressure_pauses_total")
    let relationalFlushFailures = Counter(label: "ocpp_relational_flush_failures_total")
    let relationalRowsRefused = Counter(label: "ocpp_relational_rows_refused_total")
    private let messages: [OCPPAction: Counter]
    private let errors = NIOLockedValueBox<[String: Counter]>([:])
    private let calls = NIOLockedValueBox<[String: Counter]>([:])

    init() {
        var messages: [OCPPAction: Counter] = [:]
        for action in OCPPAction.allCases where action.isSentByChargePoint {
            messages[action] = Counter(label: "ocpp_messages_total", dimensions: [("action", action.rawValue)])
        }
        self.messages = messages
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

    private func counter(
        in box: NIOLockedValueBox<[String: Counter]>,
        label: String,
        dimension: (String, String)
    ) -> Counter {
        box.withLockedValue { counters in
            if let counter = counters[dimension.1] { return counter }
            let counter = Counter(label: label, dimensions: [dimension])
            counters[dimension.1] = counter
            return counter
        }
    }
}
