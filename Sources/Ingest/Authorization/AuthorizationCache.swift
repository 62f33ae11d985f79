import Foundation
import Relational
import Synchronization

/// Authorize answers by id tag, cached for a while; REST writes to RFID cards invalidate
/// entries at once, so a blocked card is refused at the next Authorize.
public final class AuthorizationCache: Sendable {
    private struct Entry {
        var authorization: IDTagAuthorization?
        var expires: ContinuousClock.Instant
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Bumped by every invalidation: a lookup that started before one does not store its
        /// (possibly stale) answer.
        var generation: UInt64 = 0
    }

    private let state = Mutex(State())
    private let lifetime: Duration
    private let store: RelationalStore
    /// The most entries kept; beyond it the cache starts over (a crude but bounded policy).
    static let capacity = 100_000

    init(store: RelationalStore, lifetime: Duration) {
        self.store = store
        self.lifetime = lifetime
    }

    /// The cached answer for `idTag`, if fresh. The outer optional says whether there is one.
    func cached(_ idTag: String) -> IDTagAuthorization?? {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard let entry = state.entries[idTag], entry.expires > now else { return nil }
            return .some(entry.authorization)
        }
    }

    /// The answer for `idTag`: from the cache, or from the database (then cached).
    /// - Throws: The relational store's error when the database cannot answer.
    func authorization(_ idTag: String) async throws -> IDTagAuthorization? {
        if let cached = cached(idTag) { return cached }
        let started = state.withLock { $0.generation }
        let authorization = try await store.authorization(idTag: idTag)
        let expires = ContinuousClock.now + lifetime
        state.withLock { state in
            guard state.generation == started else { return }
            if state.entries.count >= Self.capacity { state.entries.removeAll(keepingCapacity: true) }
            state.entries[idTag] = Entry(authorization: authorization, expires: expires)
        }
        return authorization
    }

    /// Forgets the answer for `idTag` (after a REST write to its card).
    public func invalidate(idTag: String) {
        state.withLock { state in
            state.generation &+= 1
            state.entries.removeValue(forKey: idTag)
        }
    }

    /// Forgets every answer.
    public func invalidateAll() {
        state.withLock { state in
            state.generation &+= 1
            state.entries.removeAll()
        }
    }
}
