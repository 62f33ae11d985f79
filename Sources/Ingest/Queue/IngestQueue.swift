public import Dispatch
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// A bounded, lock-free, multi-producer single-consumer queue between the event loops and
/// one writer thread.
///
/// Producers claim a slot with one compare-and-swap on the tail (Dmitry Vyukov's bounded
/// queue: each slot carries a sequence number saying whose turn it is), so no producer ever
/// waits for a lock. A full queue refuses the element instead of growing: the producer
/// turns its channel's reading off and registers for ``notifyWhenRoom(_:)``.
///
/// The consumer parks on a condition lock (a timed wait) until the queue holds a given number
/// of elements; the producer of the element that reaches that number wakes it (one atomic
/// load per push otherwise).
@_spi(Benchmarks) public final class IngestQueue<Element>: @unchecked Sendable {
    /// The number of slots.
    @_spi(Benchmarks) public let capacity: Int
    private let mask: Int
    private let sequences: UnsafeMutablePointer<Synchronization.Atomic<Int>>
    private let slots: UnsafeMutablePointer<Element?>
    private let tail = Synchronization.Atomic<Int>(0)
    /// Only the consumer touches the head.
    private var head = 0
    /// The position whose push wakes the parked consumer; `Int.max` while it is not parked.
    private let wakePosition = Synchronization.Atomic<Int>(.max)
    /// `true` once the consumer has been woken and has not taken the wake-up yet.
    private let wakeUp = ConditionLock<Bool>(value: false)
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
            (sequences + index).initialize(to: Synchronization.Atomic<Int>(index))
            (slots + index).initialize(to: nil)
        }
    }

    deinit {
        sequences.deinitialize(count: capacity)
        sequences.deallocate()
        slots.deinitialize(count: capacity)
        slots.deallocate()
    }

    /// Adds an element unless the queue is full.
    /// - Returns: `false` when the queue is full (the element is not taken).
    @_spi(Benchmarks) public func push(_ element: Element) -> Bool {
        var position = tail.load(ordering: .relaxed)
        while true {
            let index = position & mask
            let difference = sequences[index].load(ordering: .acquiring) - position
            if difference == 0 {
                let (exchanged, original) = tail.weakCompareExchange(
                    expected: position,
                    desired: position + 1,
                    ordering: .relaxed
                )
                if exchanged {
                    slots[index] = element
                    sequences[index].store(position + 1, ordering: .releasing)
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
        let wakeAt = wakePosition.load(ordering: .relaxed)
        if position >= wakeAt,
            wakePosition.compareExchange(expected: wakeAt, desired: .max, ordering: .sequentiallyConsistent).exchanged
        {
            signal()
        }
        return true
    }

    /// Takes the oldest element, if any (consumer only).
    @_spi(Benchmarks) public func pop() -> Element? {
        let index = head & mask
        guard sequences[index].load(ordering: .acquiring) == head + 1 else { return nil }
        let element = slots[index].take()
        sequences[index].store(head + capacity, ordering: .releasing)
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

    /// Whether the element at `position` has been pushed (consumer only, `position >= head`).
    private func isPushed(_ position: Int) -> Bool {
        sequences[position & mask].load(ordering: .acquiring) == position + 1
    }

    /// Whether a push might find a free slot now (another producer may take it first).
    var hasRoom: Bool {
        let position = tail.load(ordering: .relaxed)
        return sequences[position & mask].load(ordering: .acquiring) >= position
    }

    /// Whether an element is ready for the consumer (consumer only).
    var hasElement: Bool { isPushed(head) }

    /// The number of elements queued, approximately (for metrics).
    var approximateCount: Int {
        max(0, tail.load(ordering: .relaxed) - head)
    }

    /// Parks the consumer until a producer pushes, ``wakeConsumer()`` is called, or `timeout`
    /// passes (consumer only).
    @_spi(Benchmarks) public func waitForElement(timeout: DispatchTime) {
        let now = DispatchTime.now().uptimeNanoseconds
        let nanoseconds = timeout.uptimeNanoseconds > now ? timeout.uptimeNanoseconds - now : 0
        park(untilCount: 1, timeout: .nanoseconds(Int64(min(nanoseconds, UInt64(Int64.max)))))
    }

    /// Parks the consumer until `count` elements are queued, ``wakeConsumer()`` is called, or
    /// `timeout` passes (without one: until either of the others). A wake-up may come early;
    /// the consumer checks what it waits for again (consumer only).
    func park(untilCount count: Int, timeout: TimeAmount?) {
        let position = head + min(max(count, 1), capacity) - 1
        wakePosition.store(position, ordering: .sequentiallyConsistent)
        // A store-load pair with the producers' (see `push`).
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        if !isPushed(position) {
            // Waits without taking the wake-up: whose it was is settled below.
            if let timeout {
                if timeout.nanoseconds > 0,
                    wakeUp.lock(whenValue: true, timeoutSeconds: Double(timeout.nanoseconds) / 1e9)
                {
                    wakeUp.unlock()
                }
            } else {
                wakeUp.lock(whenValue: true)
                wakeUp.unlock()
            }
        }
        if wakePosition.exchange(.max, ordering: .sequentiallyConsistent) == .max {
            // A producer claimed the wake-up and signals (now, or in a moment): take it, so
            // that the next park does not return at once.
            wakeUp.lock(whenValue: true)
        } else {
            // Only a `wakeConsumer()` can have signalled: its caller changed what the consumer
            // checks before it signalled, so the consumer sees that change on its return.
            wakeUp.lock()
        }
        wakeUp.unlock(withValue: false)
    }

    /// Wakes the consumer, or makes its next park return at once (for shutdown and clocks).
    func wakeConsumer() {
        signal()
    }

    private func signal() {
        wakeUp.lock()
        wakeUp.unlock(withValue: true)
    }

    /// Registers `waiter` to be called (on the consumer's thread) once the consumer has made
    /// room. Producers that found the queue full call it, then try once more: room made
    /// between their failed push and the registration is not missed.
    func notifyWhenRoom(_ waiter: @escaping @Sendable () -> Void) {
        roomWaiters.add(waiter)
    }

    /// Calls the waiters registered so far: the consumer after taking elements out, or a
    /// producer that registered and then found room (a waiter tries again, and registers
    /// again if the queue is full once more).
    func wakeRoomWaiters() {
        roomWaiters.callAll()
    }
}

/// The producers waiting for room: touched only when the queue was full, so a lock is fine.
private final class RoomWaiters: Sendable {
    private let waiters = Mutex<[@Sendable () -> Void]>([])
    private let waiting = Synchronization.Atomic<Bool>(false)

    func add(_ waiter: @escaping @Sendable () -> Void) {
        waiters.withLock { waiters in
            waiters.append(waiter)
            waiting.store(true, ordering: .sequentiallyConsistent)
        }
        // A store-load pair with the consumer's (the producer pushes again next).
        atomicMemoryFence(ordering: .sequentiallyConsistent)
    }

    func callAll() {
        // The consumer has just taken elements out: a producer that registers after this
        // load sees that room when it pushes again.
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        guard waiting.load(ordering: .sequentiallyConsistent) else { return }
        let called = waiters.withLock { waiters in
            defer { waiters.removeAll() }
            waiting.store(false, ordering: .sequentiallyConsistent)
            return waiters
        }
        for waiter in called { waiter() }
    }
}
