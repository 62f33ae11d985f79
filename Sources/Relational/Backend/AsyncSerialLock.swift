import Synchronization

/// Lets one task at a time into a critical section that awaits (a `Mutex` cannot be held
/// across an `await`). Waiters are served in arrival order; a task that waits is suspended
/// on a continuation, never blocking a thread.
final class AsyncSerialLock: Sendable {
    fileprivate struct State {
        var isHeld = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func acquire() async {
        if state.withLock({ $0.take() }) { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { state in
                if state.take() { return true }
                state.waiters.append(continuation)
                return false
            }
            if acquired { continuation.resume() }
        }
    }

    /// Hands the lock to the longest waiter, or frees it.
    func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiters.isEmpty else {
                state.isHeld = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }

    /// Runs `body` while holding the lock.
    func withLock<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
        await acquire()
        defer { release() }
        return try await body()
    }
}

extension AsyncSerialLock.State {
    /// Takes the lock if it is free.
    fileprivate mutating func take() -> Bool {
        guard !isHeld else { return false }
        isHeld = true
        return true
    }
}
