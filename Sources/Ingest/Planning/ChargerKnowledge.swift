import Protocol
import Relational

/// What the server knows of a charger when one of its requests arrives. The WebSocket keeps
/// it in the connection's session (read from the database at connect, refreshed when the
/// charger boots or is registered by its first message); the HTTP relay reads the database
/// for every message. Either way the same function decides what it means:
/// ``RequestPlanner/admission(_:policy:)``.
enum ChargerKnowledge: Sendable, Hashable {
    /// The database does not know it (or could not be asked).
    case unknown
    /// Registered, with this status.
    case registered(RegistrationStatus)

    /// The knowledge a stored registration status (`nil`: none) amounts to.
    init(registrationStatus: String?) {
        guard let registrationStatus else {
            self = .unknown
            return
        }
        // The schema allows only the three statuses; anything else is not Accepted.
        self = .registered(RegistrationStatus(rawValue: registrationStatus) ?? .pending)
    }
}

/// Whether a charger may send a request other than BootNotification.
enum Admission: Sendable, Hashable {
    /// Go on.
    case admitted
    /// Unknown, and the policy admits it: register it with this status first, then plan again.
    case registerFirst(RegistrationStatus)
    /// Refused (SecurityError): it is Rejected, or unknown under `reject`.
    case refused
}

extension UnknownChargerPolicy {
    /// The status an unknown charger is registered with (`accept`: Accepted, `pending`:
    /// Pending), or `nil` when it is refused (`reject`). The policy's one meaning: the
    /// admission below and the relational writes both follow it.
    var registrationStatus: RegistrationStatus? {
        switch self {
        case .accept: return .accepted
        case .pending: return .pending
        case .reject: return nil
        }
    }

    /// What a write does with a charger the database does not know.
    var unknownChargerRule: UnknownChargerRule {
        registrationStatus.map { .register(status: $0.rawValue) } ?? .refuse
    }
}

extension RequestPlanner {
    /// The one place where the unknown-charger policy and a charger's registration status
    /// decide whether it may send anything but BootNotification: a Rejected charger may not,
    /// an unknown one is registered first with the status the policy gives it (`accept`:
    /// Accepted, `pending`: Pending) or refused (`reject`); Pending and Accepted ones may.
    static func admission(_ knowledge: ChargerKnowledge, policy: UnknownChargerPolicy) -> Admission {
        switch knowledge {
        case .registered(.rejected):
            return .refused
        case .registered:
            return .admitted
        case .unknown:
            return policy.registrationStatus.map { .registerFirst($0) } ?? .refused
        }
    }
}
