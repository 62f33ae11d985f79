public import ServiceLifecycle

/// The store as a long-lived part of the server: it runs until the service group shuts
/// down, then closes.
extension TimeSeriesStore: Service {
    /// Waits for graceful shutdown (or cancellation), then closes the store as ``close()``
    /// does, on a thread of its own.
    public func run() async throws {
        // Cancellation ends the wait as shutdown does: either way the store closes.
        try? await gracefulShutdown()
        await shutDown()
    }

    /// Closes the store as ``close()`` does, without blocking a thread of the concurrency
    /// runtime: the threads are joined and the log synced on a thread of the store's own.
    public func shutDown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            StoreThread {
                self.close()
                continuation.resume()
            }.detach()
        }
    }
}
