import Protocol

/// The integers of a charger's request that the central system stores, checked against what
/// it stores and the API documents: OCPP 1.6 integers are 32 bits, and connector ids are 0
/// or more. The OCPP schemas bound neither, so a value outside is refused where it enters
/// (a CALLERROR PropertyConstraintViolation; 422 from `/db/ocpp/*`) instead of being stored.
enum RequestBounds {
    /// The connector ids a charger may send.
    static let connectorIDs = 0...Int(Int32.max)
    /// Any other integer of a charger's request.
    static let integers = Int(Int32.min)...Int(Int32.max)

    /// Why `request` cannot be stored: the first field outside its bounds; nil when it has none.
    static func violation(_ request: ChargePointRequest) -> String? {
        switch request {
        case .statusNotification(let status):
            return check("connectorId", status.connectorId, connectorIDs)
        case .startTransaction(let start):
            return check("connectorId", start.connectorId, connectorIDs)
                ?? check("meterStart", start.meterStart, integers)
                ?? start.reservationId.flatMap { check("reservationId", $0, integers) }
        case .stopTransaction(let stop):
            return check("transactionId", stop.transactionId, integers) ?? check("meterStop", stop.meterStop, integers)
        case .meterValues(let meterValues):
            return check("connectorId", meterValues.connectorId, connectorIDs)
                ?? meterValues.transactionId.flatMap { check("transactionId", $0, integers) }
        default:
            return nil
        }
    }

    private static func check(_ field: String, _ value: Int, _ bounds: ClosedRange<Int>) -> String? {
        bounds.contains(value)
            ? nil : "\(field): must be in \(bounds.lowerBound)...\(bounds.upperBound), got \(value)"
    }
}
