import Dispatch
import Foundation
import NIOConcurrencyHelpers
import Testing

@_spi(Benchmarks) @testable import Ingest

@Suite("Ingest queue")
struct IngestQueueTests {
    @Test("Bounded: a full queue refuses, and takes again once the consumer made room")
    func bounded() {
        let queue = IngestQueue<Int>(capacity: 4)
        #expect(queue.capacity == 4)
        for value in 0..<4 { #expect(queue.push(value)) }
        #expect(!queue.push(99))
        #expect(queue.pop() == 0)
        #expect(queue.push(4))
        var drained: [Int] = []
        queue.drain(into: &drained, limit: 100)
        #expect(drained == [1, 2, 3, 4])
        #expect(queue.pop() == nil)
    }

    @Test("Many producers, one parked consumer: every element arrives exactly once, in each producer's order")
    func producersAndConsumer() async throws {
        let queue = IngestQueue<(producer: Int, sequence: Int)>(capacity: 64)
        let producers = 4
        let perProducer = 50_000
        let done = DispatchSemaphore(value: 0)
        let received = NIOLockedValueBox<[[Int]]>(Array(repeating: [], count: producers))
        let consumer = Thread {
            var seen = Array(repeating: [Int](), count: producers)
            var total = 0
            var batch: [(producer: Int, sequence: Int)] = []
            while total < producers * perProducer {
                queue.drain(into: &batch, limit: 1000)
                if batch.isEmpty {
                    queue.waitForElement(timeout: .now() + .seconds(1))
                    continue
                }
                queue.wakeRoomWaiters()
                for element in batch { seen[element.producer].append(element.sequence) }
                total += batch.count
                batch.removeAll(keepingCapacity: true)
            }
            received.withLockedValue { $0 = seen }
            done.signal()
        }
        consumer.start()
        await withTaskGroup(of: Void.self) { group in
            for producer in 0..<producers {
                group.addTask {
                    for sequence in 0..<perProducer {
                        while !queue.push((producer, sequence)) {
                            // Full: wait for the consumer to make room, as a channel would.
                            let room = DispatchSemaphore(value: 0)
                            queue.notifyWhenRoom { room.signal() }
                            if queue.push((producer, sequence)) { break }
                            _ = room.wait(timeout: .now() + .milliseconds(50))
                        }
                    }
                }
            }
        }
        #expect(done.wait(timeout: .now() + .seconds(60)) == .success)
        let seen = received.withLockedValue { $0 }
        for producer in 0..<producers {
            #expect(seen[producer] == Array(0..<perProducer), "producer \(producer)")
        }
    }
}

@Suite("Upgrade decision")
struct UpgradeDecisionTests {
    @Test("Subprotocol negotiation and path checks")
    func decisions() throws {
        let id = try ChargePointID("CP-1")
        #expect(
            UpgradeDecision(uri: "/ocpp/CP-1", offeredSubprotocols: ["ocpp2.0, ocpp1.6"], requireSubprotocol: false)
                == .accept(id, subprotocol: "ocpp1.6", offeredNone: false)
        )
        #expect(
            UpgradeDecision(uri: "/ocpp/CP-1?x=1", offeredSubprotocols: [], requireSubprotocol: false)
                == .accept(id, subprotocol: nil, offeredNone: true)
        )
        guard
            case .refuse(400, _) = UpgradeDecision(uri: "/ocpp/CP-1", offeredSubprotocols: [], requireSubprotocol: true)
        else { Issue.record("no subprotocol must be refused when required"); return }
        guard
            case .refuse(400, let reason) = UpgradeDecision(
                uri: "/ocpp/CP-1",
                offeredSubprotocols: ["ocpp2.0.1"],
                requireSubprotocol: false
            )
        else { Issue.record("ocpp2.0.1 alone must be refused"); return }
        #expect(reason.contains("ocpp2.0.1"))
        guard
            case .refuse(404, _) = UpgradeDecision(uri: "/ws/CP-1", offeredSubprotocols: [], requireSubprotocol: false)
        else { Issue.record("other paths are not the OCPP endpoint"); return }
        guard
            case .refuse(400, _) = UpgradeDecision(uri: "/ocpp/a/b", offeredSubprotocols: [], requireSubprotocol: false)
        else { Issue.record("nested paths are refused"); return }
    }
}
