public import Foundation
import Synchronization

/// What a child process writes to a pipe, read with blocking reads on a thread of its own
/// until the end of the stream.
///
/// `FileHandle.readabilityHandler` is not used: on Linux it installs a libdispatch read
/// source, and tearing such sources down while other pipes come and go can leave a freed
/// epoll registration behind that crashes the dispatch manager thread
/// (swift-corelibs-libdispatch issue 949). A blocking read registers nothing.
public final class ChildOutput: Sendable {
    private struct State {
        var data = Data()
        var ended = false
    }

    private let state = Mutex(State())

    /// Starts reading `pipe` (before or after the process runs); the parent's write end
    /// is closed by `Process.run()`, so the stream ends when the child and its heirs do.
    public init(reading pipe: Pipe) {
        let thread = Thread { [self] in
            let descriptor = pipe.fileHandleForReading.fileDescriptor
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count > 0 {
                    let chunk = Data(buffer[0..<count])
                    state.withLock { $0.data.append(chunk) }
                } else if count < 0, errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            state.withLock { $0.ended = true }
            // Keeps the pipe (whose handle owns the descriptor) alive while it is read.
            withExtendedLifetime(pipe) {}
        }
        thread.name = "child-output"
        thread.start()
    }

    /// Everything read so far.
    public var data: Data { state.withLock { $0.data } }

    /// Everything read so far, as UTF-8 text.
    public var text: String { String(decoding: data, as: UTF8.self) }

    /// The complete lines read so far (an unfinished last line is left out).
    public var lines: [String] {
        let data = data
        guard let end = data.lastIndex(of: UInt8(ascii: "\n")) else { return [] }
        return String(decoding: data[..<end], as: UTF8.self)
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// Whether the stream has ended (every writer closed it).
    public var ended: Bool { state.withLock { $0.ended } }

    /// Waits until the stream ends; false when `timeout` passes first.
    @discardableResult
    public func waitForEnd(timeout: Duration = .seconds(30)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !ended {
            guard ContinuousClock.now < deadline else { return false }
            try await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    /// Waits until the output contains `line`, failing if `process` exits first or
    /// `timeout` passes.
    public func wait(for line: String, while process: Process, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while !text.contains(line) {
            guard process.isRunning else {
                // What it wrote just before it exited may still be in the pipe.
                try await waitForEnd(timeout: .seconds(5))
                if text.contains(line) { return }
                throw TestFailure("the process exited before '\(line)':\n\(text)")
            }
            guard ContinuousClock.now < deadline else { throw TestFailure("no '\(line)' within \(timeout):\n\(text)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
