import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The lock a process holds on a data directory for as long as it uses it
/// (`DATA_DIR/server.lock`, an exclusive `flock`): the server while it runs, `repair` and
/// `restore` while they change the directory. A second one is refused at once, naming the
/// process that holds it; the lock goes with the process, however it ends.
public final class DataDirectoryLock: Sendable {
    /// The lock file's name in the data directory.
    public static let fileName = "server.lock"

    public let directory: String
    private let descriptor: Mutex<Int32>

    /// Takes the lock without waiting; the directory must exist.
    /// - Throws: ``DataDirectoryInUse`` when another process (or another lock in this one)
    ///   holds it, ``TimeSeriesError`` when the lock file cannot be opened.
    public init(directory: String) throws {
        let path = directory + "/" + Self.fileName
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw TimeSeriesError.system("open", path) }
        guard StoreFileLock.lock(descriptor, LOCK_EX | LOCK_NB) else {
            let code = errno
            let holder = (try? FileIO.readAll(path)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            Glibc.close(descriptor)
            guard code == EWOULDBLOCK else { throw TimeSeriesError.system("flock", path, errno: code) }
            throw DataDirectoryInUse(directory: directory, holder: Int(holder.filter(\.isNumber)))
        }
        // Who holds it, for the message of the next one refused.
        let pid = Array(String(getpid()).utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        self.directory = directory
        self.descriptor = Mutex(descriptor)
    }

    /// Lets the lock go (also when the object goes). Releasing again does nothing.
    public func release() {
        descriptor.withLock { descriptor in
            guard descriptor >= 0 else { return }
            Glibc.close(descriptor)
            descriptor = -1
        }
    }

    deinit { release() }
}

/// Another process holds a data directory's ``DataDirectoryLock``.
public struct DataDirectoryInUse: Error, Sendable, CustomStringConvertible {
    public let directory: String
    /// The process id it wrote into the lock file, if any.
    public let holder: Int?

    public var description: String {
        "'\(directory)' is in use by another process\(holder.map { " (pid \($0))" } ?? "") that holds "
            + "\(directory)/\(DataDirectoryLock.fileName): stop the server using this DATA_DIR first"
    }
}

/// `DATA_DIR/publish.lock`: held shared by every step that adds, replaces or removes a file
/// of the store (a flush, from the series dictionary to the removal of its log files; a
/// compaction's replacement of segments; retention's removal of a day), and exclusively by a
/// backup while it takes its snapshot of the file names. The writer never takes it: appends
/// do not wait for a backup. Held only on threads that may block (the flusher's, maintenance's,
/// a backup's), never on an event loop.
enum StoreFileLock {
    static let fileName = "publish.lock"

    /// The lock, held until ``release()``.
    struct Held {
        let descriptor: Int32

        func release() { Glibc.close(descriptor) }
    }

    /// Takes the directory's publish lock, shared or exclusive, waiting for it.
    static func acquire(directory: String, exclusive: Bool) throws -> Held {
        let path = directory + "/" + fileName
        // A descriptor of its own each time: two holders in one process are two flock holders.
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw TimeSeriesError.system("open", path) }
        guard lock(descriptor, exclusive ? LOCK_EX : LOCK_SH) else {
            let failure = TimeSeriesError.system("flock", path)
            Glibc.close(descriptor)
            throw failure
        }
        return Held(descriptor: descriptor)
    }

    /// Runs `body` holding the directory's publish lock, shared or exclusive, waiting for it.
    static func withLock<Result>(
        directory: String,
        exclusive: Bool,
        _ body: () throws -> Result
    ) throws -> Result {
        let held = try acquire(directory: directory, exclusive: exclusive)
        defer { held.release() }
        return try body()
    }

    /// `flock`, tried again when a signal interrupts it.
    static func lock(_ descriptor: Int32, _ operation: Int32) -> Bool {
        while flock(descriptor, operation) != 0 {
            guard errno == EINTR else { return false }
        }
        return true
    }
}
