import Protocol
import TimeSeries

/// The limits that keep a bad charger from shaping the store (beyond ``RequestBounds``,
/// which refuses what cannot be stored at all): a request past one is refused with a
/// CALLERROR, counted in `ocpp_requests_refused_total{reason}`, and nothing of it is stored
/// or acknowledged.
enum RequestLimit: String, Sendable, Hashable, CaseIterable {
    /// A connectorId above `IngestConfiguration.maximumConnectorID`.
    case connectorLimit = "connector_limit"
    /// Rows that would give the charger more series than `OCPP_MAX_SERIES_PER_CHARGER`
    /// (the time-series store decides, see ``SeriesLimitExceeded``).
    case seriesLimit = "series_limit"

    /// The CALLERROR code of a refusal.
    ///
    /// A connector id above the limit is a value outside its allowed range:
    /// PropertyConstraintViolation, as for any other out-of-range value. The series limit
    /// is OccurenceConstraintViolation: every value of the message is valid on its own, and
    /// what is exceeded is a count (how many distinct series occur for the charger), the
    /// kind of constraint that code stands for; it also keeps the two refusals apart in
    /// `ocpp_callerrors_total`.
    var errorCode: OCPPErrorCode {
        switch self {
        case .connectorLimit: return .propertyConstraintViolation
        case .seriesLimit: return .occurenceConstraintViolation
        }
    }

    /// Why `request` is refused by the connector limit: a description naming the field, or
    /// `nil` when its connector id (if any) is within it.
    static func connectorViolation(_ request: ChargePointRequest, maximumConnectorID: Int) -> String? {
        let connectorID: Int
        switch request {
        case .statusNotification(let status): connectorID = status.connectorId
        case .meterValues(let meterValues): connectorID = meterValues.connectorId
        case .startTransaction(let start): connectorID = start.connectorId
        default: return nil
        }
        guard connectorID > maximumConnectorID else { return nil }
        return "\(request.action.rawValue) connectorId: \(connectorID) is above the highest connector id this "
            + "central system accepts (\(maximumConnectorID)); nothing of the message is stored"
    }
}
