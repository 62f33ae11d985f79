#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A thread of the store's own: the writer, the flusher and closing block in file I/O and
/// `fdatasync`, so they never run on a pool's or the concurrency runtime's threads.
struct StoreThread: Sendable {
    private let handle: pthread_t

    /// Starts `body` on a new thread.
    init(_ body: @escaping @Sendable () -> Void) {
        let start = Unmanaged.passRetained(Body(body))
        var thread = pthread_t()
        let created = pthread_create(
            &thread,
            nil,
            { argument in
                Unmanaged<Body>.fromOpaque(argument!).takeRetainedValue().run()
                return nil
            },
            start.toOpaque()
        )
        precondition(created == 0, "cannot start a time-series thread")
        handle = thread
    }

    /// Waits until the thread has finished.
    func join() {
        pthread_join(handle, nil)
    }

    /// Lets the thread's resources go when it finishes, for a thread no one joins.
    func detach() {
        pthread_detach(handle)
    }

    private final class Body {
        let run: @Sendable () -> Void

        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }
}
