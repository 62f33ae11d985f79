import Atomics
public import Dispatch

/// A bounded, lock-free, multi-producer single-consumer queue between the event loops and
/// one writer thread.
///
/// Producers claim a slot with one compare-and-swap on the tail (Dmitry Vyukov's bounded
/// queue: each slot carries a sequence number saying whose turn it is), so no producer ever
/// waits for a lock. A full queue refuses the element instead of growing: the producer
/// turns its channel's reading off and registers for ``notifyWhenRoom(_:)``.
///
/// The consumer parks on a semaphore when the queue is empty; a producer wakes it only when
/// it is parked (one atomic load per push otherwise).
@_spi(Benchmarks) public final class IngestQueue<Element>: @unchecked Sendable {
    /// The number of slots.
    @_spi(Benchmarks) public let capacity: Int
    private let mask: Int
    private let sequences: UnsafeMutablePointer<UnsafeAtomic<Int>.Storage>
    private let slots: UnsafeMutablePointer<Element?>
    private let tail = ManagedAtomic<Int>(0)
    /// Only the consumer touches the head.
    private var head = 0
    private let consumerParked = ManagedAtomic<Bool>(false)
    private let wakeUp = DispatchSemaphore(value: 0)
    private let roomWaiters = RoomWaiters()

    /// - Parameter capacity: The number of slots, rounded up to a power of two (at least 2).
    @_spi(Benchmarks) public init(capacity: Int) {
        var size = 2
        while size < capacity { size <<= 1 }
        self.capacity = size
        mask = size - 1
        sequences = .allocate(capacity: size)
        slots = .allocate(capacity: size)
        for index in 0..<size {
            (sequences + index).initialize(to: UnsafeAtomic<Int>.Storage(index))
            (slots + index).initialize(to: nil)
        }
    }

    deinit {
        // The storages live in one allocation: deinitialize them together (an
        // `UnsafeAtomic.destroy()` would free each one's address).
        sequences.deinitialize(count: capacity)
        sequences.deallocate()
        slots.deinitialize(count: capacity)
        slots.deallocate()
    }

    private func sequence(_ index: Int) -> UnsafeAtomic<Int> {
        UnsafeAtomic<Int>(at: sequences + index)
    }

    /// Adds an element unless the queue is full.
    /// - Returns: `false` when the queue is full (the element is not taken).
    @_spi(Benchmarks) public func push(_ element: Element) -> Bool {
        var position = tail.load(ordering: .relaxed)
        while true {
            let index = position & mask
            let difference = sequence(index).load(ordering: .acquiring) - position
            if difference == 0 {
                let (exchanged, original) = tail.weakCompareExchange(
                    expected: position,
                    desired: position + 1,
                    ordering: .relaxed
                )
                if exchanged {
                    slots[index] = element
                    sequence(index).store(position + 1, ordering: .releasing)
                    break
                }
                position = original
            } else if difference < 0 {
                return false
            } else {
                position = tail.load(ordering: .relaxed)
            }
        }
        // The store above and the load below must not be reordered (a store-load pair):
        // otherwise a consumer that just parked could miss this element.
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        if consumerParked.load(ordering: .relaxed),
            consumerParked.compareExchange(expected: true, desired: false, ordering: .sequentiallyConsistent)
                .exchanged
        {
            wakeUp.signal()
        }
        return true
    }

    /// Takes the oldest element, if any (consumer only).
    @_spi(Benchmarks) public func pop() -> Element? {
        let index = head & mask
        guard sequence(index).load(ordering: .acquiring) == head + 1 else { return nil }
        let element = slots[index].take()
        sequence(index).store(head + capacity, ordering: .releasing)
        head += 1
        return element
    }

    /// Moves up to `limit` queued elements into `buffer` (consumer only).
    /// - Returns: How many were moved.
    @discardableResult
    @_spi(Benchmarks) public func drain(into buffer: inout [Element], limit: Int) -> Int {
        var moved = 0
        while moved < limit, let element = pop() {
            buffer.append(element)
            moved += 1
        }
        return moved
    }

    /// Whether an element is ready for the consumer (consumer only).
    var hasElement: Bool {
        sequence(head & mask).load(ordering: .acquiring) == head + 1
    }

    /// The number of elements queued, approximately (for metrics).
    var approximateCount: Int {
        max(0, tail.load(ordering: .relaxed) - head)
    }

    /// Parks the consumer until a producer pushes, or `timeout` passes (consumer only).
    @_spi(Benchmarks) public func waitForElement(timeout: DispatchTime) {
        consumerParked.store(true, ordering: .sequentiallyConsistent)
        if hasElement {
            // A producer may have seen the flag already and will signal: take that signal
            // so the semaphore does not carry a stale wake-up.
            if !consumerParked.compareExchange(expected: true, desired: false, ordering: .sequentiallyConsistent)
                .exchanged
            {
                wakeUp.wait()
            }
            return
        }
        if wakeUp.wait(timeout: timeout) == .timedOut {
            if !consumerParked.compareExchange(expected: true, desired: false, ordering: .sequentiallyConsistent)
                .exchanged
            {
                wakeUp.wait()
            }
        }
    }

    /// Wakes a parked consumer (for shutdown).
    func wakeConsumer() {
        if consumerParked.compareExchange(expected: true, desired: false, ordering: .sequentiallyConsistent).exchanged {
            wakeUp.signal()
        }
    }

    /// Registers `waiter` to be called (on the consumer's thread) once the consumer has made
    /// room. Producers that found the queue full call it, then try once more: room made
    /// between their failed push and the registration is not missed.
    func notifyWhenRoom(_ waiter: @escaping @Sendable () -> Void) {
        roomWaiters.add(waiter)
    }

    /// Calls the waiters registered so far (consumer only, after taking elements out).
    func wakeRoomWaiters() {
        roomWaiters.callAll()
    }
}

/// The producers waiting for room: touched only when the queue was full, so a lock is fine.
private final class RoomWaiters: @unchecked Sendable {
    private let lock = DispatchSemaphore(value: 1)
    private var waiters: [@Sendable () -> Void] = []
    private let waiting = ManagedAtomic<Bool>(false)

    func add(_ waiter: @escaping @Sendable () -> Void) {
        lock.wait()
        waiters.append(waiter)
        waiting.store(true, ordering: .sequentiallyConsistent)
        lock.signal()
    }

    func callAll() {
        guard waiting.load(ordering: .sequentiallyConsistent) else { return }
        lock.wait()
        let called = waiters
        waiters.removeAll()
        waiting.store(false, ordering: .sequentiallyConsistent)
        lock.signal()
        for waiter in called { waiter() }
    }
}
