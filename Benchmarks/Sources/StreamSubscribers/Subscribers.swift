import NIOCore
import NIOPosix

/// Every stream of a run, on one event loop: opens them (at most ``openingAtOnce`` at a time,
/// each until it is ready or has failed) and holds the totals. Every property is read and
/// written on ``eventLoop`` only, hence `@unchecked Sendable`.
final class Subscribers: @unchecked Sendable {
    /// Seconds per timeline slot.
    static let slice = 0.25
    /// Streams being opened (connected, asked, not yet `ready`) at once.
    static let openingAtOnce = 64
    /// A stream not ready this long after it began to open has failed.
    static let readyTimeout = TimeAmount.seconds(60)

    final class Totals {
        var bytes = 0
        var samples = 0
        var status = 0
        var keepAlives = 0
        var ready = 0
        var dropped = 0
        var errors: [String] = []
        /// Sample rows received per slot (unix time / ``slice``).
        var timeline: [Int: Int] = [:]
    }

    let eventLoop: any EventLoop
    let host: String
    let port: Int
    let ids: [Int]
    let totals = Totals()
    /// The streams whose connection was made, in that order.
    private(set) var streams: [StreamHandler] = []
    private var next = 0
    private var opening = 0
    private var done = 0
    private let allResolved: EventLoopPromise<Void>

    init(eventLoop: any EventLoop, host: String, port: Int, ids: [Int]) {
        self.eventLoop = eventLoop
        self.host = host
        self.port = port
        self.ids = ids
        allResolved = eventLoop.makePromise()
    }

    /// Opens every stream; the future succeeds once each is ready or has failed.
    func open() -> EventLoopFuture<Void> {
        eventLoop.execute {
            if self.ids.isEmpty { self.allResolved.succeed() }
            self.openMore()
        }
        return allResolved.futureResult
    }

    private func openMore() {
        while opening < Self.openingAtOnce && next < ids.count {
            let chargerID = ids[next]
            next += 1
            opening += 1
            openStream(chargerID)
        }
    }

    private func openStream(_ chargerID: Int) {
        let handler = StreamHandler(chargerID: chargerID, subscribers: self)
        let timeout = eventLoop.scheduleTask(in: Self.readyTimeout) {
            guard !handler.resolved else { return }
            self.record("charger \(chargerID): not ready within 60 s")
            handler.finish("not ready within 60 s")
        }
        ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: host, port: port)
            .whenComplete { result in
                switch result {
                case .success:
                    self.streams.append(handler)
                case .failure(let error):
                    timeout.cancel()
                    self.record("charger \(chargerID): connecting: \(error)")
                    handler.resolve()
                }
            }
    }

    /// A stream is ready or has failed.
    func resolved() {
        opening -= 1
        done += 1
        if done == ids.count { allResolved.succeed() }
        openMore()
    }

    func record(_ error: String) {
        totals.errors.append(error)
    }

    /// Why the streams that have ended did, with how many ended so.
    func endedStreams() -> [String: Int] {
        var ended: [String: Int] = [:]
        for stream in streams {
            if let why = stream.ended { ended[why, default: 0] += 1 }
        }
        return ended
    }

    func closeAll() {
        for stream in streams { stream.channel?.close(promise: nil) }
    }
}
