public import Foundation
import Synchronization

/// An error a test raises with a message.
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A TCP port on 127.0.0.1 that was free a moment ago. It is taken below the kernel's
/// ephemeral range (32768 and up on Linux): a port the kernel picked there can be handed to
/// one of the many outgoing connections tests open (to PostgreSQL, to servers) between this
/// call and the server's bind. Ports are handed out in turn from a start that depends on the
/// process, so two calls in one run never return the same port.
public func freePort() throws -> Int {
    for _ in 0..<PortCursor.span {
        let port = PortCursor.next()
        if try portIsFree(port) { return port }
    }
    throw TestFailure("no free port in \(PortCursor.first)..<\(PortCursor.first + PortCursor.span)")
}

private enum PortCursor {
    static let first = 10_000
    static let span = 22_000
    private static let cursor = Mutex(Int(getpid()) &* 7919 % span)

    static func next() -> Int {
        cursor.withLock { value in
            value = (value + 1) % span
            return first + value
        }
    }
}

/// Whether a listening socket can be bound to `port` on 127.0.0.1 now (with SO_REUSEADDR,
/// as the server binds, so a port whose old connections linger in TIME_WAIT counts as free).
private func portIsFree(_ port: Int) throws -> Bool {
    let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard socketDescriptor >= 0 else { throw TestFailure("socket() failed") }
    defer { close(socketDescriptor) }
    var reuse: Int32 = 1
    setsockopt(socketDescriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    let length = socklen_t(MemoryLayout<sockaddr_in>.size)
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(socketDescriptor, $0, length) == 0 && listen(socketDescriptor, 1) == 0
        }
    }
}

/// Runs blocking `work` on a thread of its own and returns its result. Tests use it for
/// blocking socket and process calls: blocking one of the few threads that run Swift tasks
/// would stall the server under test, whose connections need them too.
public func onOwnThread<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}

/// The built `ocpp-server` executable (or `name` beside it): in `OCPP_BIN_DIR`, or the debug
/// build of the package.
public func builtExecutable(_ name: String = "ocpp-server") -> URL {
    if let path = ProcessInfo.processInfo.environment["OCPP_BIN_DIR"] {
        return URL(fileURLWithPath: path).appendingPathComponent(name)
    }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/debug/\(name)")
}
