import CThreadControl

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A thread of the store's own: the writer, the flusher and closing block in file I/O and
/// `fdatasync`, so they never run on a pool's or the concurrency runtime's threads.
struct StoreThread: Sendable {
    private let handle: pthread_t

    /// How the thread is scheduled beside the event loops.
    enum Priority: Sendable {
        /// As the process's other threads: a thread answers wait for (the writer).
        case normal
        /// Below them (nice 19): bulk work that answers do not wait for (flushing memtables,
        /// maintenance) yields a shared core to the event loops. (It paces itself too, see
        /// `BackgroundPacer`: priority alone leaves it a core of its own.)
        case background
    }

    /// Starts `body` on a new thread named `name` (at most 15 bytes show in `top -H` and
    /// `perf`), scheduled at `priority`.
    init(name: String = "ocpp-ts", priority: Priority = .normal, _ body: @escaping @Sendable () -> Void) {
        let start = Unmanaged.passRetained(
            Body {
                Self.configureCurrentThread(name: name, priority: priority)
                body()
            }
        )
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

    private static func configureCurrentThread(name: String, priority: Priority) {
        ocpp_thread_set_name(name)
        if case .background = priority { _ = ocpp_thread_set_nice(19) }
    }

    private final class Body {
        let run: @Sendable () -> Void

        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }
}
